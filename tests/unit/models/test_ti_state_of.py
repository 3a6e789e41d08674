"""Stored task-instance states are read back by a dict lookup (the scheduler converts every row it reads)."""

from __future__ import annotations

import pytest

from dagflow.models.base import TIStateType, ti_state_of
from dagflow.state import TaskInstanceState


def test_every_stored_value_reads_back_as_its_state_and_null_as_none() -> None:
    column = TIStateType()
    for state in TaskInstanceState:
        stored = column.process_bind_param(state, None)  # type: ignore[arg-type]
        assert ti_state_of(stored) is state
        assert column.process_result_value(stored, None) is state  # type: ignore[arg-type]
    assert ti_state_of(None) is TaskInstanceState.NONE


def test_an_unknown_stored_value_raises() -> None:
    with pytest.raises(ValueError):
        ti_state_of("sleeping")
