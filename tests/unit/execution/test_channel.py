"""The result channel between a task process and its supervisor (one process, both ends)."""

from __future__ import annotations

import threading

import pendulum

from dagflow.execution.channel import ResultChannel
from dagflow.execution.outcome import TryResult
from dagflow.execution.record import TryOutputs
from dagflow.state import TaskInstanceState as TI


def test_result_and_answer_round_trip() -> None:
    channel = ResultChannel()
    when = pendulum.datetime(2024, 1, 1, 12, tz="UTC")
    big = {"rows": list(range(50_000))}  # larger than a socket buffer
    outputs = TryOutputs(xcoms=[("return_value", big), ("k", None)], map_length=1, map_keys=["rows"])
    channel.send_result(TryResult(TI.UP_FOR_RETRY, "ValueError: x", when), None)
    received = channel.receive()
    assert received == (TryResult(TI.UP_FOR_RETRY, "ValueError: x", when), None, True)
    channel.answer(True)
    assert channel.wait_answer() is True
    sender = threading.Thread(target=channel.send_result, args=(TryResult(TI.SUCCESS), outputs))
    sender.start()
    assert channel.receive() == (TryResult(TI.SUCCESS), outputs, True)
    sender.join()
    channel.send_result(TryResult(TI.SUCCESS), None, wait=False)  # no callbacks: exits without an answer
    assert channel.receive() == (TryResult(TI.SUCCESS), None, False)
    channel.close()


def test_end_of_file_is_none() -> None:
    channel = ResultChannel()
    channel.use_as_supervisor()
    assert channel.receive() is None  # the task end is closed
    channel.close()
    other = ResultChannel()
    other.use_as_task()
    assert other.wait_answer() is None
    other.close()


def test_an_outcome_handed_over_by_a_process_that_already_exited_is_still_read() -> None:
    """The task process sends its rendered fields, then its outcome without waiting, and exits;
    the supervisor may see the exit before reading either."""
    from dagflow.execution.supervised_try import Sent, take_unread

    channel = ResultChannel()
    channel.send_rendered({"cmd": "echo ***"})
    channel.send_result(TryResult(TI.SUCCESS), None, wait=False)
    channel.use_as_supervisor()  # the task end is gone, as after the process exited
    sent = Sent()
    take_unread(channel, sent)
    assert sent.handed == (TryResult(TI.SUCCESS), None, False)
    assert sent.unwritten_rendered() == {"cmd": "echo ***"}
    take_unread(channel, sent)  # nothing more to read: end of file
    assert sent.handed == (TryResult(TI.SUCCESS), None, False)
    channel.close()
