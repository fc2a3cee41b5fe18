"""The migration lock: a PostgreSQL session-level advisory lock.

The server releases a session lock the moment the holding connection ends, so a killed
``mig apply`` leaves nothing behind to break by hand. Waiters poll with single autocommit
statements and sleep between them: they never sit inside a transaction or hold a snapshot, so a
leader running ``CREATE INDEX CONCURRENTLY`` (which waits for every older snapshot) cannot
deadlock against them.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator

from psycopg2.extensions import connection

from ..config import Settings
from ..dsn import Dsn
from ..errors import LockTimeout
from .connect import connect, fetch_row, open_database

POLL_SECONDS = 0.1  # a waiter notices a released lock within this
REPORT_EVERY_SECONDS = 5.0

_HOLDER_SQL = """
SELECT a.pid, coalesce(a.application_name, ''),
       coalesce(a.client_hostname, host(a.client_addr), 'local socket'),
       date_trunc('second', now() - a.backend_start)::text
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
"""


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name`` (the migration table)."""
    digest = hashlib.sha256(f"mig:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def settings_key(settings: Settings) -> int:
    """The lock of the database (or schema) that ``settings`` point at: a schema target's lock
    is its own, so the schemas of one database migrate side by side."""
    if settings.schema is not None:
        return lock_key(f"{settings.schema}.{settings.migration_table}")
    return lock_key(settings.migration_table)


def holder(conn: connection, key: int) -> str | None:
    """Who holds the lock: pid, application name and host, from pg_stat_activity."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    with conn.cursor() as cur:
        cur.execute(_HOLDER_SQL, (unsigned >> 32, unsigned & 0xFFFFFFFF))
        row = cur.fetchone()
    if row is None:
        return None
    pid, app, host, age = row
    return f"server pid {pid}, {app or 'unknown application'}, from {host}, connected {age} ago"


@contextlib.contextmanager
def migration_lock(
    conn: connection,
    key: int,
    *,
    wait: float,
    report: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the advisory lock ``key`` on ``conn`` (which must be in autocommit mode).

    :param wait: seconds to wait for another holder before :class:`LockTimeout`.
    :param report: called every few seconds while waiting, with who holds the lock.
    """
    assert conn.autocommit, "the lock must be taken outside any transaction"
    started = time.monotonic()
    last_report = started
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            (acquired,) = fetch_row(cur)
        if acquired:
            break
        now = time.monotonic()
        if now - started >= wait:
            who = holder(conn, key)
            raise LockTimeout(
                f"gave up waiting for the migration lock after {wait:g}s; "
                f"held by {who or 'a session that just released it'}",
                holder=who,
                hint="another mig run is migrating this database; wait for it, or raise "
                "--lock-wait (MIG_LOCK_WAIT)",
            )
        if report is not None and now - last_report >= REPORT_EVERY_SECONDS:
            last_report = now
            report(f"waiting for the migration lock ({now - started:.0f}s), "
                   f"held by {holder(conn, key) or 'unknown'}")
        time.sleep(min(POLL_SECONDS, max(0.0, wait - (now - started))))
    try:
        yield
    finally:
        if not conn.closed:
            with contextlib.suppress(Exception), conn.cursor() as cur:
                if conn.get_transaction_status() != 0:  # not idle: end the failed transaction
                    cur.execute("ROLLBACK")
                cur.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextlib.contextmanager
def locked_connection(settings: Settings, verb: str,
                      report: Callable[[str], None]) -> Iterator[tuple[Dsn, connection]]:
    """A connection holding the migration lock (waiting for it as configured)."""
    dsn = open_database(settings)
    conn = connect(dsn, verb=verb)
    try:
        with migration_lock(conn, settings_key(settings), wait=settings.lock_wait,
                            report=report):
            yield dsn, conn
    finally:
        conn.close()
