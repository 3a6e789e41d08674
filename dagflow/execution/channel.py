"""The result channel: a task process hands its outcome to its supervisor to record.

The supervisor holds a warm connection pool, so it records the try (one transaction)
while the freshly forked task process needs no database connection unless the task
itself reads XComs, variables or the state store. Right after rendering, the task process
sends its rendered template fields (masked), which the supervisor writes with the outcome
(or with a heartbeat, if the try runs that long). After the outcome, a task process with
callbacks waits for the answer and runs them only once the outcome is committed. Messages are
length-prefixed JSON over a ``socketpair``. A reused task process (``reused_process.py``)
keeps its channel: it says ``idle`` when a try is over, and the supervisor sends it the
next try (pickled) with that try's log pipe as file descriptors (``SCM_RIGHTS``).
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from dagflow.execution.outcome import TryResult
from dagflow.execution.record import TryOutputs
from dagflow.models.base import as_utc
from dagflow.state import TaskInstanceState

_HEADER = struct.Struct("!I")


class Received(NamedTuple):
    """An outcome as the supervisor receives it; ``wait``: the task process waits for the answer."""

    result: TryResult
    outputs: TryOutputs | None
    wait: bool = True


class Rendered(NamedTuple):
    """The try's rendered template fields, masked, sent as soon as they are rendered."""

    fields: dict[str, Any]


class Idle(NamedTuple):
    """A reused task process finished its try (callbacks included) and waits for the next."""


class ResultChannel:
    """Both ends of one try's channel; each process closes the end it does not use."""

    def __init__(self) -> None:
        self._supervisor_end, self._task_end = socket.socketpair()

    # set-up after fork ---------------------------------------------------------------
    def use_as_task(self) -> None:
        """In the task process: keep only the task end."""
        self._supervisor_end.close()

    def use_as_supervisor(self) -> None:
        """In the supervisor: keep only the supervisor end."""
        self._task_end.close()

    def fileno(self) -> int:
        """The supervisor end's descriptor (readable when a result or EOF arrives)."""
        return self._supervisor_end.fileno()

    def close(self) -> None:
        """Close both ends (closing twice is harmless)."""
        self._supervisor_end.close()
        self._task_end.close()

    # task process --------------------------------------------------------------------
    def send_result(self, result: TryResult, outputs: TryOutputs | None, *, wait: bool = True) -> None:
        """Send the outcome of the try to the supervisor.

        ``wait=False``: the task process will not wait for the answer (it has no callbacks
        to run) and exits; the supervisor records the outcome once it is gone.
        """
        _send(self._task_end, {"result": _result_to_json(result), "outputs": _outputs_to_json(outputs), "wait": wait})

    def send_rendered(self, fields: Mapping[str, Any]) -> None:
        """Send the try's rendered template fields (JSON-safe, masked) to the supervisor."""
        _send(self._task_end, {"rendered": dict(fields)})

    def wait_answer(self) -> bool | None:
        """True if the supervisor committed the outcome, False if the try was taken away,
        None if the supervisor gave no answer (it died or could not record)."""
        message = _receive(self._task_end)
        return None if message is None else bool(message.get("committed"))

    def send_idle(self) -> None:
        """A reused task process: this try is over, send the next one."""
        _send(self._task_end, {"idle": True})

    def receive_try(self) -> tuple[bytes, list[int]] | None:
        """A reused task process: the next try (as sent by ``send_try``) and its descriptors;
        None at end of file (the supervisor retired this process or is gone)."""
        try:
            header, fds, _flags, _address = socket.recv_fds(self._task_end, _HEADER.size, 4)
        except OSError:
            return None
        if len(header) < _HEADER.size:
            rest = _read_exactly(self._task_end, _HEADER.size - len(header)) if header else None
            if rest is None:
                for fd in fds:
                    os.close(fd)
                return None
            header += rest
        body = _read_exactly(self._task_end, _HEADER.unpack(header)[0])
        return None if body is None else (body, fds)

    # supervisor ----------------------------------------------------------------------
    def send_try(self, data: bytes, fds: list[int]) -> None:
        """Hand a reused task process its next try, with descriptors (its log pipe)."""
        message = _HEADER.pack(len(data)) + data
        sent = socket.send_fds(self._supervisor_end, [message], fds)
        if sent < len(message):
            self._supervisor_end.sendall(message[sent:])

    def receive(self) -> Received | Rendered | Idle | None:
        """The outcome sent by the task process, its rendered fields, ``Idle`` from a reused
        one whose try is over, or None at end of file."""
        message = _receive(self._supervisor_end)
        if message is None:
            return None
        if "idle" in message:
            return Idle()
        if "rendered" in message:
            return Rendered(message["rendered"])
        return Received(
            _result_from_json(message["result"]),
            _outputs_from_json(message["outputs"]),
            bool(message.get("wait", True)),
        )

    def refuse(self) -> None:
        """Give no answer: the task process's ``wait_answer`` sees end of file (None)."""
        try:
            self._supervisor_end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the task process is gone already

    def answer(self, committed: bool) -> None:
        """Tell the task process whether its outcome was committed."""
        try:
            _send(self._supervisor_end, {"committed": committed})
        except OSError:
            pass  # the task process is gone; nothing waits for the answer


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def _receive(sock: socket.socket) -> dict[str, Any] | None:
    header = _read_exactly(sock, _HEADER.size)
    if header is None:
        return None
    body = _read_exactly(sock, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size > 0:
        try:
            chunk = sock.recv(min(size, 1 << 20))
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _result_to_json(result: TryResult) -> dict[str, Any]:
    when = result.next_try_at.isoformat() if result.next_try_at else None
    return {"state": result.state.value, "reason": result.reason, "next_try_at": when, "deferral": result.deferral}


def _result_from_json(data: dict[str, Any]) -> TryResult:
    when = as_utc(datetime.fromisoformat(data["next_try_at"])) if data["next_try_at"] else None
    return TryResult(TaskInstanceState(data["state"]), data["reason"], when, deferral=data.get("deferral"))


def _outputs_to_json(outputs: TryOutputs | None) -> dict[str, Any] | None:
    if outputs is None:
        return None
    return {
        "xcoms": [list(item) for item in outputs.xcoms],
        "map_length": outputs.map_length,
        "map_keys": outputs.map_keys,
        "asset_events": [list(item) for item in outputs.asset_events],
    }


def _outputs_from_json(data: dict[str, Any] | None) -> TryOutputs | None:
    if data is None:
        return None
    return TryOutputs(
        xcoms=[(key, value) for key, value in data["xcoms"]],
        map_length=data["map_length"],
        map_keys=data["map_keys"],
        asset_events=tuple((uri, extra) for uri, extra in data.get("asset_events") or ()),
    )
