"""Each applied migration's rollback is stored with its record (older tracking tables gain the
columns in place), so a migration whose file is gone can still be rolled back."""

from __future__ import annotations

from unittest.mock import ANY

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import Refused
from tests.support import TWO_MIGRATIONS, query, run_mig, tables, write_project

PY_MIGRATION = {
    "0003_c.py": '''
        from yoyo import step
        __depends__ = {"0002_b"}
        steps = [step("CREATE TABLE c (id int)", "DROP TABLE c")]
    ''',
}

# _mig_migrations as mig created it before rollbacks were stored.
OLD_TABLE = """
CREATE TABLE _mig_migrations (
    migration_id text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    duration_ms integer
);
INSERT INTO _mig_migrations (migration_id, checksum) VALUES ('0000_old', 'abc');
"""


def test_apply_stores_each_rollback(tmp_path, db_url):
    write_project(tmp_path, {**TWO_MIGRATIONS, **PY_MIGRATION})
    commands.apply(resolve(database=db_url, project_dir=tmp_path, env={}))
    rows = query(db_url, "SELECT migration_id, transactional, rollback_kind, rollback_sql"
                 " FROM _mig_migrations ORDER BY migration_id")
    assert rows == [("0001_a", True, "sql", "DROP TABLE a;\n"),
                    ("0002_b", True, "sql", "DROP TABLE b;\n"),
                    ("0003_c", True, "python", None)]


def test_an_old_tracking_table_is_upgraded_in_place(tmp_path, db_url):
    query(db_url, OLD_TABLE)
    write_project(tmp_path, TWO_MIGRATIONS)
    commands.apply(resolve(database=db_url, project_dir=tmp_path, env={}))
    rows = query(db_url, "SELECT migration_id, checksum, rollback_kind, rollback_sql"
                 " FROM _mig_migrations ORDER BY migration_id")
    assert rows[0] == ("0000_old", "abc", None, None)  # kept as it was: nothing known
    assert rows[1:] == [(mid, rows[i + 1][1], "sql", f"DROP TABLE {t};\n")
                        for i, (mid, t) in enumerate([("0001_a", "a"), ("0002_b", "b")])]


def _gone(tmp_path, *names: str) -> None:
    for name in names:
        (tmp_path / "migrations" / name).unlink()


def test_a_migration_whose_file_is_gone_is_rolled_back_from_its_stored_copy(tmp_path, db_url):
    """After switching branches: 0002_b was applied from a branch that is no longer checked
    out. status lists it, rollback undoes it with the SQL stored when it was applied."""
    write_project(tmp_path, TWO_MIGRATIONS)
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings)
    _gone(tmp_path, "0002_b.sql", "0002_b.rollback.sql")

    status = run_mig(["status", "-d", db_url], cwd=tmp_path)
    assert "0002_b: applied, but not on disk; its rollback was stored" in status.stdout
    assert [e.to_json() for e in commands.status(settings).edited] == [
        {"id": "0002_b", "problem": "missing", "recorded": ANY, "current": None,
         "rollback": "sql"}]
    plan = commands.rollback(settings, dry_run=True)
    assert plan.migrations[0].sql == "DROP TABLE b;" and plan.migrations[0].stored

    result = run_mig(["rollback", "-d", db_url], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rolled back 0002_b" in result.stderr and "using the rollback stored" in result.stderr
    assert tables(db_url) >= {"a"} and "b" not in tables(db_url)
    assert commands.status(settings).current  # 0001_a applied, nothing missing


def test_a_non_transactional_stored_rollback_runs_statement_by_statement(tmp_path, db_url):
    write_project(tmp_path, {
        "0001_t.sql": "CREATE TABLE t (n int);\n",
        "0001_t.rollback.sql": "DROP TABLE t;\n",
        "0002_idx.sql": "-- transactional: false\nCREATE INDEX CONCURRENTLY t_n ON t (n);\n"
                        "CREATE INDEX CONCURRENTLY t_n2 ON t (n);\n",
        "0002_idx.rollback.sql": "DROP INDEX CONCURRENTLY t_n2;\nDROP INDEX CONCURRENTLY t_n;\n",
    })
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings)
    _gone(tmp_path, "0002_idx.sql", "0002_idx.rollback.sql")
    report = commands.rollback(settings)
    assert report.migrations[0].id == "0002_idx" and report.migrations[0].stored
    assert query(db_url, "SELECT count(*) FROM pg_indexes WHERE tablename = 't'") == [(0,)]


def test_what_was_not_stored_is_refused_unless_forced(tmp_path, db_url):
    write_project(tmp_path, {**TWO_MIGRATIONS, **PY_MIGRATION})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings)
    _gone(tmp_path, "0003_c.py")
    assert commands.status(settings).edited[0].rollback == "python"
    with pytest.raises(Refused, match="0003_c is applied but its file is gone, and its rollback"
                       " is Python code"):
        commands.rollback(settings)
    assert "c" in tables(db_url)
    # applied before rollbacks were stored: nothing is known
    query(db_url, "UPDATE _mig_migrations SET rollback_kind = NULL, rollback_sql = NULL")
    with pytest.raises(Refused, match="applied before mig stored rollbacks"):
        commands.rollback(settings)
    commands.rollback(settings, force=True)  # forgets the record; the table stays
    assert "c" in tables(db_url)
    assert [a.id for a in commands.status(settings).applied] == ["0001_a", "0002_b"]
