"""A data step on a 200,000-row table: it converts every row exactly once, survives SIGKILL
mid-way, keeps a concurrent writer's waits to about one batch, and retries (then gives up
clearly) when another session holds a conflicting lock.

The 200,000 rows are loaded once into a template database; each test clones it.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg2
import psycopg2.errors
import pytest

from mig import commands
from mig.config import resolve
from tests.support import query, wait_for, write_project

ROWS = 200_000
FILES = {
    "0001_accounts.sql": f"""
        CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, email_lower text,
                               hits int NOT NULL DEFAULT 0, n int NOT NULL DEFAULT 0);
        INSERT INTO accounts (id, email)
            SELECT g, 'User.' || g || '@Example.COM' FROM generate_series(1, {ROWS}) g;
    """,
    # n = n + 1 is deliberately not idempotent: a row done twice would show n = 2
    "0002_email_lower.py": """
        import os
        from mig.data import data_step
        __depends__ = {"0001_accounts"}
        __transactional__ = os.environ.get("TEST_TRANSACTIONAL") == "1"

        def fill_email_lower(batch):
            batch.execute("UPDATE accounts SET email_lower = lower(email), n = n + 1"
                          " WHERE {range} AND {where}")

        steps = [data_step(
            fill_email_lower, table="accounts", where="email_lower IS NULL",
            batch_size=int(os.environ.get("TEST_BATCH", "1000")),
            pause=float(os.environ.get("TEST_PAUSE", "0")),
            lock_timeout=os.environ.get("TEST_LOCK_TIMEOUT"),
            attempts=int(os.environ.get("TEST_ATTEMPTS", "5")),
            retry_wait=float(os.environ.get("TEST_RETRY_WAIT", "0.5")),
            progress_every=1,
        )]
    """,
}
CONTENT = "SELECT md5(string_agg(a::text, ',' ORDER BY id)) FROM accounts a"


@pytest.fixture(scope="module")
def template(pg_server, tmp_path_factory):
    project = write_project(tmp_path_factory.mktemp("large"), FILES)
    name = "t_tpl_" + uuid.uuid4().hex[:10]
    query(pg_server.url(), f'CREATE DATABASE "{name}"')
    commands.apply(resolve(database=pg_server.url(name), project_dir=project, env={}),
                   to="0001_accounts")
    yield project, name
    query(pg_server.url(), f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def clone(pg_server, template):
    """(project folder, URL of a new database holding the 200,000 rows)."""
    project, name = template
    made: list[str] = []

    def make() -> str:
        copy = "t_" + uuid.uuid4().hex[:12]
        query(pg_server.url(), f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
        made.append(copy)
        return pg_server.url(copy)

    yield project, make
    for copy in made:
        query(pg_server.url(), f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


def _spawn(project, url, env=None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG", "TEST_"))}
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "mig", "apply", "-d", url], cwd=project,
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _read_until(proc: subprocess.Popen, text: str) -> str:
    """What ``proc`` writes to stderr up to the first line holding ``text`` (or its end)."""
    read = []
    for line in proc.stderr:
        read.append(line)
        if text in line:
            break
    return "".join(read)


def _progress(url: str) -> tuple[int, list | None]:
    if query(url, "SELECT to_regclass('_mig_data_checkpoints')") == [(None,)]:
        return 0, None
    rows = query(url, "SELECT rows_done, last_key FROM _mig_data_checkpoints")
    return rows[0] if rows else (0, None)


def _converted_once(url: str) -> None:
    assert query(url, "SELECT count(*), min(n), max(n) FROM accounts"
                      " WHERE email_lower = lower(email)") == [(ROWS, 1, 1)]


def test_the_backfill_converts_every_row(clone):
    project, make = clone
    url = make()
    started = time.monotonic()
    code, err = _finish(_spawn(project, url))
    elapsed = time.monotonic() - started
    assert code == 0, err
    _converted_once(url)
    assert query(url, "SELECT rows_done, rows_changed, batches, finished_at IS NOT NULL"
                      " FROM _mig_data_checkpoints") == [(ROWS, ROWS, 200, True)]
    # plain progress lines (stderr is not a terminal), then the summary with its rate
    assert re.search(r"fill_email_lower: done, 200,000 rows walked in [\d.]+s \([\d,]+ rows/s\)",
                     err), err
    rate = int(re.search(r"\(([\d,]+) rows/s\)", err).group(1).replace(",", ""))
    print(f"\n200k backfill: {rate:,} rows/s in the step, {elapsed:.2f}s for the whole mig apply")
    assert rate > 10_000


def test_killed_mid_way_and_rerun_equals_an_uninterrupted_run(clone):
    project, make = clone
    killed, whole = make(), make()
    proc = _spawn(project, killed, {"TEST_BATCH": "2000", "TEST_PAUSE": "0.03"})
    wait_for(lambda: _progress(killed)[0] >= 40_000)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    # the server notices the dead client and rolls back the batch in flight
    wait_for(lambda: query(killed, "SELECT count(*) FROM pg_stat_activity"
                                   " WHERE application_name LIKE 'mig apply%'") == [(0,)])
    done, last_key = _progress(killed)
    assert 40_000 <= done < ROWS
    # the checkpoint names exactly the rows whose change committed: batch and checkpoint
    # commit together
    assert query(killed, "SELECT count(*), coalesce(max(id), 0) FROM accounts WHERE n = 1") \
        == [(done, int(last_key[0]))]
    assert query(killed, "SELECT count(*) FROM accounts WHERE n > 1") == [(0,)]

    code, err = _finish(_spawn(project, killed))
    assert code == 0, err
    assert f"resuming after key {last_key[0]} ({done:,} rows done)" in err
    _converted_once(killed)
    code, err = _finish(_spawn(project, whole))
    assert code == 0, err
    assert query(killed, CONTENT) == query(whole, CONTENT)


def test_a_concurrent_writer_waits_at_most_about_one_batch(clone):
    project, make = clone
    url = make()
    waits: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        front = 1
        with conn.cursor() as cur:
            for i in range(10**9):
                if stop.is_set():
                    break
                if i % 10 == 0:  # chase the batches: rows just ahead of the last checkpoint
                    try:
                        cur.execute("SELECT (last_key->>0)::bigint FROM _mig_data_checkpoints")
                        front = ((cur.fetchone() or (None,))[0]) or 1
                    except psycopg2.errors.UndefinedTable:
                        front = 1
                target = front + random.randint(1, 1500) if i % 2 else random.randint(1, ROWS)
                started = time.monotonic()
                cur.execute("UPDATE accounts SET hits = hits + 1 WHERE id = %s",
                            (min(target, ROWS),))
                waits.append(time.monotonic() - started)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        started = time.monotonic()
        # a short pause between batches stretches the run well past the bound below, so that
        # locks held across batches (or to the end) could not hide inside a quick run
        code, err = _finish(_spawn(project, url, {"TEST_PAUSE": "0.015"}))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join()
    assert code == 0, err
    _converted_once(url)
    # every single-row update of the writer went through, none was lost
    assert query(url, "SELECT sum(hits) FROM accounts") == [(len(waits),)]
    batch = query(url, "SELECT extract(epoch FROM updated_at - started_at) / batches"
                       " FROM _mig_data_checkpoints")[0][0]
    longest = max(waits)
    print(f"\nwriter: {len(waits):,} updates during a {elapsed:.2f}s apply; longest wait"
          f" {longest * 1000:.1f} ms, {sum(w > 0.005 for w in waits)} waited > 5 ms;"
          f" a batch took {float(batch) * 1000:.1f} ms on average")
    bound = 1.0  # "about one batch", generously: a batch takes a few milliseconds here
    assert elapsed > 3 * bound, "the run must outlast the bound for the bound to mean anything"
    assert len(waits) > 200
    assert longest < bound


@pytest.mark.parametrize("lock, transactional", [("table", False), ("row", True)])
def test_a_conflicting_lock_makes_the_batch_retry_not_hang(clone, lock, transactional):
    project, make = clone
    url = make()
    blocker = psycopg2.connect(url, application_name="long-report")
    try:
        with blocker.cursor() as cur:
            if lock == "table":
                cur.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
            else:  # a row of the second batch
                cur.execute("SELECT * FROM accounts WHERE id = 1500 FOR UPDATE")
        started = time.monotonic()
        proc = _spawn(project, url, {"TEST_LOCK_TIMEOUT": "200ms", "TEST_ATTEMPTS": "30",
                                     "TEST_RETRY_WAIT": "0.1",
                                     "TEST_TRANSACTIONAL": "1" if transactional else "0"})
        seen = _read_until(proc, "attempt 2 of 30")  # blocked twice, and trying again
        assert proc.poll() is None  # still retrying
    finally:
        blocker.rollback()
        blocker.close()
    code, rest = _finish(proc)
    err = seen + rest
    assert code == 0, err
    assert time.monotonic() - started < 15
    assert "could not get its locks (canceling statement due to lock timeout); held by pid" \
        in err and "long-report" in err, err
    assert re.search(r"attempt 2 of 30 in 0\.1s", err), err
    _converted_once(url)


def test_a_lock_held_too_long_gives_up_with_a_clear_message_then_resumes(clone):
    project, make = clone
    url = make()
    blocker = psycopg2.connect(url, application_name="long-report")
    try:
        blocker.cursor().execute("SELECT * FROM accounts WHERE id = 1500 FOR UPDATE")
        started = time.monotonic()
        code, err = _finish(_spawn(project, url, {"TEST_LOCK_TIMEOUT": "200ms",
                                                  "TEST_ATTEMPTS": "3",
                                                  "TEST_RETRY_WAIT": "0.1"}))
        elapsed = time.monotonic() - started
    finally:
        blocker.rollback()
        blocker.close()
    assert code == 1
    assert elapsed < 10
    assert ("error: 0002_email_lower: data step fill_email_lower: batch 2 of accounts (keys"
            " after 1000) could not get its locks in 3 attempt(s) (canceling statement due to"
            " lock timeout); held by pid") in err, err
    assert "long-report" in err
    assert "run 'mig apply' again: it resumes after the last committed batch" in err
    assert _progress(url)[0] == 1000
    assert query(url, "SELECT count(*) FROM accounts WHERE n = 1") == [(1000,)]
    code, err = _finish(_spawn(project, url))
    assert code == 0, err
    assert "resuming after key 1000" in err
    _converted_once(url)
