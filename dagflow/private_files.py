"""Files and folders only their owner can read: ``0700`` folders, ``0600`` files.

Everything dagflow creates under ``$DAGFLOW_HOME`` (the SQLite database, the fernet
key, task logs, internal storage) holds secrets or what tasks printed, so it is created
private. The mode is given at creation (``os.mkdir``/``os.open`` with a mode), never
set by a later ``chmod``: there is no moment when the file is readable by others, and
no process umask can make it more open (a umask only takes bits away). The umask of
the process is left alone, so files a task writes for itself keep the user's umask.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700 (existing folders are left as they are)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
        except FileExistsError:
            if not folder.is_dir():
                raise


def create_private_file(path: Path) -> bool:
    """Create an empty ``path`` with mode 0600 if it does not exist; True if this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def publish_private_file(path: Path, text: str) -> bool:
    """Create ``path`` (0600) holding ``text`` unless it exists; True if this call created it.

    The text goes to a private temporary file first, linked into place: the file never
    exists empty or half written, and of two processes racing, one wins and both then
    read the same content.
    """
    path = Path(path)
    make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.new")  # unique per writer
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with open(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def open_private_append(path: Path) -> int:
    """A file descriptor appending to ``path`` (created 0600, its folders 0700, if missing)."""
    make_private_dirs(Path(path).parent)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)


def append_private_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` (created private if missing)."""
    fd = open_private_append(path)
    with open(fd, "a", errors="backslashreplace") as fh:
        fh.write(text)


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``: a new 0600 file renamed over the old one."""
    path = Path(path)
    make_private_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        with open(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
