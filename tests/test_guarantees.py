"""The runner's guarantees under concurrency, crashes and locks, against a real server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from mig.engine.comparison import diff
from mig.engine.lock import lock_key
from mig.engine.snapshot import Snapshot, snapshot
from mig.errors import EXIT_LOCK_TIMEOUT, ChecksumMismatch, LockTimeout, StatementFailed
from tests.support import query, run_mig, tables, wait_for, write_project

CHAIN = {
    "0001_a.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
    "0002_b.sql": "-- depends: 0001_a\nCREATE TABLE b (id int);\nCREATE INDEX b_id ON b (id);\n",
    "0003_c.sql": "-- depends: 0002_b\nCREATE TABLE c (id int);\n",
}
SLOW = {
    **CHAIN,
    "0004_slow.sql": "-- depends: 0003_c\nCREATE TABLE slow (id int);\nSELECT pg_sleep(12);\n",
}
WAITERS = 4  # processes waiting for the lock while CREATE INDEX CONCURRENTLY runs


def _spawn(args, cwd, env=None, stderr: Path | None = None):
    """A mig process; its stderr piped, or written to the file ``stderr``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    full_env.update(env or {})
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(open(stderr, "w")) if stderr else subprocess.PIPE
        return subprocess.Popen([sys.executable, "-m", "mig", *args], cwd=cwd, env=full_env,
                                stdout=subprocess.PIPE, stderr=err, text=True)


def _applied_once(url: str) -> dict[str, int]:
    return dict(query(url, "SELECT migration_id, count(*) FROM _yoyo_log"
                           " WHERE operation = 'apply' GROUP BY 1"))


def _run_many(tmp_path, url, n):
    procs = [_spawn(["apply", "-d", url], tmp_path) for _ in range(n)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    return results


@pytest.mark.slow
def test_sixteen_processes_apply_each_migration_once(tmp_path, db_url, pg_server):
    write_project(tmp_path, CHAIN)
    results = _run_many(tmp_path, db_url, 16)
    assert [rc for rc, _ in results] == [0] * 16, [err for _, err in results]
    assert _applied_once(db_url) == {"0001_a": 1, "0002_b": 1, "0003_c": 1}
    # the final state equals a single run's
    from tests.support import create_database, drop_database

    single = create_database(pg_server)
    try:
        assert run_mig(["apply", "-d", pg_server.url(single)], cwd=tmp_path).returncode == 0
        alone, many = _schema(pg_server.url(single)), _schema(db_url)
        assert diff(alone, many) == [] and alone == many
        assert alone["tables"].keys() == {"a", "b", "c"} and "b_id" in alone["indexes"]
        assert _records(pg_server.url(single)) == _records(db_url)
    finally:
        drop_database(pg_server, single)


def _schema(url: str) -> Snapshot:
    conn = psycopg2.connect(url)
    try:
        return snapshot(conn)
    finally:
        conn.close()


def _records(url: str) -> dict[str, list[tuple]]:
    """What the database records about its migrations, without times, durations and ids."""
    return {
        "_yoyo_migration": query(url, "SELECT migration_id, migration_hash"
                                      " FROM _yoyo_migration ORDER BY 1"),
        "_yoyo_log": query(url, "SELECT migration_id, migration_hash, operation FROM _yoyo_log"
                                " ORDER BY 1, 3"),
        "_mig_migrations": query(url, "SELECT migration_id, checksum FROM _mig_migrations"
                                      " ORDER BY 1"),
        "_mig_progress": query(url, "SELECT migration_id, step FROM _mig_progress ORDER BY 1, 2"),
    }


@pytest.mark.long
@pytest.mark.slow
def test_waiters_outlast_a_twelve_second_migration(tmp_path, db_url):
    write_project(tmp_path, SLOW)
    results = _run_many(tmp_path, db_url, 16)
    assert [rc for rc, _ in results] == [0] * 16, [err for _, err in results]
    assert _applied_once(db_url) == {"0001_a": 1, "0002_b": 1, "0003_c": 1, "0004_slow": 1}
    # waiters said who held the lock while they waited
    assert any("waiting for the migration lock" in err and "mig apply" in err
               for _, err in results)


@pytest.mark.slow
def test_killed_holder_leaves_no_lock_and_no_trace(tmp_path, db_url):
    write_project(tmp_path, {
        "0001_a.sql": "CREATE TABLE a (id int);\n",
        "0002_half.py": """
            import os
            from yoyo import step
            __depends__ = {"0001_a"}
            pause = "SELECT pg_sleep(60)" if os.environ.get("SLOW_MIGRATION") else "SELECT 1"
            steps = [step("CREATE TABLE half (id int)", "DROP TABLE half"), step(pause)]
        """,
    })
    proc = _spawn(["apply", "-d", db_url], tmp_path, {"SLOW_MIGRATION": "1"})
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pg_stat_activity"
                                   " WHERE query LIKE '%SELECT pg_sleep(60)%'"
                                   " AND pid <> pg_backend_pid()")[0][0] == 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    started = time.monotonic()
    result = run_mig(["apply", "-d", db_url, "--lock-wait", "30"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    # 0001_a committed before the kill; 0002_half is applied once, by the second run
    assert _applied_once(db_url) == {"0001_a": 1, "0002_half": 1}
    assert {"a", "half"} <= tables(db_url)


def test_killed_holder_half_done_migration_is_rolled_back(tmp_path, db_url):
    """Right after the kill, neither the change nor its record exists."""
    write_project(tmp_path, {
        "0001_half.sql": "CREATE TABLE half (id int);\nSELECT pg_sleep(60);\n",
    })
    proc = _spawn(["apply", "-d", db_url], tmp_path)
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pg_stat_activity"
                                   " WHERE query LIKE '%SELECT pg_sleep(60)%'"
                                   " AND pid <> pg_backend_pid()")[0][0] == 1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    # the server notices the dead client (client_connection_check_interval) and rolls back
    wait_for(lambda: query(db_url, "SELECT count(*) FROM pg_stat_activity"
                                   " WHERE query LIKE '%SELECT pg_sleep(60)%'"
                                   " AND pid <> pg_backend_pid()")[0][0] == 0)
    assert "half" not in tables(db_url)
    assert query(db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [(0,)]


FAULT = """
import os, signal, sys
from mig import commands
from mig.config import resolve
from mig.engine.runner import Runner
Runner._before_commit = lambda self, script: os.kill(os.getpid(), signal.SIGKILL)
commands.apply(resolve(database=sys.argv[1], project_dir=sys.argv[2], env={}))
"""


def test_fault_before_commit_leaves_neither_change_nor_record(tmp_path, db_url):
    write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n"})
    proc = subprocess.run([sys.executable, "-c", FAULT, db_url, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert "a" not in tables(db_url)
    assert query(db_url, "SELECT count(*) FROM _yoyo_migration") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM _mig_migrations") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM _yoyo_log") == [(0,)]
    # and the next run applies it normally
    assert run_mig(["apply", "-d", db_url], cwd=tmp_path).returncode == 0
    assert query(db_url, "SELECT id FROM a") == [(1,)]


def test_change_and_records_commit_in_one_transaction(tmp_path, db_url):
    """The catalog row of each migration's table and every row recording that migration were
    written by the same transaction."""
    write_project(tmp_path, {**CHAIN, "0004_py.py": """
        from yoyo import step
        __depends__ = {"0003_c"}
        steps = [step("CREATE TABLE py (id int)", "DROP TABLE py"),
                 step(lambda conn: conn.cursor().execute("INSERT INTO py VALUES (1)"))]
    """})
    assert run_mig(["apply", "-d", db_url], cwd=tmp_path).returncode == 0
    xids = {}
    for migration, table in [("0001_a", "a"), ("0002_b", "b"), ("0003_c", "c"), ("0004_py", "py")]:
        found = query(db_url, """
            SELECT (SELECT xmin::text FROM pg_class WHERE oid = %(table)s::regclass),
                   (SELECT xmin::text FROM _yoyo_migration WHERE migration_id = %(id)s),
                   (SELECT string_agg(xmin::text, ',') FROM _yoyo_log
                     WHERE migration_id = %(id)s),
                   (SELECT xmin::text FROM _mig_migrations WHERE migration_id = %(id)s)
        """, {"table": table, "id": migration})[0]
        assert None not in found and len(set(found)) == 1, (migration, found)
        xids[migration] = found[0]
    assert query(db_url, "SELECT DISTINCT xmin::text FROM py") == [(xids["0004_py"],)]
    # consecutive transactional migrations commit as one group, each with its records
    assert len(set(xids.values())) == 1


def test_a_failed_group_is_applied_again_one_by_one(tmp_path, db_url):
    """A group that fails commits nothing; applied again one migration at a time, those
    before the failing one land (each in its own transaction, with its records), the failure
    names its migration, and nothing after it runs."""
    write_project(tmp_path, {**CHAIN,
                             "0004_bad.sql": "-- depends: 0003_c\nINSERT INTO a VALUES (1), (1);\n",
                             "0005_e.sql": "-- depends: 0004_bad\nCREATE TABLE e (id int);\n"})
    failed = run_mig(["apply", "-d", db_url], cwd=tmp_path)
    assert failed.returncode != 0
    assert "applying 0004_bad failed" in failed.stderr, failed.stderr
    assert "applied before it in this run (and still applied): 0001_a, 0002_b, 0003_c" in (
        failed.stderr)
    assert query(db_url, "SELECT migration_id FROM _yoyo_migration ORDER BY 1") == [
        ("0001_a",), ("0002_b",), ("0003_c",)]
    assert "e" not in tables(db_url) and query(db_url, "SELECT count(*) FROM a") == [(0,)]
    xids = [query(db_url, "SELECT xmin::text FROM pg_class WHERE oid = %s::regclass",
                  (table,))[0][0] for table in ("a", "b", "c")]
    assert len(set(xids)) == 3


def test_failing_to_record_a_migration_undoes_its_change(tmp_path, db_url):
    write_project(tmp_path, CHAIN)
    assert run_mig(["apply", "-d", db_url, "--to", "0001_a"], cwd=tmp_path).returncode == 0
    query(db_url, """
        CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'recording % refused', NEW.migration_id; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON _mig_migrations
            FOR EACH ROW WHEN (NEW.migration_id = '0002_b') EXECUTE FUNCTION refuse();
    """)
    result = run_mig(["apply", "-d", db_url], cwd=tmp_path)
    assert result.returncode == 1 and "recording 0002_b refused" in result.stderr
    assert "a" in tables(db_url) and "b" not in tables(db_url)
    assert query(db_url, "SELECT count(*) FROM pg_class WHERE relname = 'b_id'") == [(0,)]
    assert _applied_once(db_url) == {"0001_a": 1}
    assert query(db_url, "SELECT migration_id FROM _yoyo_migration") == [("0001_a",)]
    assert query(db_url, "SELECT migration_id FROM _mig_migrations") == [("0001_a",)]


@pytest.mark.slow
def test_concurrent_index_while_others_wait_for_the_lock(tmp_path, db_url):
    """``CREATE INDEX CONCURRENTLY`` waits for every transaction with an older snapshot: it
    finishes only because the processes waiting for the lock hold none while they wait."""
    write_project(tmp_path, {
        "0001_t.sql": "CREATE TABLE t (id int);\n"
                      "INSERT INTO t SELECT g FROM generate_series(1, 50000) g;\n",
        "0002_idx.py": f"""
            import time
            from pathlib import Path
            from yoyo import step
            __depends__ = {{"0001_t"}}
            __transactional__ = False

            def wait_for_the_waiters(conn):
                # Keep the lock until each of the other runs has reported whom it waits for
                # (in its stderr file); then build the index.
                deadline = time.monotonic() + 60
                files = [Path({str(tmp_path)!r}) / f"waiter{{i}}.err" for i in range({WAITERS})]
                while not all(f.exists() and "waiting for the migration lock" in f.read_text()
                              for f in files):
                    assert time.monotonic() < deadline, "the waiters never reported"
                    time.sleep(0.1)

            steps = [step(wait_for_the_waiters),
                     step("CREATE INDEX CONCURRENTLY t_id ON t (id)",
                          "DROP INDEX CONCURRENTLY t_id")]
        """,
    })
    leader = _spawn(["apply", "-d", db_url], tmp_path)
    wait_for(lambda: "t" in tables(db_url))  # the leader holds the lock
    errs = [tmp_path / f"waiter{i}.err" for i in range(WAITERS)]
    waiters = [_spawn(["apply", "-d", db_url], tmp_path, stderr=path) for path in errs]
    results = []
    for p in [leader, *waiters]:
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        results.append((p.returncode, err))
    results[1:] = [(rc, path.read_text()) for (rc, _), path in zip(results[1:], errs)]
    assert [rc for rc, _ in results] == [0] * (WAITERS + 1), [err for _, err in results]
    assert query(db_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id'::regclass") \
        == [(True,)]
    assert _applied_once(db_url) == {"0001_t": 1, "0002_idx": 1}
    # each waiter waited for the lock, saying who held it, while the index was built
    for _, err in results[1:]:
        assert "waiting for the migration lock" in err and "held by server pid" in err, err
        assert "mig apply" in err.split("waiting for the migration lock", 1)[1], err


def test_non_transactional_failure_reports_and_resumes(tmp_path, db_url):
    files = {
        "0001_nt.sql": "-- transactional: false\nCREATE TABLE nt (id int);\n"
                       "CREATE INDEX CONCURRENTLY nt_id ON nt (id);\n"
                       "CREATE INDEX CONCURRENTLY nt_x ON nt (missing_column);\n",
    }
    write_project(tmp_path, files)
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings)
    text = str(info.value)
    assert "0001_nt.sql:4" in text and "missing_column" in text
    assert "2 of 3 step(s) remain applied" in text
    assert "nt" in tables(db_url) and commands.status(settings).pending
    (tmp_path / "migrations" / "0001_nt.sql").write_text(
        files["0001_nt.sql"].replace("missing_column", "id"))
    with pytest.raises(ChecksumMismatch, match="edited since that run started"):
        commands.apply(settings)  # an edited file is never resumed silently
    commands.repair(settings)  # accepted after checking: resumes from the file as it is now
    commands.apply(settings)  # resumes: the CREATE TABLE is not run twice
    assert commands.status(settings).current
    assert query(db_url, "SELECT count(*) FROM _mig_progress") == [(0,)]


def test_busy_table_makes_the_migration_fail_fast(tmp_path, db_url):
    write_project(tmp_path, {"0001_t.sql": "CREATE TABLE t (id int);\n",
                             "0002_alter.sql": "-- depends: 0001_t\nALTER TABLE t ADD c int;\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={}, db_lock_timeout="300ms",
                       db_lock_attempts=1)
    commands.apply(settings, to="0001_t")
    reader = psycopg2.connect(db_url)
    try:
        reader.cursor().execute("SELECT * FROM t")  # holds ACCESS SHARE until the end
        started = time.monotonic()
        with pytest.raises(StatementFailed) as info:
            commands.apply(settings)
        assert time.monotonic() - started < 10
    finally:
        reader.close()
    assert "lock timeout" in str(info.value) and "lock_timeout" in info.value.hint
    assert [p.id for p in commands.status(settings).pending] == ["0002_alter"]


def test_lock_wait_times_out_naming_the_holder(tmp_path, db_url):
    write_project(tmp_path, CHAIN)
    blocker = psycopg2.connect(db_url, application_name="deploy-job-42")
    blocker.autocommit = True
    try:
        blocker.cursor().execute("SELECT pg_advisory_lock(%s)", (lock_key("_yoyo_migration"),))
        settings = resolve(database=db_url, project_dir=tmp_path, env={}, lock_wait=0.5)
        with pytest.raises(LockTimeout) as info:
            commands.apply(settings)
        assert "deploy-job-42" in str(info.value)
        result = run_mig(["apply", "-d", db_url, "--lock-wait", "0.5"], cwd=tmp_path)
        assert result.returncode == EXIT_LOCK_TIMEOUT
        assert "deploy-job-42" in result.stderr
    finally:
        blocker.close()
    assert "a" not in tables(db_url)
