"""mig redo (roll back the newest migration and apply it again) and mig rollback --all."""

from __future__ import annotations

import json

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import EXIT_REFUSED, EXIT_USAGE, CannotUndo, MigError, Refused
from tests.support import TWO_MIGRATIONS, query, run_mig, tables, write_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, TWO_MIGRATIONS)


def test_redo_rolls_back_the_newest_and_applies_it_again(project, db_url):
    settings = resolve(database=db_url, project_dir=project)
    assert commands.redo(settings).migrations == []  # nothing applied: nothing to redo
    commands.apply(settings)
    query(db_url, "INSERT INTO b VALUES (1)")  # gone once b is rolled back and made again
    # the edited rollback takes effect: redo is how it is tried out
    (project / "migrations" / "0002_b.rollback.sql").write_text("DROP TABLE IF EXISTS b;\n")
    commands.repair(settings)

    result = run_mig(["redo", "-d", db_url, "--json"], cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(m["action"], m["id"]) for m in data["migrations"]] == [
        ("rollback", "0002_b"), ("apply", "0002_b")]
    assert all(isinstance(m["duration_ms"], int) for m in data["migrations"])
    assert isinstance(data["duration_ms"], int) and data["action"] == "redo"
    assert query(db_url, "SELECT count(*) FROM b") == [(0,)]
    assert [a.id for a in commands.status(settings).applied] == ["0001_a", "0002_b"]
    history = [(e.operation, e.migration) for e in commands.history(settings).events]
    assert history[-2:] == [("rollback", "0002_b"), ("apply", "0002_b")]

    result = run_mig(["redo", "-d", db_url], cwd=project)
    assert result.returncode == 0 and result.stdout.startswith("redid 0002_b in ")


def test_redo_keeps_the_safety_of_rollback(project, db_url):
    settings = resolve(database=db_url, project_dir=project)
    commands.apply(settings)
    # an edited applied migration: refused as rollback refuses it, nothing rolled back
    (project / "migrations" / "0002_b.sql").write_text("CREATE TABLE b (id bigint);\n")
    with pytest.raises(MigError, match="no longer match their files"):
        commands.redo(settings)
    assert "b" in tables(db_url)
    commands.repair(settings)
    # a migration without a rollback: CannotUndo (exit 6) unless --force
    (project / "migrations" / "0002_b.rollback.sql").unlink()
    commands.repair(settings)
    result = run_mig(["redo", "-d", db_url], cwd=project)
    assert result.returncode == EXIT_REFUSED and "--force" in result.stderr
    with pytest.raises(CannotUndo):
        commands.redo(settings)
    # its file gone: it could be rolled back, never applied again; refused before anything
    (project / "migrations" / "0002_b.sql").unlink()
    with pytest.raises(Refused, match="its file is gone"):
        commands.redo(settings)
    assert commands.current(settings).migration == "0002_b" and "b" in tables(db_url)


def test_a_failed_apply_again_says_the_migration_is_rolled_back_now(project, db_url):
    settings = resolve(database=db_url, project_dir=project)
    commands.apply(settings)
    (project / "migrations" / "0002_b.sql").write_text("CREATE TABLE b (id int) nonsense;\n")
    commands.repair(settings)
    with pytest.raises(MigError) as error:
        commands.redo(settings)
    assert "0002_b was rolled back by this redo and is pending now" in error.value.message
    assert commands.current(settings).migration == "0001_a"


def test_rollback_all_goes_back_to_the_beginning_with_the_usual_confirmation(project, db_url):
    settings = resolve(database=db_url, project_dir=project)
    commands.apply(settings)
    result = run_mig(["rollback", "-d", db_url, "--all"], cwd=project)
    assert result.returncode == EXIT_USAGE and "pass --yes" in result.stderr
    assert {"a", "b"} <= tables(db_url)
    result = run_mig(["rollback", "-d", db_url, "--all", "--steps", "1"], cwd=project)
    assert result.returncode != 0 and "not several" in result.stderr

    result = run_mig(["rollback", "-d", db_url, "--all", "--yes", "--json"], cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [m["id"] for m in data["migrations"]] == ["0002_b", "0001_a"]
    assert isinstance(data["duration_ms"], int)
    assert not {"a", "b"} & tables(db_url)
    assert commands.current(settings).migration is None
    result = run_mig(["rollback", "-d", db_url, "--all"], cwd=project)
    assert result.returncode == 0 and "nothing to roll back" in result.stdout
