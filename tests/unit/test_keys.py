"""The secret key: configured, or generated once per home (0600) and the same for every process."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from dagflow.config import load_settings
from dagflow.exceptions import ConfigError
from dagflow.keys import SECRET_KEY_FILE, secret_key


def test_a_home_without_a_configured_key_gets_one_generated_once(tmp_path: Path) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path)})
    keys: list[str] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            keys.append(secret_key(settings))
        except BaseException as exc:  # every thread must get the key
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) >= 32
    path = tmp_path / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(load_settings({"DAGFLOW_HOME": str(tmp_path)})) == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]  # no temporary file left


def test_a_configured_key_wins_and_placeholders_are_refused(tmp_path: Path) -> None:
    env = {"DAGFLOW_HOME": str(tmp_path)}
    assert secret_key(load_settings({**env, "DAGFLOW__WEBSERVER__SECRET_KEY": "k" * 20})) == "k" * 20
    assert not (tmp_path / SECRET_KEY_FILE).exists()
    for bad in ("change-me-to-a-long-random-string", "short"):
        with pytest.raises(ConfigError, match="placeholder or shorter") as err:
            secret_key(load_settings({**env, "DAGFLOW__WEBSERVER__SECRET_KEY": bad}))
        assert "\n" not in str(err.value)


def test_an_empty_key_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        secret_key(load_settings({"DAGFLOW_HOME": str(tmp_path)}))
