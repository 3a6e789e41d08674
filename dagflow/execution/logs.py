"""One log file per try, and reading it back.

Layout: ``{base_log_folder}/dag_id={d}/run_id={r}/task_id={t}[/map_index={m}]/attempt={n}.log``.
In a forked task process, file descriptors 1 and 2 point at a pipe whose reader masks
secrets and writes the file (``log_masking``), so ``print`` and subprocess output land
there too; Python logging writes there at the task's level. Log files are created 0600.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagflow.exceptions import InvalidIdentifier
from dagflow.private_files import append_private_text

log = logging.getLogger(__name__)
LOG_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
_TASK_HANDLER_NAME = "dagflow.task"
#: The history reason of a try the scheduler ended without running it, and its log views' one line.
NOT_RUN_BY_SCHEDULER = "no log: this EmptyOperator was marked success by the scheduler without running"


def log_path(
    base_log_folder: Path | str,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    try_number: int,
) -> Path:
    """Where the log of one try lives; ``InvalidIdentifier`` if the ids would leave the folder.

    Ids are checked by ``dagflow.sdk.ids`` where they enter; this is the last guard, for
    rows written before that rule: a component holding ``/`` or a NUL is refused (each is
    prefixed ``kind=``, so ``..`` cannot climb), and one longer than a file name may be is shortened with a digest.
    """
    base = Path(base_log_folder)
    parts = [_component("dag_id", dag_id), _component("run_id", run_id), _component("task_id", task_id)]
    if map_index >= 0:
        parts.append(f"map_index={int(map_index)}")
    parts.append(f"attempt={int(try_number)}.log")
    return base.joinpath(*parts)


#: Bytes a file name may have on common file systems (ext4, xfs, tmpfs, APFS).
_MAX_NAME_BYTES = 255


def _component(kind: str, value: str) -> str:
    """``kind=value`` as one safe path component."""
    if not isinstance(value, str) or not value or "/" in value or "\x00" in value:
        raise InvalidIdentifier(f"invalid {kind} {str(value)[:60]!r} for a log path")
    name = f"{kind}={value}"
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    keep = value.encode()[: _MAX_NAME_BYTES - len(kind) - 2 - len(digest)].decode(errors="ignore")
    return f"{kind}={keep}~{digest}"


def _folder(where: Any) -> Path:
    """``settings.logging.base_log_folder`` when given Settings, else the path itself."""
    logging_settings = getattr(where, "logging", None)
    return Path(logging_settings.base_log_folder if logging_settings is not None else where)


def read_log(
    base_log_folder: Any,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    try_number: int | None = None,
    offset: int = 0,
    max_bytes: int | None = None,
    hostname: str | None = None,
) -> str:
    """The text of one try's log (the latest try if ``try_number`` is None); '' if none.

    ``base_log_folder`` may also be the ``Settings`` (its ``logging.base_log_folder`` is used).
    ``offset``/``max_bytes`` read a byte range (to follow a running try's log).
    ``hostname`` is the host that ran the try, given when the executor keeps logs on its
    workers (``BaseExecutor.logs_on_workers``): with Settings, a log that is not on this
    machine is fetched from that worker's log server (``execution.log_server``), or
    replaced by one line saying why not.
    """
    settings = base_log_folder if hasattr(base_log_folder, "logging") else None
    base_log_folder = _folder(base_log_folder)
    if try_number is None:
        tries = list_tries(base_log_folder, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
        if not tries:
            return ""
        try_number = tries[-1]
    path = log_path(
        base_log_folder,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=try_number,
    )
    if not path.exists():
        return _read_remote(settings, hostname, path.relative_to(base_log_folder), offset, max_bytes)
    with path.open("rb") as fh:
        fh.seek(max(offset, 0))
        data = fh.read() if max_bytes is None else fh.read(max(max_bytes, 0))
    return data.decode(errors="replace")


def _read_remote(settings: Any, hostname: str | None, relative: Path, offset: int, max_bytes: int | None) -> str:
    """The log from the worker that wrote it; '' when there is no such worker to ask."""
    if settings is None or not hostname:
        return ""
    port = settings.celery.worker_log_server_port
    if not port:
        return ""
    from dagflow.execution.log_server import RemoteLogError, fetch_remote_log
    from dagflow.keys import secret_key

    try:
        return fetch_remote_log(
            hostname, port, secret_key(settings), relative.as_posix(), offset=offset, max_bytes=max_bytes
        )
    except RemoteLogError as exc:
        if offset > 0:
            return ""  # a follower already has the message
        return f"*** {relative.name} is not on this machine; fetching it from {hostname}:{port} failed: {exc}\n"


def list_tries(base_log_folder: Any, *, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[int]:
    """The try numbers that have a log file, ascending (``Settings`` accepted as for ``read_log``)."""
    base_log_folder = _folder(base_log_folder)
    folder = log_path(
        base_log_folder,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=0,
    ).parent
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.glob("attempt=*.log"):
        number = entry.stem.partition("=")[2]
        if number.isdigit():
            found.append(int(number))
    return sorted(found)


def resolve_level(level: str | int | None, default: str | int = "INFO") -> int:
    """A logging level number from a name (``"debug"``), a number, or the default."""
    value = default if level in (None, "") else level
    if isinstance(value, int):
        return value
    number = logging.getLevelName(str(value).upper())
    return number if isinstance(number, int) else logging.INFO


def configure_child_logging(level: int) -> None:
    """Replace every root handler with one writing to fd 2 at ``level``; for a forked child."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    root.setLevel(level)


@contextmanager
def capture_in_process(path: Path, level: int, masker: Any = None) -> Iterator[None]:
    """Send logging, ``sys.stdout`` and ``sys.stderr`` to ``path`` for a try run in-process,
    through ``masker`` (a ``SecretsMasker``) when given."""
    from dagflow.execution.log_masking import MaskingWriter
    from dagflow.private_files import open_private_append

    root = logging.getLogger()
    old_level, old_out, old_err = root.level, sys.stdout, sys.stderr
    with open(open_private_append(path), "a", buffering=1, errors="backslashreplace") as fh:
        out: Any = fh if masker is None else MaskingWriter(fh, masker)
        handler = logging.StreamHandler(out)
        handler.set_name(_TASK_HANDLER_NAME)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(level)
        root.addHandler(handler)
        root.setLevel(min(level, old_level) if old_level else level)
        sys.stdout = sys.stderr = out
        try:
            yield
        finally:
            out.flush()
            sys.stdout, sys.stderr = old_out, old_err
            root.removeHandler(handler)
            root.setLevel(old_level)


def write_log_line(path: Path, text: str) -> None:
    """Append to the try's log (0600); a log that cannot be written is reported here, never raised."""
    try:
        append_private_text(path, text)
    except OSError as exc:
        log.warning("cannot write the try's log %s: %s", path, exc.strerror or exc)
