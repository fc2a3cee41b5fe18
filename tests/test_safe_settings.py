"""Safe defaults of the settings: an empty database setting, misspelt settings and directives,
and a seed file built to explode are refused, naming where they are (docs/security.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from mig.config import KNOWN_ENV, KNOWN_INI_KEYS, UnknownSettingWarning, resolve
from mig.errors import EXIT_USAGE, ConfigError
from tests.support import REPO, TWO_MIGRATIONS, run_mig, tables, write_project


# -- an empty database setting is an error, never the embedded server --------------------
@pytest.mark.parametrize(("args", "env", "ini", "named"), [
    (["-d", ""], {}, "", "--database"),
    (["-d", "  "], {}, "", "--database"),
    ([], {"MIG_DATABASE_URL": ""}, "", "MIG_DATABASE_URL"),
    ([], {"DATABASE_URL": " "}, "", "DATABASE_URL"),
    ([], {}, "database =\n", "yoyo.ini"),
    # an empty MIG_DATABASE_URL does not fall through to DATABASE_URL either
    ([], {"MIG_DATABASE_URL": "", "DATABASE_URL": "postgresql://u@127.0.0.1:1/x"}, "",
     "MIG_DATABASE_URL"),
])
def test_an_empty_database_setting_is_an_error_naming_its_source(tmp_path, args, env, ini,
                                                                  named):
    project = write_project(tmp_path, TWO_MIGRATIONS, ini=(
        f"[DEFAULT]\nsources = %(here)s/migrations\n{ini}"))
    result = run_mig(["apply", *args], cwd=project, env=env)
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert named in result.stderr and "empty" in result.stderr
    assert "applied" not in result.stdout
    assert not (project / ".mig").exists()  # the embedded server was never started


def test_nothing_configured_at_all_is_the_embedded_default(tmp_path):
    settings = resolve(project_dir=tmp_path, env={})
    assert settings.database is None and settings.database_source == "embedded"


@pytest.mark.parametrize(("env", "named"), [
    ({"MIG_PROFILE": "production"}, "production profile"),
    ({"MIG_REQUIRE_DATABASE": "1"}, "MIG_REQUIRE_DATABASE"),
    ({"MIG_PROFILE": "production", "MIG_ALLOW_INSECURE_TLS": "1"}, "production profile"),
])
def test_the_embedded_default_is_refused_where_a_real_server_is_required(tmp_path, env, named):
    with pytest.raises(ConfigError, match=named):
        resolve(project_dir=tmp_path, env=env)
    with pytest.raises(ConfigError, match="embedded"):
        resolve(project_dir=tmp_path, env=env, database="embedded")


def test_require_database_in_the_ini(tmp_path):
    (tmp_path / "yoyo.ini").write_text("[mig]\nrequire_database = true\n")
    with pytest.raises(ConfigError, match="require_database"):
        resolve(project_dir=tmp_path, env={})
    assert resolve(project_dir=tmp_path, env={}, database="postgresql://u@db/x").database


# -- unknown settings ----------------------------------------------------------------------
@pytest.mark.parametrize(("key", "suggestion"), [
    ("profil", "profile"), ("lock_timout", "lock_timeout"), ("ssl_mode", "sslmode"),
    ("colour", None),
])
def test_an_unknown_mig_key_is_refused_with_the_valid_ones(tmp_path, key, suggestion):
    (tmp_path / "yoyo.ini").write_text(f"[DEFAULT]\nbatch_mode = on\n[mig]\n{key} = x\n")
    with pytest.raises(ConfigError) as caught:
        resolve(project_dir=tmp_path, env={})
    text = str(caught.value)
    assert f"unknown setting {key!r} in [mig] of {tmp_path / 'yoyo.ini'}" in text
    assert ", ".join(KNOWN_INI_KEYS) in text
    if suggestion:
        assert f"(did you mean {suggestion!r}?)" in text
    else:
        assert "did you mean" not in text


def test_a_misspelt_profile_no_longer_connects_without_tls(tmp_path):
    """The reported case: 'profil = production' was dropped and mig connected unverified."""
    write_project(tmp_path, TWO_MIGRATIONS, ini="[DEFAULT]\nsources = %(here)s/migrations\n"
                  "[mig]\nprofil = production\n")
    result = run_mig(["status", "-d", "postgresql://u@127.0.0.1:1/x?sslmode=disable"],
                     cwd=tmp_path)
    assert result.returncode == EXIT_USAGE
    assert "unknown setting 'profil'" in result.stderr
    assert "did you mean 'profile'?" in result.stderr


def test_an_unknown_mig_environment_variable_is_a_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = resolve(project_dir=tmp_path, env={"MIG_PROFIL": "production",
                                                      "MIG_LOCK_WAIT": "3"})
    assert [str(w.message) for w in caught if w.category is UnknownSettingWarning] == [
        "unknown environment variable MIG_PROFIL (did you mean 'MIG_PROFILE'?): mig does not "
        "read it (its variables: docs/cli.md#settings)"]
    assert settings.warnings == ("warning: " + str(caught[0].message),)
    assert settings.profile == "development"


def test_the_cli_prints_the_unknown_variable_warning_once(tmp_path):
    write_project(tmp_path, TWO_MIGRATIONS)
    result = run_mig(["config"], cwd=tmp_path, env={"MIG_SSLMOD": "verify-full"})
    assert result.returncode == 0
    assert result.stderr.count("unknown environment variable MIG_SSLMOD") == 1
    assert "did you mean 'MIG_SSLMODE'?" in result.stderr


def test_a_variable_the_seeds_name_is_not_unknown(tmp_path):
    (tmp_path / "seeds" / "dev").mkdir(parents=True)
    (tmp_path / "seeds" / "dev" / "users.yaml").write_text(
        "table: users\nrows:\n  - password_hash: !secret MIG_OPERATOR_HASH\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownSettingWarning)
        assert resolve(project_dir=tmp_path, env={"MIG_OPERATOR_HASH": "x"}).warnings == ()


def test_every_mig_variable_the_code_reads_is_known():
    used = set()
    for path in (REPO / "mig").rglob("*.py"):
        used |= set(re.findall(r"\b(MIG_[A-Z][A-Z_]*)\b", path.read_text()))
    used -= {"MIG_TABLES"}  # a constant's name, not a variable
    assert used <= set(KNOWN_ENV), used - set(KNOWN_ENV)


@pytest.mark.parametrize(("value", "suggestion"), [
    ("maybe", None), ("no", None), ("off", None), ("flase", "false"), ("", None),
])
def test_an_unknown_transactional_value_is_refused_before_anything_runs(tmp_path, value,
                                                                        suggestion, db_url):
    write_project(tmp_path, {
        "0001_a.sql": "CREATE TABLE a (id int);\n",
        "0002_b.sql": f"-- depends: 0001_a\n-- transactional: {value}\nCREATE TABLE b (id int);\n",
    })
    result = run_mig(["apply", "-d", db_url], cwd=tmp_path)
    assert result.returncode != 0
    where = f"{tmp_path / 'migrations' / '0002_b.sql'}:2"
    assert f"{where}: -- transactional: must be true or false, got {value!r}" in result.stderr
    assert ("did you mean" in result.stderr) == (suggestion is not None)
    assert "a" not in tables(db_url)  # not even the first migration ran


@pytest.mark.parametrize("value", ["true", "false", "False", "TRUE"])
def test_the_documented_transactional_values(tmp_path, value, db_url):
    write_project(tmp_path, {"0001_a.sql": f"-- transactional: {value}\nCREATE TABLE a ();\n"})
    result = run_mig(["apply", "--dry-run", "--json", "-d", db_url], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f'"transactional": {value.lower()}' in result.stdout


# -- YAML alias bomb -----------------------------------------------------------------------
BOMB = "table: roles\nkey: [name]\n" + "".join(
    f"{c}: &{c} [" + ",".join([f"*{p}" if p else '"lol"'] * 10) + "]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi")) + "rows: [*i]\n"


def test_a_yaml_alias_bomb_is_refused_naming_file_and_line(tmp_path, db_url):
    project = write_project(tmp_path, {})
    (project / "seeds" / "base").mkdir(parents=True)
    (project / "seeds" / "base" / "010_bomb.yaml").write_text(BOMB)
    assert len(BOMB) < 600
    # before the budget, this ran at 100 % CPU for minutes (the timeout fails the test)
    result = subprocess.run([sys.executable, "-m", "mig", "seed", "-d", db_url],
                            cwd=project, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert re.search(r"010_bomb\.yaml:\d+.*aliases expand this file to more than 200,000",
                     result.stderr), result.stderr


def test_a_recursive_alias_is_refused(tmp_path):
    from mig.seeds.reader import parse

    with pytest.raises(Exception, match="recursive alias"):
        parse("a: &a [1, *a]\n")


def test_aliases_within_the_budget_still_work():
    from mig.seeds.reader import parse

    doc, _, _ = parse("d: &d {x: 1}\nrows: [*d, *d, {<<: *d, y: 2}]\n")
    assert doc["rows"] == [{"x": 1}, {"x": 1}, {"x": 1, "y": 2}]


# -- the process list ----------------------------------------------------------------------
def test_the_process_list_never_shows_the_password_given_on_the_command_line(tmp_path):
    """mig rewrites its title before connecting: read what every local user can read, once
    the process is past its start (it is connecting to a server that never answers)."""
    import socket

    pytest.importorskip("setproctitle")
    project = write_project(tmp_path, TWO_MIGRATIONS)
    password = "Pr0cess-L1st-Secret"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(60)
        port = listener.getsockname()[1]
        url = f"postgresql://migrator:{password}@127.0.0.1:{port}/app?sslmode=disable"
        proc = subprocess.Popen([sys.executable, "-m", "mig", "status", "-d", url], cwd=project,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            conn, _ = listener.accept()  # mig is connecting: its start is over
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ")
            conn.close()
        finally:
            proc.kill()
            proc.communicate()
    assert password.encode() not in cmdline
    assert b"mig status -d postgresql://migrator:***@127.0.0.1:" in cmdline


# -- every changing command says which database first ---------------------------------------
def _changing_project(root: Path, command: list[str]) -> Path:
    if command != ["seed"]:
        return write_project(root, TWO_MIGRATIONS)
    (root / "seeds" / "base").mkdir(parents=True)  # seed on a database with no migrations
    return write_project(root, {})


@pytest.mark.parametrize("command", [["apply"], ["apply", "--dry-run"], ["rollback"],
                                     ["repair"], ["seed"]])
def test_each_changing_command_names_its_database_first(tmp_path, db_url, command):
    project = _changing_project(tmp_path, command)
    result = run_mig([*command], cwd=project, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"database: {db_url} (from MIG_DATABASE_URL)"


@pytest.mark.parametrize("command", [["apply"], ["rollback"], ["seed"]])
def test_the_json_output_carries_the_database(tmp_path, db_url, command):
    import json

    project = _changing_project(tmp_path, command)
    result = run_mig([*command, "--json", "-d", db_url], cwd=project)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["database"] == {
        "url": db_url, "source": "--database", "embedded_data": None}


def test_the_embedded_server_is_named_by_its_data_folder(tmp_path):
    import json

    from mig.server import LocalServer

    project = write_project(tmp_path, TWO_MIGRATIONS)
    server = LocalServer(project / ".mig" / "pgdata")  # as root: elsewhere (tmp_path is 0700)
    try:
        result = run_mig(["apply"], cwd=project)
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines()[0] == (
            f"database: embedded server, data in {server.datadir}")
        found = json.loads(run_mig(["rollback", "--json"], cwd=project).stdout)["database"]
        assert found["source"] == "embedded" and found["embedded_data"] == str(server.datadir)
        assert found["url"] == run_mig(["db", "url"], cwd=project).stdout.strip()
    finally:
        server.destroy()
