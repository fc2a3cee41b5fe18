"""Every command's --json prints JSON on stdout, when it succeeds and when it fails: a failure
is one object with error, type, message, hint and exit_code (the text goes to stderr too)."""

from __future__ import annotations

import json

import click
import pytest

from mig.cli import cli
from mig.errors import EXIT_USAGE
from tests.support import PASSWORD, PASSWORD_ROLE, TWO_MIGRATIONS, run_mig, write_project

DEAD = "postgresql://nobody@127.0.0.1:1/none"

# command -> (arguments of a run that succeeds, of one that fails); {db} is the project's
# database, {server} the test server, {tmp} a fresh folder; 'applied' ones run after an apply
CASES: dict[str, tuple[list[str], list[str]]] = {
    "apply": (["apply", "-d", "{db}"], ["apply", "-d", DEAD]),
    "status": (["status", "-d", "{db}"], ["status", "-d", DEAD]),
    "current": (["current", "-d", "{db}"], ["current", "-d", DEAD]),
    "history": (["history", "-d", "{db}", "--since", "7d"],
                ["history", "-d", "{db}", "--since", "someday"]),
    "rollback": (["rollback", "-d", "{db}"], ["rollback", "-d", "{db}", "--steps", "0"]),
    "redo": (["redo", "-d", "{db}"], ["redo", "-d", DEAD]),
    "wait": (["wait", "-d", "{db}", "--timeout", "0"],
             ["wait", "-d", "{db}", "--timeout", "0", "--interval", "0.1", "--allow-newer",
              "--config", "{tmp}/missing.ini"]),
    "seed": (["seed", "-d", "{db}"], ["seed", "-d", "{db}", "--env", "no_such_env"]),
    "config": (["config"], ["config", "--lock-wait", "-1"]),
    "verify": (["verify", "-d", "{server}"], ["verify", "-d", DEAD]),
    "diff": (["diff", "-d", "{db}", "--scratch-server", "{server}"], ["diff", "-d", DEAD]),
    "baseline": (["baseline", "-d", "{db}", "--to", "0002_b", "--scratch-server", "{server}"],
                 ["baseline", "-d", "{db}", "--to", "no_such_migration"]),
    "foreign": (["foreign", "-d", "{db}"], ["foreign", "-d", DEAD]),
    "squash": (["squash", "--to", "0002_b", "--dry-run", "--scratch-server", "{server}"],
               ["squash", "--to", "no_such_migration"]),
    "init": (["init", "{tmp}/new"], ["init", "{tmp}/a-file"]),
    "lint": (["lint"], ["lint", "{tmp}/not-a-migration.sql"]),
    "db prune": (["db", "prune"], ["db", "prune", "--no-such-option"]),
    "db start": (["db", "start"], ["db", "start", "-d", DEAD]),
    "db status": (["db", "status"], ["db", "status", "-d", DEAD]),
    "import": (["import", "--from", "golang-migrate", "{tmp}/golang"],
               ["import", "--from", "golang-migrate", "{tmp}/no-such-folder"]),
    "new": (["new", "same", "--from", "{db}", "--scratch-server", "{server}"],
            ["new", "same", "--from", DEAD]),
    "db create": (["db", "create", "{dbname}_clone", "--from-template", "{dbname}", "-d",
                   "{db}"],
                  ["db", "create", "{dbname}_clone", "--from-template", "no_such_template",
                   "-d", "{db}"]),
}


def _commands_with_json() -> set[str]:
    ctx = click.Context(cli)
    found = set()
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        groups = command.commands.values() if isinstance(command, click.Group) else [command]
        for sub in groups:
            if any("--json" in getattr(p, "opts", []) for p in sub.params):
                found.add(name if sub is command else f"{name} {sub.name}")
    return found


def test_every_command_with_json_is_walked():
    assert _commands_with_json() == set(CASES)


@pytest.fixture
def project(tmp_path):
    root = write_project(tmp_path / "project", TWO_MIGRATIONS)
    (root / "seeds" / "base").mkdir(parents=True)
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "not-a-migration.sql").write_text("SELECT 1;\n")
    (tmp_path / "golang").mkdir()
    (tmp_path / "golang" / "0003_c.up.sql").write_text("CREATE TABLE c (id bigint);\n")
    return root


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_on_success_and_on_failure(name, project, db_url, pg_server, tmp_path,
                                        request):
    def args(words: list[str]) -> list[str]:
        return [w.format(db=db_url, dbname=db_url.rsplit("/", 1)[1], server=pg_server.url(),
                         tmp=tmp_path) for w in words]

    good, bad = CASES[name]
    if name == "db start":  # it starts the project's embedded server: stopped again here
        request.addfinalizer(lambda: run_mig(["db", "stop"], cwd=project))
    if name not in ("apply", "init", "config", "verify", "lint"):
        assert run_mig(["apply", "-q", "-d", db_url], cwd=project).returncode == 0
    result = run_mig([*args(good), "--json"], cwd=project)
    # lint's findings (int columns, no mig.sum) are its report, with exit 1
    assert result.returncode == (1 if name == "lint" else 0), result.stderr
    assert isinstance(json.loads(result.stdout), (dict, list))

    result = run_mig([*args(bad), "--json"], cwd=project)
    assert result.returncode != 0
    error = json.loads(result.stdout)
    assert error["exit_code"] == result.returncode
    assert error["type"] and error["message"] and "hint" in error
    assert error["error"].splitlines()[0] == error["message"].splitlines()[0]
    assert error["message"].splitlines()[0] in result.stderr  # the text stays on stderr


def test_the_json_error_carries_the_errors_data_and_masks_passwords(project, pg_server):
    url = f"postgresql://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:{pg_server.port}/no_such_db"
    result = run_mig(["status", "-d", url, "--json"], cwd=project)
    error = json.loads(result.stdout)
    assert error["type"] == "DatabaseUnavailable" and "createdb" in error["hint"]
    assert PASSWORD not in result.stdout + result.stderr

    result = run_mig(["apply", "--json", "--bogus"], cwd=project)  # click's usage error
    assert result.returncode == EXIT_USAGE
    assert json.loads(result.stdout)["type"] == "NoSuchOption"


def test_a_json_error_names_the_migration_it_is_about(project, db_url):
    assert run_mig(["apply", "-q", "-d", db_url], cwd=project).returncode == 0
    (project / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    result = run_mig(["apply", "-d", db_url, "--json"], cwd=project)
    error = json.loads(result.stdout)
    assert error["type"] == "ChecksumMismatch" and "mig repair" in error["hint"]
    assert [p["id"] for p in error["details"]["problems"]] == ["0001_a"]
