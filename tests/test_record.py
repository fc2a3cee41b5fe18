"""The record never lies: after any fault, what mig reports is what the database holds.

Partial non-transactional runs, files that would run other than they read, honest errors,
and the consistency check (``mig status --check``) against the catalog.
"""

from __future__ import annotations

import json
import os

import psycopg2
import psycopg2.errors
import pytest

from mig import commands
from mig.config import resolve
from mig.errors import (
    BadMigrationFile,
    ChecksumMismatch,
    Refused,
    StatementFailed,
    Unfinished,
)
from tests.support import query, run_mig, tables, write_project

NONTX = {
    "0001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, n int);\n",
    "0001_t.rollback.sql": "DROP TABLE t;\n",
    "0002_nt.sql": """
        -- depends: 0001_t
        -- transactional: false
        CREATE INDEX CONCURRENTLY t_n ON t (n);
        CREATE TABLE u (id int);
    """,
    "0002_nt.rollback.sql": "DROP TABLE u;\nDROP INDEX CONCURRENTLY t_n;\n",
}


def test_progress_table_of_an_older_mig_is_upgraded_and_resumed(tmp_path, db_url):
    """A _mig_progress written by an older mig (no direction, no checksums) is upgraded in
    place and its completed step still counts on resume."""
    write_project(tmp_path, NONTX)
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings, to="0001_t")
    query(db_url, "DROP TABLE _mig_progress, _mig_partial;"
                  " CREATE TABLE _mig_progress (migration_id text NOT NULL, step integer NOT NULL,"
                  " done_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_id, step));"
                  " INSERT INTO _mig_progress VALUES ('0002_nt', 0);"
                  " CREATE INDEX t_n ON t (n)")
    commands.apply(settings)
    assert query(db_url, "SELECT count(*) FROM u") == [(0,)]
    columns = query(db_url, "SELECT attname FROM pg_attribute WHERE attrelid = '_mig_progress'"
                            "::regclass AND attnum > 0 ORDER BY attnum")
    assert [c[0] for c in columns] == ["migration_id", "step", "done_at", "direction", "checksum"]
    assert query(db_url, "SELECT count(*) FROM _mig_progress") == [(0,)]


# -- files that would run other than they read (items 4, 5, 6, 7, 10) --------------------------
def _project(tmp_path, db_url, files: dict[str, bytes | str]):
    folder = tmp_path / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (tmp_path / "yoyo.ini").write_text("[DEFAULT]\nsources = %(here)s/migrations\n"
                                       "migration_table = _yoyo_migration\n")
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return resolve(database=db_url, project_dir=tmp_path, env={})


def _refused(settings, *calls) -> list[str]:
    texts = []
    for call in calls:
        with pytest.raises(BadMigrationFile) as info:
            call(settings)
        texts.append(str(info.value))
    return texts


@pytest.mark.parametrize("transactional", [True, False])
def test_a_nul_byte_is_refused_by_file_and_line(tmp_path, db_url, transactional):
    head = b"" if transactional else b"-- transactional: false\n"
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": head + b"CREATE TABLE a (id int);\n\0CREATE TABLE b (id int);\n"})
    for text in _refused(settings, commands.apply, commands.status):
        assert f"0001_a.sql:{3 - transactional}: the file holds a NUL byte" in text
    assert tables(db_url) == set()
    result = run_mig(["lint"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1 and "0001_a.sql" in result.stderr


def test_invalid_utf8_is_refused_by_file_and_line(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": b"CREATE TABLE a (id int);\n",
        "0001_a.rollback.sql": b"DROP TABLE a;\n",
        "0002_b.sql": b"CREATE TABLE b (id int);\n-- caf\xe9\n"})
    for text in _refused(settings, commands.apply, commands.status, commands.rollback):
        assert "0002_b.sql:2: not valid UTF-8 (byte 0xe9 at offset 31)" in text
    assert tables(db_url) == set()
    result = run_mig(["lint"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1 and "0002_b.sql:2: not valid UTF-8" in result.stderr
    assert "UnicodeDecodeError" not in result.stderr


def test_a_byte_order_mark_is_stripped(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": "\ufeffCREATE TABLE a (id int);\n",
        "0001_a.rollback.sql": "\ufeffDROP TABLE a;\n",
        "0002_b.sql": "\ufeff-- transactional: false\nCREATE TABLE b (id int);\n",
        "0002_b.rollback.sql": "\ufeffDROP TABLE b;\n"})
    commands.apply(settings)
    assert {"a", "b"} <= tables(db_url)
    commands.rollback(settings, steps=2, yes=True)
    assert not {"a", "b"} & tables(db_url)


@pytest.mark.parametrize("statement", ["COMMIT", "begin", "ROLLBACK", "END",
                                       "START TRANSACTION ISOLATION LEVEL SERIALIZABLE"])
def test_transaction_control_in_a_transactional_migration_is_refused(tmp_path, db_url,
                                                                    statement):
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": f"CREATE TABLE a (id int);\n{statement};\nCREATE TABLE b (id int);\n"})
    (text,) = _refused(settings, commands.apply)
    assert f"0001_a.sql:2: '{statement}' in a transactional migration" in text
    assert tables(db_url) == set()


def test_transaction_control_is_allowed_where_it_belongs(tmp_path, db_url):
    """A savepoint rollback, a DO block's body and a non-transactional file are not refused."""
    settings = _project(tmp_path, db_url, {
        "0001_a.sql": "CREATE TABLE a (id int);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n"
                      "DO $$ BEGIN PERFORM 1; END $$;\n",
        "0002_b.sql": "-- transactional: false\nCREATE TABLE b (id int);\nCOMMIT;\n"})
    commands.apply(settings)
    assert {"a", "b"} <= tables(db_url)


@pytest.mark.parametrize("code", ["0", "3"])
def test_sys_exit_at_import_is_a_bad_file_not_the_exit_code(tmp_path, db_url, code):
    _project(tmp_path, db_url, {
        "0001_a.sql": "CREATE TABLE a (id int);\n",
        "0002_exit.py": f"import sys\nsys.exit({code})\n"})
    result = run_mig(["apply"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1, result
    assert f"0002_exit.py:2: the migration calls sys.exit({code}) when imported" in result.stderr
    assert tables(db_url) == set()


# -- partial runs: resume by content, partial states (items 1, 2, 3) ---------------------------
def test_an_edited_partial_migration_is_refused_then_resumed_by_content(tmp_path, pg_server,
                                                                       db_url):
    files = {"0001_nt.sql": "-- transactional: false\nCREATE TABLE nt (id int);\n"
                            "CREATE INDEX CONCURRENTLY nt_x ON nt (missing_column);\n"}
    settings = _project(tmp_path, db_url, files)
    with pytest.raises(StatementFailed, match="1 of 2 step"):
        commands.apply(settings)
    status = commands.status(settings)
    assert [(p.id, p.summary) for p in status.partial] == [
        ("0001_nt", "partial: 1 of 2 steps applied")]
    assert not status.current
    # a fix inserted at the top, and the failing statement corrected
    path = tmp_path / "migrations" / "0001_nt.sql"
    path.write_text("-- transactional: false\nCREATE TABLE fix (id int);\n"
                    "CREATE TABLE nt (id int);\nCREATE INDEX CONCURRENTLY nt_x ON nt (id);\n")
    assert [e.kind for e in commands.status(settings).edited] == ["edited-partial"]
    with pytest.raises(ChecksumMismatch) as info:
        commands.apply(settings)
    text = str(info.value)
    assert "partial: 1 of 2 steps applied" in text and "edited since that run started" in text
    assert "mig repair" in text and "restore the files" in text
    assert "fix" not in tables(db_url)
    commands.repair(settings)
    commands.apply(settings)  # the fix runs, CREATE TABLE nt is skipped by content
    assert {"fix", "nt"} <= tables(db_url)
    assert query(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'nt_x'::regclass"
                 ) == [(True,)]
    assert commands.status(settings, check=True, scratch=pg_server.url()).problems == []


ROLLBACK_STOPS = {
    "0001_uv.sql": "-- transactional: false\nCREATE TABLE u (id int);\nCREATE TABLE v (id int);\n",
    "0001_uv.rollback.sql": "DROP TABLE v;\nDROP TABLE u;\n",
}


def test_an_interrupted_rollback_is_not_current_anywhere(tmp_path, db_url):
    settings = _project(tmp_path, db_url, ROLLBACK_STOPS)
    commands.apply(settings)
    query(db_url, "CREATE VIEW u_view AS SELECT * FROM u")  # makes DROP TABLE u fail
    with pytest.raises(StatementFailed) as info:
        commands.rollback(settings)
    assert "1 of 2 step(s) undone; 0001_uv is still recorded as applied" in str(info.value)
    assert "nothing of this" not in str(info.value)
    status = commands.status(settings)
    assert [p.summary for p in status.partial] == ["rolling back: 1 of 2 steps undone"]
    assert not status.current
    env = {"MIG_DATABASE_URL": db_url}
    result = run_mig(["status", "--exit-code"], cwd=tmp_path, env=env)
    assert result.returncode == 4 and "rolling back: 1 of 2 steps undone" in result.stdout
    assert "hint: run 'mig rollback'" in result.stdout
    result = run_mig(["wait", "--timeout", "0.2"], cwd=tmp_path, env=env)
    assert result.returncode == 4 and "rolling back" in result.stderr
    with pytest.raises(Unfinished, match="rolling back: 1 of 2 steps undone"):
        commands.apply(settings)
    json_status = json.loads(run_mig(["status", "--json"], cwd=tmp_path, env=env).stdout)
    assert json_status["current"] is False
    assert json_status["partial"][0]["state"] == "rolling back"
    query(db_url, "DROP VIEW u_view")
    commands.rollback(settings)  # resumes: DROP TABLE v is not run again
    assert not {"u", "v"} & tables(db_url)
    assert commands.status(settings).partial == []


def test_an_invalid_index_of_a_failed_cic_is_named_and_rebuilt(tmp_path, pg_server, db_url):
    files = {"0001_t.sql": "CREATE TABLE t (n int);\nINSERT INTO t VALUES (1), (1);\n",
             "0002_cic.sql": "-- depends: 0001_t\n-- transactional: false\n"
                             "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_n ON t (n);\n"}
    settings = _project(tmp_path, db_url, files)
    with pytest.raises(StatementFailed, match="could not create unique index"):
        commands.apply(settings)
    status = commands.status(settings, check=True, scratch=pg_server.url())
    assert [i.name for i in status.invalid_indexes] == ["t_n"]
    assert status.invalid_indexes[0].sql == 'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_n";'
    assert {p.kind for p in status.problems} == {"partial", "invalid-index"}
    result = run_mig(["status", "--check"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url,
                                                            "MIG_SCRATCH_SERVER": pg_server.url()})
    assert result.returncode == 7, result
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."t_n";' in result.stdout
    query(db_url, "DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)")
    commands.apply(settings)  # IF NOT EXISTS would keep the INVALID index: it is rebuilt
    assert query(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n'::regclass"
                 ) == [(True,)]
    # the history needs the duplicate deleted by hand: on an empty database it does not build,
    # and the check says it compared nothing rather than report what the build lacks
    (problem,) = commands.status(settings, check=True, scratch=pg_server.url()).problems
    assert problem.kind == "unchecked", problem
    assert "0002_cic" in problem.message and "could not create unique index" in problem.message


def test_check_sees_an_applied_migrations_missing_table(tmp_path, pg_server, db_url):
    settings = _project(tmp_path, db_url, ROLLBACK_STOPS)
    commands.apply(settings)
    assert commands.status(settings, check=True, scratch=pg_server.url()).problems == []
    query(db_url, "DROP TABLE v")
    problems = commands.status(settings, check=True, scratch=pg_server.url()).problems
    assert [(p.kind, p.subject) for p in problems] == [("missing-object", "public.v")]


# -- serialisation and leftovers (items 14, 15, 16) --------------------------------------------
def test_seed_waits_for_the_migration_lock(tmp_path, db_url):
    from mig.engine.lock import lock_key
    from mig.errors import EXIT_LOCK_TIMEOUT
    from tests.support import REPO, apply_product_schema

    apply_product_schema(db_url)
    holder = psycopg2.connect(db_url, application_name="apply-in-progress")
    holder.autocommit = True
    try:
        holder.cursor().execute("SELECT pg_advisory_lock(%s)", (lock_key("_yoyo_migration"),))
        result = run_mig(["seed", "-d", db_url], cwd=REPO, env={"MIG_LOCK_WAIT": "0.5"})
    finally:
        holder.close()
    assert result.returncode == EXIT_LOCK_TIMEOUT, result
    assert "migration lock" in result.stderr and "apply-in-progress" in result.stderr
    assert query(db_url, "SELECT count(*) FROM roles") == [(0,)]
    result = run_mig(["seed", "-d", db_url], cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_verify_sweeps_the_scratch_databases_a_killed_run_left(tmp_path, pg_server, db_url):
    from mig.commands import verify

    admin = psycopg2.connect(pg_server.url())
    admin.autocommit = True
    # what a killed verify leaves: a scratch database named after a server pid now gone
    with admin.cursor() as cur:
        cur.execute("SELECT max(pid) + 100000 FROM pg_stat_activity")
        gone = cur.fetchone()[0]
        cur.execute(f'CREATE DATABASE "mig_verify_{gone}_0123456789ab"')
        cur.execute('CREATE DATABASE "mig_verify_keep_0123456789ab"')
    try:
        settings = _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                               "0001_a.rollback.sql": "DROP TABLE a;\n"})
        status = commands.status(settings, check=True, scratch=pg_server.url())
        assert [(p.kind, p.subject) for p in status.problems] == [
            ("scratch-database", f"mig_verify_{gone}_0123456789ab")]
        lines: list[str] = []
        verify(settings, scratch=pg_server.url(), report=lines.append)
        assert f"dropped scratch database mig_verify_{gone}_0123456789ab" in "\n".join(lines)
        left = query(pg_server.url(), "SELECT datname FROM pg_database WHERE datname LIKE"
                                      " 'mig_verify%' ORDER BY 1")
        assert left == [("mig_verify_keep_0123456789ab",)]  # a kept one stays
    finally:
        with admin.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "mig_verify_keep_0123456789ab"')
            cur.execute(f'DROP DATABASE IF EXISTS "mig_verify_{gone}_0123456789ab"')
        admin.close()


def test_diff_sees_an_invalid_index(tmp_path, db_url):
    from mig.engine.comparison import diff
    from mig.engine.snapshot import snapshot

    query(db_url, "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (1)")
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        before = snapshot(conn)
        with pytest.raises(psycopg2.errors.UniqueViolation):
            conn.cursor().execute("CREATE UNIQUE INDEX CONCURRENTLY t_n ON t (n)")
        conn.cursor().execute("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)")
        conn.cursor().execute("CREATE UNIQUE INDEX t_valid ON t (n)")
        after = snapshot(conn)
    finally:
        conn.close()
    lines = diff(before, after)
    assert any("t_n" in line and "INVALID" in line for line in lines), lines
    assert not any("t_valid" in line and "INVALID" in line for line in lines), lines


# -- one honest error per failure (items 8, 9, 11, 12, 13) -------------------------------------
def test_a_lost_connection_names_its_cause_and_what_stays_applied(tmp_path, db_url):
    _project(tmp_path, db_url, {
        "0001_a.sql": "CREATE TABLE a (id int);\n",
        "0002_lost.sql": "-- transactional: false\nCREATE TABLE b (id int);\n"
                         "SELECT pg_terminate_backend(pg_backend_pid());\n"
                         "CREATE TABLE c (id int);\n"})
    result = run_mig(["apply"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1
    err = result.stderr
    assert "lost the connection to the database while applying 0002_lost" in err
    assert "server closed the connection unexpectedly" in err  # libpq's words for the cause
    assert "1 of 3 steps of 0002_lost remain applied" in err
    assert "applied before it in this run (and still applied): 0001_a" in err
    assert "unexpected InterfaceError" not in err and "connection already closed" not in err
    status = commands.status(resolve(database=db_url, project_dir=tmp_path, env={}))
    assert [p.summary for p in status.partial] == ["partial: 1 of 3 steps applied"]


def test_a_lost_connection_in_a_transactional_migration(tmp_path, db_url):
    _project(tmp_path, db_url, {
        "0001_lost.sql": "CREATE TABLE b (id int);\n"
                         "SELECT pg_terminate_backend(pg_backend_pid());\n"})
    result = run_mig(["apply"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1
    assert "lost the connection to the database while applying 0001_lost" in result.stderr
    assert "nothing of 0001_lost is applied (its transaction never committed)" in result.stderr
    assert "unexpected InterfaceError" not in result.stderr
    assert tables(db_url) >= {"_yoyo_migration"} and "b" not in tables(db_url)


def test_a_failed_transactional_migration_gives_no_false_warning(tmp_path, db_url):
    _project(tmp_path, db_url, {"0001_bad.sql": "CREATE TABLE a (id int);\nSELECT 1 / 0;\n"})
    result = run_mig(["apply"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 1 and "division by zero" in result.stderr
    assert "no transaction in progress" not in result.stderr + result.stdout


def test_dry_runs_refuse_where_the_real_commands_refuse(tmp_path, db_url):
    _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                "0002_b.sql": "CREATE TABLE b (id int);\n"})
    env = {"MIG_DATABASE_URL": db_url}
    assert run_mig(["apply"], cwd=tmp_path, env=env).returncode == 0
    dry = run_mig(["rollback", "--dry-run"], cwd=tmp_path, env=env)
    real = run_mig(["rollback"], cwd=tmp_path, env=env)
    assert dry.returncode == real.returncode == 6, (dry, real)
    assert "0002_b has no rollback file" in dry.stderr and "0002_b has no rollback" in real.stderr
    result = run_mig(["apply", "--to", "NO_SUCH_ID"], cwd=tmp_path, env=env)
    assert result.returncode == 1 and "--to NO_SUCH_ID: no such migration" in result.stderr
    result = run_mig(["apply", "--to", "NO_SUCH_ID", "--dry-run"], cwd=tmp_path, env=env)
    assert result.returncode == 1 and "--to NO_SUCH_ID: no such migration" in result.stderr


def test_every_refused_migration_is_named_with_the_refusal_code(tmp_path, db_url):
    _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                "0002_b.sql": "CREATE TABLE b (id int);\n",
                                "0003_c.sql": "CREATE TABLE c (id int);\n",
                                "0003_c.rollback.sql": "DROP TABLE c;\n"})
    env = {"MIG_DATABASE_URL": db_url}
    assert run_mig(["apply"], cwd=tmp_path, env=env).returncode == 0
    result = run_mig(["rollback", "--steps", "3", "--yes"], cwd=tmp_path, env=env)
    assert result.returncode == 6, result
    assert "2 migrations of this rollback cannot be undone" in result.stderr
    assert "0002_b has no rollback file" in result.stderr
    assert "0001_a has no rollback file" in result.stderr
    assert {"a", "b", "c"} <= tables(db_url)  # refused before anything ran


def test_a_failed_rollback_says_the_migration_is_still_applied(tmp_path, db_url):
    settings = _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                           "0001_a.rollback.sql": "DROP TABLE a;\nSELECT 1/0;\n"})
    report = commands.apply(settings)
    assert report.duration_ms >= sum(m.duration_ms for m in report.migrations)
    with pytest.raises(StatementFailed) as info:
        commands.rollback(settings)
    text = str(info.value)
    assert "nothing of this rollback was done: 0001_a is still applied" in text
    assert "nothing of this migration was applied" not in text
    assert commands.status(settings).current


def test_the_apply_summary_is_the_whole_run(tmp_path, db_url):
    """The printed total is the run's wall time, commits included (as --json's duration_ms)."""
    _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                "0002_b.sql": "CREATE TABLE b (id int);\n"})
    result = run_mig(["apply", "--json"], cwd=tmp_path, env={"MIG_DATABASE_URL": db_url})
    data = json.loads(result.stdout)
    assert data["duration_ms"] >= sum(m["duration_ms"] for m in data["migrations"])


# -- the log tells forced rollbacks and adoptions apart (item 17) -----------------------------
def test_forced_rollbacks_and_adoptions_are_logged_distinctly(tmp_path, db_url):
    from yoyo import get_backend, read_migrations

    settings = _project(tmp_path, db_url, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                                           "0002_b.sql": "CREATE TABLE b (id int);\n",
                                           "0002_b.rollback.sql": "DROP TABLE b;\n",
                                           "0003_c.sql": "CREATE TABLE c (id int);\n"})
    backend = get_backend(db_url)  # plain yoyo applies the first one
    with backend.lock():
        backend.apply_migrations(backend.to_apply(read_migrations(
            str(tmp_path / "migrations")).filter(lambda m: m.id == "0001_a")))
    backend.connection.close()
    commands.apply(settings)
    with pytest.raises(Refused):
        commands.rollback(settings)  # 0003_c has no rollback file: refused ...
    commands.rollback(settings, force=True)  # ... unless forced
    commands.rollback(settings)  # 0002_b, an ordinary rollback
    rows = query(db_url, "SELECT migration_id, operation, detail, by_user IS NOT NULL,"
                         " os_user IS NOT NULL, host IS NOT NULL, at IS NOT NULL"
                         " FROM _mig_log ORDER BY id")
    assert [r[:2] for r in rows] == [("0001_a", "adopt"), ("0003_c", "rollback-forced"),
                                     ("0002_b", "rollback")]
    assert all(r[3:] == (True, True, True, True) for r in rows)
    assert "applied by plain yoyo" in rows[0][2] and "neither run nor checked" in rows[0][2]
    assert "forced (--force): 0003_c has no rollback file" in rows[1][2]
    assert "stays in the database" in rows[1][2]
    assert rows[2][2] is None


_ZOMBIE_POSTMASTER = r"""
import ctypes, os, signal, sys
import psycopg2
from mig.server import LocalServer

# Orphans become this process's children and stay zombies until it reaps them: what a
# container whose init does not reap leaves after the postmaster is SIGKILLed.
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
server = LocalServer(sys.argv[1], settings={"fsync": "off"})
server.start()
pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
os.kill(pid, signal.SIGKILL)
while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    pass
try:
    server.start()
    conn = psycopg2.connect(server.url(), connect_timeout=10)
    conn.close()
    print("restarted")
except Exception as exc:
    print("failed:", exc)
finally:
    server.stop()
    while True:
        try:
            if os.waitpid(-1, 0)[0] == 0:
                break
        except ChildProcessError:
            break
"""


def test_the_embedded_server_restarts_over_a_zombie_postmaster(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _ZOMBIE_POSTMASTER, str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=180)
    assert result.stdout.strip() == "restarted", result


def test_a_lost_connection_during_a_seed_says_nothing_was_written(tmp_path, db_url):
    import subprocess
    import sys

    from tests.support import REPO, apply_product_schema

    apply_product_schema(db_url)
    blocker = psycopg2.connect(db_url)
    try:
        blocker.cursor().execute("LOCK TABLE roles IN ACCESS EXCLUSIVE MODE")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
        env.pop("DATABASE_URL", None)
        proc = subprocess.Popen([sys.executable, "-m", "mig", "seed", "-d", db_url], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        # the seed waits for the table lock; then its session is terminated
        terminated = []
        while not terminated and proc.poll() is None:
            terminated = query(db_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                       " WHERE application_name LIKE 'mig seed%%'"
                                       " AND wait_event_type = 'Lock'", ())
        out, err = proc.communicate(timeout=120)
    finally:
        blocker.close()
    assert terminated, err
    assert proc.returncode == 1, err
    assert "lost the connection to the database while loading seeds" in err
    assert "nothing of this seed run was written" in err
    assert "InterfaceError" not in err and "connection already closed" not in err
    assert query(db_url, "SELECT count(*) FROM roles") == [(0,)]
