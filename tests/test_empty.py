"""Empty migrations (nothing, whitespace or comments only; a Python file without a step) are
applied and rolled back as recorded no-ops; files that end the process when imported, or give
``__transactional__`` a value other than a bool, are refused by name."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import BadMigrationFile, CannotUndo
from tests.support import query, run_mig, tables

EMPTY = {
    "0001_a.sql": "CREATE TABLE a (id int);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_zero.sql": "",
    "0003_blank.sql": "\n   \n\t\n",
    "0004_comments.sql": "-- nothing to do on PostgreSQL\n/* kept for the other databases */\n",
    "0005_zero.py": "",
    "0006_nostep.py": '"""Nothing to do here."""\nfrom yoyo import step  # noqa\n',
    "0007_nt.sql": "-- transactional: false\n-- the index is made by 0008\n",
    "0008_b.sql": "CREATE TABLE b (id int);\n",
    "0008_b.rollback.sql": "DROP TABLE b;\n",
}
EMPTY_IDS = ["0002_zero", "0003_blank", "0004_comments", "0005_zero", "0006_nostep", "0007_nt"]
ALL_IDS = ["0001_a", *EMPTY_IDS, "0008_b"]


def _project(tmp_path, db_url, files: dict[str, str]):
    folder = tmp_path / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "yoyo.ini").write_text("[DEFAULT]\nsources = %(here)s/migrations\n"
                                       "migration_table = _yoyo_migration\n")
    for name, content in files.items():
        (folder / name).write_text(content)
    return resolve(database=db_url, project_dir=tmp_path, env={})


def _tables(db_url) -> set[str]:
    """The tables of the migrations (the tracking tables left out)."""
    return {t for t in tables(db_url) if not t.startswith("_")}


def _recorded(db_url) -> tuple[list[str], list[str]]:
    """The ids in yoyo's table and in mig's, in order."""
    yoyo = [r[0] for r in query(db_url, "SELECT migration_id FROM _yoyo_migration"
                                        " ORDER BY applied_at_utc")]
    mine = [r[0] for r in query(db_url, "SELECT migration_id FROM _mig_migrations"
                                        " ORDER BY applied_at, migration_id")]
    return yoyo, mine


def test_empty_migrations_apply_as_recorded_noops(tmp_path, db_url):
    settings = _project(tmp_path, db_url, EMPTY)
    said: list[str] = []
    report = commands.apply(settings, report=said.append)
    assert [m.id for m in report.migrations] == ALL_IDS
    assert [m.id for m in report.migrations if m.empty] == EMPTY_IDS
    for mid in EMPTY_IDS:
        assert any(line.startswith(f"applied {mid} (empty: nothing to run; ") for line in said)
    assert "applied 0001_a (" in "\n".join(said) and "0001_a (empty" not in "\n".join(said)
    assert _tables(db_url) == {"a", "b"}
    yoyo, mine = _recorded(db_url)
    assert yoyo == ALL_IDS and sorted(mine) == sorted(ALL_IDS)
    # every record has its checksum; nothing is left half done
    assert query(db_url, "SELECT count(*) FROM _mig_migrations WHERE checksum IS NULL") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM _mig_partial") == [(0,)]
    status = commands.status(settings, check=True)
    assert status.current and status.problems == []
    assert [a.id for a in status.applied] == ALL_IDS
    assert commands.apply(settings).migrations == []
    # yoyo itself (what `yoyo list` reads) sees every one applied
    from yoyo import get_backend, read_migrations

    backend = get_backend(db_url, migration_table="_yoyo_migration")
    try:
        on_disk = read_migrations(str(tmp_path / "migrations"))
        assert [m.id for m in backend.to_apply(on_disk)] == []
        assert sorted(m.id for m in backend.to_rollback(on_disk)) == sorted(ALL_IDS)
    finally:
        backend.connection.close()


def test_empty_migrations_in_the_json_the_output_and_the_dry_run(tmp_path, db_url):
    _project(tmp_path, db_url, EMPTY)
    env = {"MIG_DATABASE_URL": db_url}
    plan = run_mig(["apply", "--dry-run"], cwd=tmp_path, env=env)
    assert plan.returncode == 0, plan.stderr
    assert "-- apply 0002_zero (empty: nothing to run)" in plan.stdout
    assert "-- apply 0007_nt (non-transactional) (empty: nothing to run)" in plan.stdout
    assert "-- apply 0001_a\n" in plan.stdout
    dry = run_mig(["apply", "--dry-run", "--json"], cwd=tmp_path, env=env)
    entries = json.loads(dry.stdout)["migrations"]
    assert [e["id"] for e in entries if e["empty"]] == EMPTY_IDS
    assert _tables(db_url) == set()

    done = run_mig(["apply"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "applied 8 migration(s)" in done.stdout
    assert "6 of them empty (nothing to run)" in done.stdout
    assert "applied 0004_comments (empty: nothing to run;" in done.stderr
    (tmp_path / "migrations" / "0009_c.sql").write_text("-- later\n")
    last = run_mig(["apply", "--json"], cwd=tmp_path, env=env)
    assert json.loads(last.stdout)["migrations"][0] == {
        "id": "0009_c", "empty": True,
        "duration_ms": json.loads(last.stdout)["migrations"][0]["duration_ms"]}
    # yoyo's own listing agrees with mig's records
    listed = run_mig(["status", "--json"], cwd=tmp_path, env=env)
    assert [a["id"] for a in json.loads(listed.stdout)["applied"]] == [*ALL_IDS, "0009_c"]


def test_empty_migrations_roll_back_as_noops(tmp_path, db_url):
    settings = _project(tmp_path, db_url, EMPTY)
    commands.apply(settings)
    said: list[str] = []
    plan = commands.rollback(settings, to="0001_a", dry_run=True, yes=True)
    assert [m.id for m in plan.migrations if m.empty] == list(reversed(EMPTY_IDS))
    report = commands.rollback(settings, to="0001_a", yes=True, report=said.append)
    assert [m.id for m in report.migrations] == ["0008_b", *reversed(EMPTY_IDS)]
    assert any(line.startswith("rolled back 0005_zero (empty: nothing to run; ")
               for line in said)
    assert _tables(db_url) == {"a"}
    assert _recorded(db_url) == (["0001_a"], ["0001_a"])
    assert query(db_url, "SELECT count(*) FROM _mig_partial") == [(0,)]
    assert "rollback-forced" not in {r[0] for r in query(db_url, "SELECT operation FROM _mig_log")}
    # and they apply again
    commands.apply(settings)
    assert _recorded(db_url)[0] == ALL_IDS


def test_an_empty_rollback_file_of_an_empty_migration_is_a_noop(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_nothing.sql": "-- nothing\n", "0001_nothing.rollback.sql": "",
        "0002_nt.sql": "-- transactional: false\n",
        "0002_nt.rollback.sql": "-- nothing either\n"})
    commands.apply(settings)
    commands.rollback(settings, steps=2, yes=True)
    assert _recorded(db_url) == ([], [])


def test_a_migration_with_statements_and_an_empty_rollback_is_still_refused(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": "CREATE TABLE a (id int);\n", "0001_a.rollback.sql": "-- to do\n"})
    commands.apply(settings)
    with pytest.raises(CannotUndo, match="0001_a has no rollback file"):
        commands.rollback(settings)
    assert _tables(db_url) == {"a"}


def test_an_empty_migration_with_statements_in_its_rollback_runs_them(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": "CREATE TABLE a (id int DEFAULT 1);\n",
        "0001_a.rollback.sql": "DROP TABLE a;\n",
        "0002_drop_default.sql": "ALTER TABLE a ALTER COLUMN id DROP DEFAULT;\n",
        "0002_drop_default.rollback.sql": "-- only the next one's rollback is needed\n",
        "0003_only_down.sql": "-- only down needed\n",
        "0003_only_down.rollback.sql": "ALTER TABLE a ALTER COLUMN id SET DEFAULT 1;\n"})
    commands.apply(settings)
    assert query(db_url, "SELECT column_default FROM information_schema.columns"
                         " WHERE table_name = 'a'") == [(None,)]
    assert query(db_url, "SELECT rollback_kind FROM _mig_migrations"
                         " WHERE migration_id = '0003_only_down'") == [("sql",)]
    said: list[str] = []
    plan = commands.rollback(settings, dry_run=True)
    assert [(m.id, m.empty) for m in plan.migrations] == [("0003_only_down", False)]
    report = commands.rollback(settings, report=said.append)
    assert [(m.id, m.empty) for m in report.migrations] == [("0003_only_down", False)]
    assert not any("empty" in line for line in said)
    assert query(db_url, "SELECT column_default FROM information_schema.columns"
                         " WHERE table_name = 'a'") == [("1",)]


def test_an_empty_migration_whose_file_is_gone_rolls_back_from_its_record(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": "CREATE TABLE a (id int);\n", "0001_a.rollback.sql": "DROP TABLE a;\n",
        "0002_other_branch.sql": "-- nothing on PostgreSQL\n",
        "0003_other_branch.py": ""})
    commands.apply(settings)
    assert query(db_url, "SELECT migration_id, rollback_kind FROM _mig_migrations"
                         " ORDER BY migration_id") == [
        ("0001_a", "sql"), ("0002_other_branch", "empty"), ("0003_other_branch", "empty")]
    (tmp_path / "migrations" / "0002_other_branch.sql").unlink()
    (tmp_path / "migrations" / "0003_other_branch.py").unlink()
    report = commands.rollback(settings, steps=2, yes=True)
    assert [(m.id, m.stored, m.empty) for m in report.migrations] == [
        ("0003_other_branch", True, True), ("0002_other_branch", True, True)]
    assert _recorded(db_url) == (["0001_a"], ["0001_a"])


def test_empty_migrations_in_a_single_transaction_release(tmp_path, db_url):
    settings = _project(tmp_path, db_url, EMPTY)
    report = commands.apply(settings, single_transaction=True)
    assert [m.id for m in report.migrations if m.empty] == EMPTY_IDS
    assert _tables(db_url) == {"a", "b"}
    assert _recorded(db_url)[0] == ALL_IDS


def test_verify_passes_a_history_with_empty_migrations(tmp_path, db_url):
    settings = _project(tmp_path, db_url, EMPTY)
    result = commands.verify(settings, scratch=db_url, keep_going=True)
    assert not result.failures
    assert {m.id for m in result.migrations} == set(ALL_IDS)


def test_a_comment_only_piece_of_a_non_transactional_migration_is_not_sent(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_nt.sql": "-- transactional: false\nCREATE TABLE a (id int);\n"
                       "/* the index follows later */\n"})
    report = commands.apply(settings)
    assert [m.empty for m in report.migrations] == [False]
    assert _tables(db_url) == {"a"}


# -- files that end the process when imported, and __transactional__ ------------------------
@pytest.mark.parametrize("body, line, call", [
    ("import os\nos._exit(0)\n", 2, "os._exit(0)"),
    ("import os\n\n\ndef stop():\n    os._exit(0)\n\n\nstop()\n", 5, "os._exit(0)"),
    ("from os import _exit\n_exit(3)\n", 2, "os._exit(3)"),
    ("import os\nos.abort()\n", 2, "os.abort()"),
])
def test_os_exit_at_import_is_a_bad_file_not_a_silent_exit(tmp_path, db_url, body, line, call):
    _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                "0002_exit.py": body})
    result = run_mig(["apply"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1, result
    assert f"0002_exit.py:{line}: the migration calls {call} when imported" in result.stderr
    assert _tables(db_url) == set()


def test_the_exit_functions_are_restored_after_an_import(tmp_path, db_url):
    # in a process of its own: without the guard, the import would end this one
    _project(tmp_path, db_url, {"0001_exit.py": "import os\nos._exit(0)\n",
                                "0002_ok.py": "from yoyo import step\n"
                                              "steps = [step('SELECT 1')]\n"})
    script = (
        "import os, sys\n"
        "from mig import commands\n"
        "from mig.config import resolve\n"
        "from mig.errors import BadMigrationFile\n"
        "real = os._exit, os.abort\n"
        "try:\n"
        f"    commands.apply(resolve(database={db_url!r}, project_dir={str(tmp_path)!r},"
        " env={}))\n"
        "except BadMigrationFile as exc:\n"
        "    print('refused:', exc.message.splitlines()[0])\n"
        "print('restored:', (os._exit, os.abort) == real)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert "refused: " in result.stdout and "calls os._exit(0)" in result.stdout, result
    assert "restored: True" in result.stdout, result


@pytest.mark.parametrize("value", ['"no"', '"false"', "0", "None"])
def test_transactional_must_be_a_bool(tmp_path, db_url, value):
    settings = _project(tmp_path, db_url, {
        "0001_a.py": f"from yoyo import step\n__transactional__ = {value}\n"
                     "steps = [step('CREATE TABLE a (id int)')]\n"})
    with pytest.raises(BadMigrationFile) as info:
        commands.apply(settings)
    shown = repr(ast.literal_eval(value))
    assert f"0001_a.py:2: __transactional__ must be True or False, got {shown}" \
        in str(info.value)
    assert _tables(db_url) == set()
    with pytest.raises(BadMigrationFile, match="__transactional__ must be True or False"):
        commands.apply(settings)  # asked again, refused again


def test_transactional_false_still_runs_outside_a_transaction(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.py": "from yoyo import step\n__transactional__ = False\n"
                     "steps = [step('CREATE TABLE a (id int)'),"
                     " step('CREATE INDEX CONCURRENTLY a_id ON a (id)')]\n"})
    commands.apply(settings)
    assert _tables(db_url) == {"a"}


def test_diff_and_the_history_lock_file_take_empty_migrations(tmp_path, db_url, pg_server):
    from mig.commands.drift import diff
    from mig.disk import scripts as scripts_mod
    from mig.disk import sumfile

    settings = _project(tmp_path, db_url, EMPTY)
    commands.apply(settings)
    report = diff(settings, scratch=pg_server.url())
    assert report.differences == [] and not report.drift
    assert report.migrations == ALL_IDS and report.pending == []
    scripts, hooks = scripts_mod.load(settings.sources)
    sumfile.write(settings.sources, scripts + hooks, force=True)
    listed = sumfile.read(tmp_path / "migrations" / "mig.sum").entries
    assert [e.id for e in listed] == ALL_IDS
    result = run_mig(["lint", "--json"], cwd=tmp_path)
    rules = {f["rule"] for f in json.loads(result.stdout)["findings"]}
    assert not {r for r in rules if r.startswith("history-")}, result.stdout


def test_a_file_of_semicolons_and_comments_is_empty_not_an_empty_query(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {"0001_semi.sql": ";\n-- nothing\n;;\n",
                                           "0002_semi_nt.sql": "-- transactional: false\n;\n"})
    report = commands.apply(settings)
    assert [(m.id, m.empty) for m in report.migrations] == [
        ("0001_semi", True), ("0002_semi_nt", True)]
    assert _recorded(db_url)[0] == ["0001_semi", "0002_semi_nt"]


def test_sql_steps_of_a_python_migration_that_hold_no_statement_run_nothing(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.py": "from yoyo import step, group\n"
                     "steps = [step('CREATE TABLE a (id int)', ''),\n"
                     "         group([step('-- to do', '/* nothing */')])]\n"})
    (template,) = commands.new(settings, "not written yet", python=True)
    report = commands.apply(settings)
    assert [(m.id, m.empty) for m in report.migrations] == [
        ("0001_a", False), (template.stem, True)]
    assert _tables(db_url) == {"a"}
    commands.rollback(settings)  # the template's: nothing to undo
    # an empty rollback string is no rollback: refused, not sent as an empty query
    with pytest.raises(CannotUndo, match="0001_a has no step with a rollback"):
        commands.rollback(settings)
    assert _tables(db_url) == {"a"}
