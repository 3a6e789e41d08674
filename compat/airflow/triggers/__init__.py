"""Airflow's trigger modules (deferral), mapped onto ``dagflow.triggers`` once dagflow has them."""

from __future__ import annotations
