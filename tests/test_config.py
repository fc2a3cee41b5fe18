from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from mig.config import InsecureTLSWarning, resolve
from mig.dsn import Dsn
from mig.errors import ConfigError
from tests.support import run_mig

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
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n[mig]\nlock_wait = 42\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    s = resolve(env={})
    assert s.config_file == tmp_path / "yoyo.ini"
    assert s.project_dir == tmp_path
    assert s.lock_wait == 42
    assert resolve(env={"MIG_LOCK_WAIT": "7"}).lock_wait == 7
    assert resolve(env={"MIG_LOCK_WAIT": "7"}, lock_wait=3).lock_wait == 3


def test_the_old_spellings_of_the_lock_wait_are_read_with_a_warning(tmp_path, monkeypatch):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n[mig]\nlock_timeout = 42\n")
    monkeypatch.chdir(tmp_path)
    with pytest.warns(DeprecationWarning, match="lock_timeout in \\[mig\\] of .* use lock_wait"):
        s = resolve(env={})
    assert s.lock_wait == 42 and s.warnings == (
        f"warning: lock_timeout in [mig] of {tmp_path / 'yoyo.ini'} is deprecated: "
        "use lock_wait",)
    with pytest.warns(DeprecationWarning, match="MIG_LOCK_TIMEOUT is deprecated: use MIG_LOC"):
        assert resolve(env={"MIG_LOCK_TIMEOUT": "7"}).lock_wait == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names: no warning
        assert resolve(env={"MIG_LOCK_WAIT": "8", "MIG_LOCK_TIMEOUT": "7"}).lock_wait == 8
    shown = run_mig(["config"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "lock_timeout in [mig]" in shown.stderr and "lock_wait" in shown.stdout
    # the option too (the unreachable database fails the run after the settings are read)
    result = run_mig(["apply", "--lock-timeout", "9", "-d", "postgresql://u@127.0.0.1:1/x"],
                     cwd=tmp_path)
    assert "warning: --lock-timeout is deprecated: use --lock-wait" in result.stderr


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
    # and shows the verified TLS a host that is not local gets by default
    assert shown["database"] == "postgresql://u:***@h/db?sslmode=verify-full&sslrootcert=system"
    assert "hunter2" not in repr(s) and "hunter2" not in str(shown)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"db_lock_timeout": "soon"}, "db_lock_timeout must be a duration"),
        ({"lock_wait": "-1"}, "must not be negative"),
        ({"lock_wait": "ten"}, "must be a number of seconds"),
    ],
)
def test_bad_values(tmp_path, kwargs, needle):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n")
    with pytest.raises(ConfigError) as info:
        resolve(project_dir=tmp_path, env={}, **kwargs)
    assert needle in str(info.value)


def test_resolve_takes_exactly_the_settings_as_keywords(tmp_path):
    """Every setting is a typed keyword of resolve (the CLI passes each by name); a name that
    is not a setting is refused by Python itself."""
    import inspect

    from mig.config import OPTIONS

    params = inspect.signature(resolve).parameters
    settings = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert settings - {"database", "config_file", "sources", "project_dir", "env", "fleet"} \
        == set(OPTIONS)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
    with pytest.raises(TypeError, match="nonsense"):
        resolve(project_dir=tmp_path, env={}, nonsense=1)  # type: ignore[call-arg]


def test_unreadable_ini(tmp_path):
    _ini(tmp_path, "[DEFAULT]\nsources = %(nothere)s/migrations\n")
    with pytest.raises(ConfigError, match="cannot read"):
        resolve(project_dir=tmp_path, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config_file=tmp_path / "missing.ini", env={})


@pytest.mark.parametrize(
    "body,needles",
    [
        # every percent-encoded password has a '%': yoyo's interpolation wants it doubled
        ("[DEFAULT]\ndatabase = postgresql://u:S3c%21retPW@h/db\n",
         ["option 'database' in section [DEFAULT] has a '%'", "'%' as '%%'"]),
        ("[DEFAULT]\n[mig]\nsslkey = S3c%retPW\n", ["option 'sslkey' in section [mig]"]),
        ("[DEFAULT]\ndatabase = postgresql://u:S3cretPW%(nothere)s@h/db\n",
         ["option 'database' in section [DEFAULT] refers to %(nothere)s, which is not defined"]),
        ("database = postgresql://u:S3cretPW@h/db\n[DEFAULT]\n",
         ["line 1 comes before any [section] header"]),
        ("[DEFAULT]\nsources = x\nS3cretPW\n", ["cannot parse line(s) 3"]),
    ],
)
def test_ini_errors_say_where_without_quoting_values(tmp_path, body, needles):
    _ini(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        resolve(project_dir=tmp_path, env={})
    message = str(info.value)
    assert message.startswith(f"cannot read {tmp_path / 'yoyo.ini'}: ")
    for needle in needles:
        assert needle in message
    assert "retPW" not in message


def test_a_doubled_percent_in_the_ini_url_is_the_encoded_password(tmp_path):
    _ini(tmp_path, "[DEFAULT]\ndatabase = postgresql://u:S3c%%21ret%%40PW@h/db\n")
    assert resolve(project_dir=tmp_path, env={}).database.password == "S3c!ret@PW"


def test_the_insecure_tls_opt_out_warns_library_callers_too(tmp_path):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n")
    url = "postgresql://u@db.example.test/app?sslmode=require"
    with pytest.warns(InsecureTLSWarning, match="the server's identity is NOT verified") as rec:
        settings = resolve(database=url, project_dir=tmp_path, env={}, profile="production",
                           allow_insecure_tls=True)
    assert [str(w.message) for w in rec] == [settings.warnings[0].removeprefix("warning: ")]
    assert rec[0].filename == __file__  # it points at the caller's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # development, verified: nothing to say
        resolve(database="postgresql://u@db.example.test/app", project_dir=tmp_path, env={})


def test_the_insecure_tls_warning_is_shown_once_by_the_cli_and_by_a_script(tmp_path):
    _ini(tmp_path, "[DEFAULT]\nsources = %(here)s/migrations\n")
    env = {"MIG_DATABASE_URL": "postgresql://u@127.0.0.1:1/app?sslmode=require",
           "MIG_PROFILE": "production", "MIG_ALLOW_INSECURE_TLS": "1",
           "PYTHONWARNINGS": "always"}
    result = run_mig(["config", "--json"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("the server's identity is NOT verified") == 1, result.stderr
    assert "InsecureTLSWarning" not in result.stderr
    # the use docs/deploy.md shows: resolve, then require_head (here: the server is not there)
    script = "import mig, mig.commands\nmig.commands.require_head(mig.resolve())\n"
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))},
                **env}
    full_env.pop("PYTHONWARNINGS")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=full_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0  # nothing listens on port 1
    assert result.stderr.count("InsecureTLSWarning: the server's identity is NOT verified") == 1


# -- a misspelt [mig] section ------------------------------------------------------------------
@pytest.mark.parametrize("section", ["mgi", "MIG", "mig ", "Mig", "migs", "mig.lint", "mig-tls"])
def test_a_section_that_looks_like_mig_is_refused_naming_file_and_line(tmp_path, section):
    ini = tmp_path / "yoyo.ini"
    ini.write_text("[DEFAULT]\nsources = %(here)s/migrations\n\n"
                   f"[{section}]\nprofile = production\n")
    with pytest.raises(ConfigError) as caught:
        resolve(project_dir=tmp_path, env={})
    message = str(caught.value)
    assert f"{ini}:4: section [{section}] is not read by mig (did you mean [mig]?)" in message
    assert "production" not in message  # never a value
    if "." in section or "-" in section:
        assert "[tool.mig.lint]" in message


@pytest.mark.parametrize("section", ["migrations", "alembic", "pytest", "flake8", "database"])
def test_yoyos_and_unrelated_sections_stay_silent(tmp_path, section, recwarn):
    (tmp_path / "yoyo.ini").write_text(
        "[DEFAULT]\nsources = %(here)s/migrations\n\n[mig]\nprofile = development\n\n"
        f"[{section}]\nanything = at all\n")
    settings = resolve(project_dir=tmp_path, env={})
    assert settings.profile == "development" and settings.warnings == ()
    assert len(recwarn) == 0
