"""``conf`` in task contexts: read-only settings that never reveal their secrets."""

from __future__ import annotations

import pytest

from dagflow import DAG
from dagflow.config import Settings
from dagflow.secrets.settings_view import SettingsView, hide_url_password

CANARY = "conf-canary-9f3a1c"


def _view(settings: Settings) -> SettingsView:
    return SettingsView(
        settings.replace(
            webserver={"secret_key": CANARY},
            core={"fernet_key": CANARY},
            database={"sql_alchemy_conn": f"postgresql://u:{CANARY}@db/x"},
            celery={"broker_url": f"redis://:{CANARY}@redis:6390/0"},
            storage={"url": f"s3://key:{CANARY}@bucket/prefix"},
        )
    )


def test_secrets_read_as_stars_and_the_rest_as_set(settings: Settings) -> None:
    conf = _view(settings)
    assert conf.webserver.secret_key == "***" and conf.core.fernet_key == "***"
    assert conf.database.sql_alchemy_conn == "***" and conf.celery.broker_url == "***"
    assert conf.storage.url == "s3://key:***@bucket/prefix"
    assert conf.core.dags_folder == settings.core.dags_folder and conf.webserver.port == settings.webserver.port
    assert conf.get("core", "parallelism") == settings.core.parallelism and conf.get("core", "nope", 1) == 1
    assert CANARY not in repr(conf.webserver) + repr(conf.storage) + repr(conf)


def test_templates_cannot_render_the_secret_key(settings: Settings) -> None:
    env = DAG("d", schedule=None).get_template_env()
    conf = _view(settings)
    rendered = env.from_string("{{ conf.webserver.secret_key }} {{ conf.get('database', 'sql_alchemy_conn') }}")
    assert rendered.render(conf=conf) == "*** ***"
    with pytest.raises(Exception, match="unsafe|_settings|undefined"):
        env.from_string("{{ conf._settings.webserver.secret_key }}").render(conf=conf)


def test_conf_is_read_only(settings: Settings) -> None:
    conf = _view(settings)
    with pytest.raises(AttributeError):
        conf.core = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        conf.core.parallelism = 1
    with pytest.raises(AttributeError):
        _ = conf.no_such_section


def test_hide_url_password() -> None:
    assert hide_url_password("postgresql://u:p%40ss@h:5/db?x=1") == "postgresql://u:***@h:5/db?x=1"
    assert hide_url_password("sqlite:////tmp/a@b.db") == "sqlite:////tmp/a@b.db"
    assert hide_url_password("no url") == "no url"
