"""Airflow's timetables, mapped onto dagflow's."""

from __future__ import annotations
