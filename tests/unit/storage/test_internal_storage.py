"""Internal storage on the local filesystem: URIs, round trips, safety, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagflow.exceptions import StorageError
from dagflow.storage.backends import FsspecBackend, LocalBackend, backend_for_url
from dagflow.storage.internal import InternalStorage
from dagflow.storage.uri import StorageKey, clean_name, is_storage_uri, parse_uri


@pytest.fixture
def storage(tmp_path: Path) -> InternalStorage:
    return InternalStorage((tmp_path / "store").as_uri(), dag_id="etl", run_id="manual__2024-03-05T00:00:00+00:00")


def test_put_and_get_bytes_round_trip(storage: InternalStorage, tmp_path: Path) -> None:
    uri = storage.put_bytes("report.csv", b"id,value\n1,42\n")
    assert uri == "dagflow://etl/manual__2024-03-05T00:00:00+00:00/report.csv"
    assert storage.get_bytes(uri) == b"id,value\n1,42\n"
    with storage.open(uri) as fh:
        assert fh.read() == b"id,value\n1,42\n"
    with storage.open(uri, "r") as fh:
        assert fh.read().startswith("id,value")
    assert (tmp_path / "store" / "etl").is_dir()


def test_put_file_and_nested_names(storage: InternalStorage, tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"\x00\x01")
    uri = storage.put_file(source)
    assert uri.endswith("/data.bin") and storage.get_bytes(uri) == b"\x00\x01"
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x01" * (3 << 20))
    assert storage.get_bytes(storage.put_file(big, "copy/big.bin")) == big.read_bytes()
    with pytest.raises(StorageError, match="cannot read"):
        storage.put_file(tmp_path / "missing.bin")
    nested = storage.put_bytes("a/b/c.txt", b"x")
    assert storage.get_text(nested) == "x"


def test_another_run_reads_by_uri(storage: InternalStorage) -> None:
    uri = storage.put_text("note.txt", "hi")
    later = storage.for_run("other_dag", "run2")
    assert later.get_bytes(uri) == b"hi"


def test_overwrite_is_atomic_and_leaves_no_tmp_files(storage: InternalStorage, tmp_path: Path) -> None:
    storage.put_bytes("x.txt", b"one")
    uri = storage.put_bytes("x.txt", b"two")
    assert storage.get_bytes(uri) == b"two"
    leftovers = [p for p in (tmp_path / "store").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_delete(storage: InternalStorage) -> None:
    uri = storage.put_bytes("gone.txt", b"x")
    assert storage.delete(uri) is True
    assert storage.delete(uri) is False
    with pytest.raises(StorageError, match="no stored object"):
        storage.get_bytes(uri)


@pytest.mark.parametrize("name", ["", "../x", "a/../../x", "/etc/passwd", "a//b", ".", "a\\b", "a\x00b"])
def test_unsafe_names_are_refused(storage: InternalStorage, name: str) -> None:
    with pytest.raises(StorageError):
        storage.put_bytes(name, b"x")


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "dagflow://only/two", "dagflow://a/b/../../../x", 42])
def test_bad_uris_are_refused(storage: InternalStorage, uri: object) -> None:
    with pytest.raises(StorageError):
        storage.get_bytes(uri)  # type: ignore[arg-type]


def test_dot_ids_cannot_escape(tmp_path: Path) -> None:
    sneaky = InternalStorage(tmp_path.as_uri(), dag_id="..", run_id="..")
    uri = sneaky.put_bytes("x.txt", b"x")
    assert sneaky.get_bytes(uri) == b"x"
    assert all(tmp_path in p.parents for p in tmp_path.rglob("x.txt"))


def test_uri_helpers() -> None:
    key = StorageKey("d", "run/with slash", "f.txt")
    assert parse_uri(key.uri) == key
    assert is_storage_uri(key.uri) and not is_storage_uri("s3://x")
    assert clean_name("a/b.txt") == "a/b.txt"


def test_put_bytes_needs_bytes(storage: InternalStorage) -> None:
    with pytest.raises(StorageError, match="needs bytes"):
        storage.put_bytes("x", "text")  # type: ignore[arg-type]


def test_open_refuses_write_modes(storage: InternalStorage) -> None:
    uri = storage.put_bytes("x", b"x")
    with pytest.raises(StorageError, match="reading only"):
        storage.open(uri, "wb")


def test_backend_for_url(tmp_path: Path) -> None:
    assert isinstance(backend_for_url(tmp_path.as_uri()), LocalBackend)
    assert isinstance(backend_for_url(str(tmp_path)), LocalBackend)
    try:
        import fsspec  # noqa: F401
    except ImportError:
        with pytest.raises(StorageError, match="fsspec"):
            backend_for_url("s3://bucket/prefix")
    else:
        assert isinstance(backend_for_url("memory://dagflow"), FsspecBackend)
