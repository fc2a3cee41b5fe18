"""mig lint: each of mig's rules on a small bad migration (and silent on a good one), squawk's
findings with file and line, settings in pyproject.toml, the output and the exit code."""

from __future__ import annotations

import json
import textwrap

import pytest

from mig.config import resolve
from mig.disk import scripts as scripts_mod
from mig.errors import ConfigError
from mig.lint import lint
from tests.support import LINT_BASE, REPO, lint_found, lint_listed, run_mig, write_project

BASE = LINT_BASE
_lint = lint_listed
_found = lint_found


# (migration files, the findings expected: (file, line, rule)); each bad case with a good twin
CASES = {
    "sql without rollback": (
        {"0002_x.sql": "CREATE TABLE x (id bigint);\n"},
        [("0002_x.sql", 1, "missing-rollback")]),
    "rollback without a statement": (
        {"0002_x.sql": "CREATE TABLE x (id bigint);\n",
         "0002_x.rollback.sql": "-- nothing to undo?\n"},
        [("0002_x.rollback.sql", 1, "missing-rollback")]),
    "sql with rollback": (
        {"0002_x.sql": "CREATE TABLE x (id bigint);\n", "0002_x.rollback.sql": "DROP TABLE x;\n"},
        []),
    "python step without rollback": (
        {"0002_x.py": """\
            from yoyo import step

            steps = [
                step("CREATE TABLE x (id bigint)", "DROP TABLE x"),
                step("CREATE TABLE y (id bigint)"),
            ]
            """},
        [("0002_x.py", 5, "missing-rollback")]),
    "concurrent index that cannot be re-run": (
        {"0002_x.sql": "-- transactional: false\n\nCREATE INDEX CONCURRENTLY items_name\n"
                       "    ON items (name);\n",
         "0002_x.rollback.sql": "-- transactional: false\nDROP INDEX CONCURRENTLY IF EXISTS "
                                "items_name;\n"},
        [("0002_x.sql", 3, "not-rerunnable")]),
    "concurrent index that can be re-run": (
        {"0002_x.sql": "-- transactional: false\nCREATE INDEX CONCURRENTLY IF NOT EXISTS "
                       "items_name ON items (name);\n",
         "0002_x.rollback.sql": "-- transactional: false\nDROP INDEX CONCURRENTLY IF EXISTS "
                                "items_name;\n"},
        []),
    "non-transactional create table, add column": (
        {"0002_x.sql": "-- transactional: false\nCREATE TABLE x (id bigint);\n"
                       "ALTER TABLE items ADD COLUMN IF NOT EXISTS a text, ADD COLUMN b text;\n",
         "0002_x.rollback.sql": "DROP TABLE x;\nALTER TABLE items DROP COLUMN a, DROP COLUMN b;\n"},
        [("0002_x.rollback.sql", 1, "not-rerunnable"), ("0002_x.rollback.sql", 2, "not-rerunnable"),
         ("0002_x.sql", 2, "not-rerunnable"), ("0002_x.sql", 3, "not-rerunnable")]),
    "transactional create table": (
        {"0002_x.sql": "CREATE TABLE x (id bigint);\n", "0002_x.rollback.sql": "DROP TABLE x;\n"},
        []),
    "drop table, drop column, narrowing type": (
        {"0002_x.sql": "DROP TABLE items;\n", "0002_x.rollback.sql": BASE["0001_base.sql"],
         "0003_y.sql": "-- depends: 0002_x\nCREATE TABLE y (id bigint, a text, b bigint);\n"
                       "ALTER TABLE y DROP COLUMN a;\nALTER TABLE y ALTER COLUMN b TYPE integer;\n",
         "0003_y.rollback.sql": "DROP TABLE y;\n"},
        [("0002_x.sql", 1, "destructive"), ("0003_y.sql", 3, "destructive"),
         ("0003_y.sql", 4, "changing-column-type"), ("0003_y.sql", 4, "destructive"),
         ("0003_y.sql", 4, "prefer-bigint-over-int")]),
    "destructive with a marker, and in a rollback": (
        {"0002_x.sql": "-- mig: allow-destructive items were replaced by products in 2025\n"
                       "DROP TABLE items;\n",
         "0002_x.rollback.sql": "-- no data comes back\n" + BASE["0001_base.sql"],
         "0003_y.sql": "-- depends: 0002_x\nCREATE TABLE y (id int8, a numeric(10, 2));\n"
                       "ALTER TABLE y ALTER COLUMN a TYPE numeric;\n",
         "0003_y.rollback.sql": "ALTER TABLE y ALTER COLUMN a TYPE numeric(10, 2);\n"
                                "DROP TABLE y;\n"},
        [("0003_y.sql", 3, "changing-column-type"),
         ("0003_y.rollback.sql", 1, "changing-column-type")]),
    "empty and comment-only migrations, no rollback needed": (
        {"0002_x.sql": "", "0003_y.sql": "-- nothing on PostgreSQL\n/* sqlite only */\n",
         "0003_y.rollback.sql": "", "0004_z.py": "", "0005_w.py": "from yoyo import step\n"},
        [("0002_x.sql", 1, "empty-migration"), ("0003_y.sql", 1, "empty-migration"),
         ("0004_z.py", 1, "empty-migration"), ("0005_w.py", 1, "empty-migration")]),
    "empty on purpose, said in the file": (
        {"0002_x.sql": "-- mig: allow-empty-migration the table exists only on sqlite\n",
         "0003_y.py": "# mig: allow-empty-migration nothing to do on PostgreSQL\n"},
        []),
    "marker without a reason": (
        {"0002_x.sql": "-- mig: allow-destructive\nDROP TABLE items;\n",
         "0002_x.rollback.sql": BASE["0001_base.sql"]},
        [("0002_x.sql", 1, "destructive"), ("0002_x.sql", 2, "destructive")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rules(tmp_path, case):
    migrations, expected = CASES[case]
    assert sorted(_found(tmp_path, migrations)) == sorted(expected)


def test_squawk_findings_name_file_and_line_also_in_python_steps(tmp_path):
    found = _found(tmp_path, {
        "0002_x.sql": "-- index on a table in use\n\nCREATE INDEX items_name ON items (name);\n",
        "0002_x.rollback.sql": "DROP INDEX items_name;\n",
        "0003_y.py": '''\
            """An index, from a Python migration."""
            from yoyo import step

            __depends__ = {"0002_x"}

            steps = [
                step("""
                    ALTER TABLE items ADD COLUMN code text;
                    CREATE INDEX items_code ON items (code)
                """, "ALTER TABLE items DROP COLUMN code"),
            ]
            ''',
    })
    assert ("0002_x.sql", 3, "require-concurrent-index-creation") in found
    assert ("0003_y.py", 9, "require-concurrent-index-creation") in found
    # squawk's destructive rules are mig's 'destructive' rule, and rollbacks may drop things
    assert ("0002_x.rollback.sql", 1, "require-concurrent-index-deletion") in found
    assert not [f for f in found if f[2].startswith("ban-drop")]


def test_squawk_rules_switched_off_in_pyproject_need_a_reason(tmp_path):
    migrations = {"0002_x.sql": "CREATE TABLE x (id bigint, n int, c char(2));\n",
                  "0002_x.rollback.sql": "DROP TABLE x;\n"}
    assert {f[2] for f in _found(tmp_path, migrations)} == {"prefer-bigint-over-int",
                                                            "ban-char-field"}
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.mig.lint]
        warn = ["ban-char-field"]

        [tool.mig.lint.per-file."0002_*.sql"]
        prefer-bigint-over-int = "n counts to ten"
        """))
    report = _lint(tmp_path)
    assert [(f.rule, f.level) for f in report.findings] == [("ban-char-field", "warning")]
    assert report.ok
    assert report.switched_off["prefer-bigint-over-int in 0002_*.sql"] == "n counts to ten"

    (tmp_path / "pyproject.toml").write_text('[tool.mig.lint.disabled]\nban-char-field = ""\n')
    with pytest.raises(ConfigError, match="switched off without a reason"):
        _lint(tmp_path)


def test_empty_migration_is_a_warning_that_can_be_switched_off(tmp_path):
    write_project(tmp_path, {**BASE, "0002_x.sql": "-- to do\n", "0003_y.py": ""})
    report = _lint(tmp_path)
    assert [(f.path.name, f.rule, f.level) for f in report.findings] == [
        ("0002_x.sql", "empty-migration", "warning"), ("0003_y.py", "empty-migration", "warning")]
    assert report.findings[0].message == (
        "0002_x holds no statement: applying it only records it, and changes nothing")
    assert "# mig: allow-empty-migration <reason>" in report.findings[1].hint
    result = run_mig(["lint"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout  # warnings do not fail the run
    assert "0002_x.sql:1: empty-migration: " in result.stdout
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mig.lint.disabled]\nempty-migration = "the history keeps other databases\' steps"\n')
    assert _lint(tmp_path).findings == []


def test_files_limit_the_check_to_those_migrations(tmp_path):
    write_project(tmp_path, {**BASE, "0002_x.sql": "CREATE TABLE x (id bigint);\n"})
    assert _lint(tmp_path, [tmp_path / "migrations/0001_base.rollback.sql"]).findings == []
    found = _lint(tmp_path, [tmp_path / "migrations/0002_x.sql"]).findings
    assert [(f.path.name, f.rule) for f in found] == [("0002_x.sql", "missing-rollback")]
    # a migration outside the project's folders: its own checks, no history
    (tmp_path / "elsewhere").mkdir()
    other = tmp_path / "elsewhere/0009_z.sql"
    other.write_text("-- mig: allow-missing-rollback a scratch experiment\nDROP TABLE items;\n")
    found = _lint(tmp_path, [other]).findings
    assert [(f.path, f.line, f.rule) for f in found] == [(other, 2, "destructive")]


def test_cli_output_exit_code_and_json(tmp_path):
    write_project(tmp_path, {**BASE, "0002_x.sql": "-- transactional: false\n"
                                                   "CREATE TABLE x (id bigint, n int);\n"})
    assert run_mig(["hash", "-q"], cwd=tmp_path).returncode == 0
    result = run_mig(["lint"], cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0] == "migrations/0002_x.sql:1: missing-rollback: " \
        "0002_x has no rollback file (0002_x.rollback.sql)"
    assert "migrations/0002_x.sql:2: not-rerunnable: CREATE TABLE fails when run again" \
        in result.stdout
    assert result.stdout.endswith("2 migration(s) checked: 3 error(s)\n")

    data = json.loads(run_mig(["lint", "--json"], cwd=tmp_path).stdout)
    assert set(data) == {"ok", "migrations", "errors", "warnings", "findings", "switched_off",
                         "squawk"}
    assert data["ok"] is False and data["errors"] == 3 and data["migrations"] == 2
    assert data["findings"][0] == {
        "path": "migrations/0002_x.sql", "line": 1, "rule": "missing-rollback",
        "level": "error", "tool": "mig",
        "message": "0002_x has no rollback file (0002_x.rollback.sql)",
        "hint": "write a rollback that restores the previous schema ('mig verify' proves it "
                "does)"}
    assert {f["tool"] for f in data["findings"]} == {"mig", "squawk"}
    assert "require-lock-timeout" in data["switched_off"]

    result = run_mig(["lint", "migrations/0001_base.sql"], cwd=tmp_path)
    assert result.returncode == 0 and "1 migration(s) checked: 0 error(s)" in result.stdout
    result = run_mig(["lint", "yoyo.ini"], cwd=tmp_path)
    assert result.returncode == 2 and "yoyo.ini: not a migration file" in result.stderr


def test_the_shipped_migrations_pass(monkeypatch):
    monkeypatch.chdir(REPO)
    report = lint(resolve(project_dir=REPO, env={}))
    assert [str(f) for f in report.findings] == []
    assert report.migrations == len(scripts_mod.discover((REPO / "migrations",)))
