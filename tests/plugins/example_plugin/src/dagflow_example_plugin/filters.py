"""A template filter plugin: ``{{ "hi" | shout }}`` renders ``HI!``."""

from __future__ import annotations


def shout(value: object) -> str:
    return f"{str(value).upper()}!"
