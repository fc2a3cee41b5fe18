from __future__ import annotations

import pytest

from mig.config import resolve
from mig.dsn import Dsn
from mig.errors import ConfigError

SECRET = "pa:ss@w/rd"


def _ini(tmp_path, body: str):
    (tmp_path / "yoyo.ini").write_text(body)
    (tmp_path / "migrations").mkdir(exist_ok=True)
    return tmp_path


def test_precedence_option_env_ini_embedded(tmp_path):
    _ini(tmp_path, "[DEFAULT]\ndatabase = postgresql://ini@h/ini\nsources = %(here)s/migrations\n")
    env = {"MIG_DATABASE_URL": "postgresql://mig@h/a", "DATABASE_URL": "postgresql://plain@h/b"}
    s = resolve(database="postgresql://opt@h/o", project_dir=tmp_path, env=env)
    assert (s.database.get("user"), s.database_source) == ("opt", "--database")
    s = resolve(project_dir=tmp_path, env=env)
    assert (s.database.get("user"), s.database_source) == ("mig", "MIG_DATABASE_URL")
    s = resolve(project_dir=tmp_path, env={"DATABASE_URL": env["DATABASE_URL"]})
    assert (s.database.get("user"), s.database_source) == ("plain", "DATABASE_URL")
    s = resolve(project_dir=tmp_path, env={})
    assert s.database.get("user") == "ini" and s.database_source.endswith("yoyo.ini")
    assert s.sources == ((tmp_path / "migrations").absolute(),)
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n")
    s = resolve(project_dir=tmp_path, env={})
    assert s.database is None and s.database_source == "embedded"
    assert s.embedded_dir == tmp_path / ".mig"


def test_ini_is_found_in_a_parent_folder(tmp_path, monkeypatch):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n[mig]\nlock_timeout = 42\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    s = resolve(env={})
    assert s.config_file == tmp_path / "yoyo.ini"
    assert s.project_dir == tmp_path
    assert s.lock_wait == 42
    assert resolve(env={"MIG_LOCK_TIMEOUT": "7"}).lock_wait == 7
    assert resolve(env={"MIG_LOCK_TIMEOUT": "7"}, lock_wait=3).lock_wait == 3


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://u:{SECRET.replace('@', '%40').replace('/', '%2F')}@db:5433/app",
        f"postgres://u:{SECRET.replace('@', '%40').replace('/', '%2F')}@db:5433/app",
        f"postgresql+psycopg2://u:{SECRET.replace('@', '%40').replace('/', '%2F')}@db:5433/app",
        f"host=db port=5433 dbname=app user=u password='{SECRET}'",
    ],
)
def test_accepted_forms_are_masked(text):
    dsn = Dsn.parse(text)
    assert dsn.password == SECRET
    assert (dsn.get("host"), dsn.get("port"), dsn.dbname) == ("db", "5433", "app")
    assert dsn.masked == "postgresql://u:***@db:5433/app"
    for shown in (str(dsn), repr(dsn), dsn.masked):
        assert "pa:ss" not in shown and "pa%3Ass" not in shown


@pytest.mark.parametrize(
    "text,needle",
    [
        ("mysql://u:topsecret@h/db", "unsupported database URL scheme 'mysql'"),
        ("host=db password=topsecret dbname", "malformed database URL"),
        ("postgresql://u:topsecret@h/db?bogus=1", "invalid URI query parameter"),
    ],
)
def test_malformed_urls_never_echo_the_password(text, needle):
    with pytest.raises(ConfigError) as info:
        Dsn.parse(text)
    assert needle in str(info.value)
    assert "topsecret" not in str(info.value)


def test_describe_masks_password(tmp_path):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n")
    s = resolve(database="postgresql://u:hunter2@h/db", project_dir=tmp_path, env={})
    shown = s.describe()
    assert shown["database"] == "postgresql://u:***@h/db"
    assert "hunter2" not in repr(s) and "hunter2" not in str(shown)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"db_lock_timeout": "soon"}, "db_lock_timeout must be a duration"),
        ({"lock_wait": "-1"}, "must not be negative"),
        ({"lock_wait": "ten"}, "must be a number of seconds"),
        ({"nonsense": 1}, "unknown setting(s): nonsense"),
    ],
)
def test_bad_values(tmp_path, kwargs, needle):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n")
    with pytest.raises(ConfigError) as info:
        resolve(project_dir=tmp_path, env={}, **kwargs)
    assert needle in str(info.value)


def test_unreadable_ini(tmp_path):
    _ini(tmp_path, "[DEFAULT]\nsources = %(nothere)s/migrations\n")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve(project_dir=tmp_path, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config_file=tmp_path / "missing.ini", env={})
