from __future__ import annotations

from datetime import timedelta

import pytest

from dagflow.exceptions import InvalidDuration
from dagflow.sdk.durations import to_seconds, to_timedelta


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (timedelta(minutes=3), timedelta(minutes=3)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        ("PT5M", timedelta(minutes=5)),
        ("PT0S", timedelta(0)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1H30M15S", timedelta(hours=1, minutes=30, seconds=15)),
        ("P2W", timedelta(weeks=2)),
        ("PT0.5S", timedelta(seconds=0.5)),
        ("pt10s", timedelta(seconds=10)),
    ],
)
def test_to_timedelta_accepts(value: object, expected: timedelta | None) -> None:
    assert to_timedelta(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["5 minutes", "P", "PT", "P1Y", "P1M", "", "PT5X", True, [1]])
def test_to_timedelta_rejects_naming_the_value(value: object) -> None:
    with pytest.raises(InvalidDuration) as err:
        to_timedelta(value)  # type: ignore[arg-type]
    assert repr(value) in str(err.value)


def test_to_seconds() -> None:
    assert to_seconds("PT2M") == 120.0
    assert to_seconds(0.2) == 0.2
    with pytest.raises(InvalidDuration):
        to_seconds(None)  # type: ignore[arg-type]
