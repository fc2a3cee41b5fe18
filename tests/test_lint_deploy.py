"""mig lint's deploy rules (read through PostgreSQL's parser), the widening type changes it lets
pass, and --since for adopting lint on a shipped history."""

from __future__ import annotations

import subprocess

import pytest

from mig.config import resolve
from mig.errors import ConfigError
from mig.lint import lint
from tests.support import lint_found, lint_listed, run_mig, write_project

DEPLOY_RULES = {"non-transactional-statement", "transaction-control", "unbounded-dml",
                "noop-rollback", "empty-migration", "destructive", "syntax-error",
                # squawk's versions of two of them: left out where mig reports its own
                "transaction-nesting", "ban-concurrent-index-creation-in-transaction"}
WIDE = {"0002_w.sql": "CREATE TABLE w (a varchar(100), b numeric(10, 2), c int, d real);\n",
        "0002_w.rollback.sql": "DROP TABLE w;\n"}

# (migration files, the deploy findings expected: (file, line, rule)); bad cases with good twins
CASES = {
    "concurrent index in a transactional migration": (
        {"0002_x.sql": "-- an index\nCREATE INDEX CONCURRENTLY IF NOT EXISTS items_name\n"
                       "    ON items (name);\n",
         "0002_x.rollback.sql": "DROP INDEX CONCURRENTLY IF EXISTS items_name;\n"},
        [("0002_x.sql", 2, "non-transactional-statement"),
         ("0002_x.rollback.sql", 1, "non-transactional-statement")]),
    "concurrent index in a non-transactional migration": (
        {"0002_x.sql": "-- transactional: false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "
                       "items_name ON items (name);\n",
         "0002_x.rollback.sql": "-- transactional: false\nDROP INDEX CONCURRENTLY IF EXISTS "
                                "items_name;\n"},
        []),
    "vacuum and reindex concurrently in a transaction": (
        {"0002_x.sql": "VACUUM items;\nREINDEX TABLE CONCURRENTLY items;\nANALYZE items;\n",
         "0002_x.rollback.sql": "SELECT 1;\n"},
        [("0002_x.sql", 1, "non-transactional-statement"),
         ("0002_x.sql", 2, "non-transactional-statement"),
         ("0002_x.rollback.sql", 1, "noop-rollback")]),
    "transaction control": (
        {"0002_x.sql": "BEGIN;\nCREATE TABLE x (id bigint);\nCOMMIT;\n",
         "0002_x.rollback.sql": "START TRANSACTION;\nDROP TABLE x;\nSAVEPOINT s;\nEND;\n"},
        [("0002_x.sql", 1, "transaction-control"), ("0002_x.sql", 3, "transaction-control"),
         ("0002_x.rollback.sql", 1, "transaction-control"),
         ("0002_x.rollback.sql", 3, "transaction-control"),
         ("0002_x.rollback.sql", 4, "transaction-control")]),
    "unbounded update and delete of an existing table": (
        {"0002_x.sql": "UPDATE items SET name = lower(name);\n\nDELETE FROM items;\n",
         "0002_x.rollback.sql": "DELETE FROM items;\n"},
        [("0002_x.sql", 1, "unbounded-dml"), ("0002_x.sql", 3, "unbounded-dml")]),
    "bounded ones, and a table the migration creates": (
        {"0002_x.sql": "UPDATE items SET name = lower(name) WHERE id < 10;\n"
                       "DELETE FROM items WHERE name IS NULL;\n"
                       "CREATE TABLE x (id bigint, n bigint);\nUPDATE x SET n = 1;\n",
         "0002_x.rollback.sql": "DROP TABLE x;\n"},
        []),
    "a rollback that changes nothing": (
        {"0002_x.sql": "CREATE TABLE x (id bigint);\n", "0002_x.rollback.sql": "SELECT 1;\n"},
        [("0002_x.rollback.sql", 1, "noop-rollback")]),
    "an empty migration": (
        {"0002_x.sql": "-- depends: 0001_base\n-- to do\n",
         "0002_x.rollback.sql": "SELECT 1;\n"},
        [("0002_x.sql", 1, "empty-migration")]),
    "widening type changes": (
        {**WIDE, "0003_y.sql": "-- depends: 0002_w\nALTER TABLE w ALTER COLUMN a TYPE "
                               "varchar(200), ALTER COLUMN b TYPE numeric(12, 2),\n"
                               "  ALTER COLUMN c TYPE bigint, ALTER COLUMN d TYPE float8;\n"
                               "ALTER TABLE w ALTER COLUMN a TYPE text;\n",
         "0003_y.rollback.sql": "ALTER TABLE w ALTER COLUMN a TYPE varchar(100);\n"},
        []),
    "narrowing type changes": (
        {**WIDE, "0003_y.sql": "-- depends: 0002_w\nALTER TABLE w ALTER COLUMN a TYPE "
                               "varchar(50);\nALTER TABLE w ALTER COLUMN b TYPE numeric(9, 2);\n"
                               "ALTER TABLE w ALTER COLUMN c TYPE smallint;\n",
         "0003_y.rollback.sql": "SELECT 1;\n"},
        [("0003_y.sql", 2, "destructive"), ("0003_y.sql", 3, "destructive"),
         ("0003_y.sql", 4, "destructive"), ("0003_y.rollback.sql", 1, "noop-rollback")]),
    "a syntax error": (
        {"0002_x.sql": "CREATE TABLE x (id bigint);\n\nCREAT INDEX x_id ON x (id);\n",
         "0002_x.rollback.sql": "DROP TABLE x;\n"},
        [("0002_x.sql", 3, "syntax-error")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_deploy_rules(tmp_path, case):
    migrations, expected = CASES[case]
    found = [f for f in lint_found(tmp_path, migrations) if f[2] in DEPLOY_RULES]
    assert sorted(found) == sorted(expected)


def test_levels_and_the_add_constraint_hint(tmp_path):
    write_project(tmp_path, {
        "0001_base.sql": "CREATE TABLE items (id bigint PRIMARY KEY, n bigint);\n",
        "0001_base.rollback.sql": "DROP TABLE items;\n",
        "0002_x.sql": "-- transactional: false\nALTER TABLE items ADD CONSTRAINT n_pos"
                      " CHECK (n > 0) NOT VALID;\nUPDATE items SET n = 0;\n",
        "0002_x.rollback.sql": "ALTER TABLE items DROP CONSTRAINT IF EXISTS n_pos;\n"})
    report = lint_listed(tmp_path)
    by_rule = {f.rule: f for f in report.findings}
    hint = by_rule["not-rerunnable"].hint
    assert "ADD CONSTRAINT has no IF NOT EXISTS" in hint and "ADD COLUMN" not in hint
    assert by_rule["unbounded-dml"].level == "warning"
    assert "data step" in by_rule["unbounded-dml"].hint


HISTORY = {
    "0001_a.sql": "CREATE TABLE a (id bigint);\nDELETE FROM a;\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_b.sql": "-- depends: 0001_a\nCREATE TABLE b (id bigint);\n",
    "0002_b.rollback.sql": "DROP TABLE b;\n",
}
NEW = {"0003_c.sql": "-- depends: 0002_b\nUPDATE a SET id = 1;\n",
       "0003_c.rollback.sql": "SELECT 1;\n"}


def _paths(report):
    return sorted({f.path.name for f in report.findings})


def test_since_a_migration_checks_only_the_newer_ones(tmp_path):
    write_project(tmp_path, {**HISTORY, "0001_a.sql": "BEGIN;\n" + HISTORY["0001_a.sql"],
                             **NEW})
    assert "0001_a.sql" in _paths(lint_listed(tmp_path))
    settings = resolve(project_dir=tmp_path, env={})
    report = lint(settings, since="0002_b")
    assert report.migrations == 1
    assert _paths(report) == ["0003_c.rollback.sql", "0003_c.sql"]
    result = run_mig(["lint", "--since", "0002_b"], cwd=tmp_path)
    assert "1 migration(s) checked: 0 error(s), 2 warning(s)" in result.stdout, result.stdout
    assert result.returncode == 0
    with pytest.raises(ConfigError, match="--since nope: neither a migration id nor a git"):
        lint(settings, since="nope")


def test_since_a_git_revision_checks_what_changed(tmp_path):
    write_project(tmp_path, {**HISTORY, "0001_a.sql": "BEGIN;\n" + HISTORY["0001_a.sql"]})

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "shipped")
    write_project(tmp_path, NEW)  # not committed yet: still new since main
    settings = resolve(project_dir=tmp_path, env={})
    report = lint(settings, since="main")
    assert report.migrations == 1 and _paths(report) == ["0003_c.rollback.sql", "0003_c.sql"]
