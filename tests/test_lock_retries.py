"""A migration whose lock request times out is tried again, naming the session that blocks it."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from mig.errors import BadMigrationFile, StatementFailed
from tests.support import query, wait_for, write_project

NON_TRANSACTIONAL = "-- transactional: false\n"


@pytest.fixture
def blocker(db_url):
    """A session holding ACCESS SHARE on table busy in an open transaction (so any ALTER of
    busy waits for it), as a report or a forgotten psql would."""
    query(db_url, "CREATE TABLE busy (n int)")
    conn = psycopg2.connect(db_url, application_name="nightly-report")
    with conn.cursor() as cur:
        cur.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
    yield conn
    conn.close()


def _migration_waits(db_url) -> bool:
    return bool(query(db_url, "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                              " AND application_name LIKE 'mig apply%'"))


@pytest.mark.parametrize("head", ["", NON_TRANSACTIONAL])
def test_a_lock_released_during_the_retries_lets_the_migration_succeed(tmp_path, db_url,
                                                                        blocker, head):
    write_project(tmp_path, {"0001_alter.sql": head + "ALTER TABLE busy ADD COLUMN a int;\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={}, db_lock_timeout="200ms",
                       db_lock_attempts=100, db_lock_retry_wait=0.05)
    lines: list[str] = []
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(commands.apply(settings, report=lines.append))
        except Exception as exc:  # handed to the test's thread
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        # An attempt failed and said who blocked it; then the next attempt waits again.
        failed = wait_for(lambda: [line for line in lines if "attempt 1 of 100" in line],
                          what="a failed first attempt")
        wait_for(lambda: _migration_waits(db_url), what="the migration waiting again")
    finally:
        blocker.rollback()  # release the lock
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert not isinstance(outcome[0], Exception), outcome[0]
    assert [m.id for m in outcome[0].migrations] == ["0001_alter"]
    assert query(db_url, "SELECT count(*) FROM information_schema.columns"
                         " WHERE table_name = 'busy' AND column_name = 'a'") == [(1,)]
    note = failed[0]
    assert "could not get its locks within lock_timeout 200ms" in note
    assert f"blocked by pid {blocker.get_backend_pid()}" in note
    assert "application nightly-report" in note and "idle in transaction" in note
    assert "LOCK TABLE busy IN ACCESS SHARE MODE" in note


@pytest.mark.parametrize("head", ["", NON_TRANSACTIONAL])
def test_a_lock_never_released_fails_naming_the_blocking_session(tmp_path, db_url, blocker,
                                                                  head):
    """The file's own -- lock_attempts: 2 wins over the run's 50."""
    write_project(tmp_path, {
        "0001_alter.sql": head + "-- lock_attempts: 2\nALTER TABLE busy ADD COLUMN a int;\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={}, db_lock_timeout="200ms",
                       db_lock_attempts=50, db_lock_retry_wait=0.05)
    lines: list[str] = []
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings, report=lines.append)
    text = str(info.value)
    assert "gave up after 2 attempt(s), each waiting up to lock_timeout 200ms" in text
    assert f"blocked by pid {blocker.get_backend_pid()}" in text
    user = query(db_url, "SELECT current_user")[0][0]
    assert f"user {user}, application nightly-report" in text
    assert info.value.lock_timeout and "--db-lock-attempts" in info.value.hint
    assert [line for line in lines if "attempt 1 of 2" in line]
    assert commands.status(settings).pending


@pytest.mark.parametrize(("name", "text", "where"), [
    ("0001_t.sql", "-- lock_attempts: many\nCREATE TABLE t (n int);\n",
     "0001_t.sql:1: -- lock_attempts: must be a whole"),
    ("0001_t.py", "from yoyo import step\n__lock_attempts__ = 0\n"
                  "steps = [step('CREATE TABLE t (n int)')]\n",
     "0001_t.py: __lock_attempts__ must be a whole"),
])
def test_a_malformed_lock_attempts_names_the_file(tmp_path, db_url, name, text, where):
    write_project(tmp_path, {name: text})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(BadMigrationFile, match=where):
        commands.apply(settings)
    assert commands.status(settings).pending
