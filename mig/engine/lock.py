"""The migration lock: a PostgreSQL session-level advisory lock, keyed by what the tracking
table *is* in the database, not by how the target was written.

The server releases a session lock the moment the holding connection ends, so a killed
``mig apply`` leaves nothing behind to break by hand. Waiters poll with single autocommit
statements and sleep between them: they never sit inside a transaction or hold a snapshot, so a
leader running ``CREATE INDEX CONCURRENTLY`` (which waits for every older snapshot) cannot
deadlock against them.

The key comes from the server (:func:`tracking_place`): the schema the tracking table resolves
to on the connection (the table's schema when it exists, else the first schema of the
search_path, where it will be created, else the configured schema that does not exist yet) and
the table's name. A plain target, the same database with ``schema=public``, a ``schemas:%``
fleet, or a host alias all take one lock. (Advisory locks are per database already.) Every verb
that changes the records takes the lock through :func:`locked_connection`, or
:func:`locked_backend` for yoyo's backend on that connection.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg2.extensions import connection

from ..config import Settings
from ..dsn import Dsn
from ..errors import LockTimeout
from ..reports import Reporter
from . import tables
from .connect import connect, fetch_row, open_database

if TYPE_CHECKING:  # yoyo's backends are imported by the verbs that run migrations
    from ..yoyo.backend import Backend

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


# The schema of the tracking table as that connection resolves it, the database, and the server
# (its system identifier where this role may read it, and when it started: two servers cloned
# from one base backup share the identifier, never the start).
_PLACE_SQL = """
SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.oid = to_regclass(quote_ident(%s))), current_schema()),
       d.oid, d.datname,
       CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
            THEN (SELECT system_identifier::text FROM pg_control_system()) END,
       pg_postmaster_start_time()::text
  FROM pg_database d WHERE d.datname = current_database()
"""


@dataclass(frozen=True)
class TrackingPlace:
    """Where a target's migration records live, as its server says: what one lock guards."""

    server: str  # the system identifier (when readable) and the server's start time
    database: int  # the database's oid
    dbname: str
    schema: str | None  # the schema of the tracking table; None: no schema to put it in
    table: str

    @property
    def key(self) -> int:
        """The advisory-lock key of these records.

        The tracking table in ``public`` keeps the key of a plain target of earlier mig
        versions (the table's name alone), so an older mig migrating the same database beside
        this one still waits for it; any other schema is ``schema.table``, as earlier versions
        keyed a schema target.
        """
        if self.schema is None or self.schema == "public":
            return lock_key(self.table)
        return lock_key(f"{self.schema}.{self.table}")

    @property
    def shown(self) -> str:
        """The place as a message names it: database, schema, server."""
        return (f"database {self.dbname} (oid {self.database}), schema "
                f"{self.schema or '(none)'}, on server {self.server}")


def tracking_place(conn: connection, settings: Settings) -> TrackingPlace:
    """Ask the server where the tracking table of ``settings`` is (or will be) on ``conn``:
    one round trip. ``conn`` must be a connection opened for ``settings`` (its search_path
    decides the schema) in autocommit mode."""
    with conn.cursor() as cur:
        cur.execute(_PLACE_SQL, (settings.migration_table,))
        schema, oid, dbname, system, started = fetch_row(cur)
    server = f"{system} started {started}" if system else f"started {started}"
    return TrackingPlace(server, int(oid), dbname, schema or settings.schema,
                         settings.migration_table)


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
    """Hold the advisory lock ``key`` on ``conn`` (which must be in autocommit mode). Verbs
    take the migration lock through :func:`locked_connection`, which derives the key.

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
    """A connection holding the migration lock of the records ``settings`` point at (waiting
    for it as configured): the one way every verb takes the lock."""
    dsn = open_database(settings)
    conn = connect(dsn, verb=verb)
    try:
        key = tracking_place(conn, settings).key
        with migration_lock(conn, key, wait=settings.lock_wait, report=report):
            yield dsn, conn
    finally:
        conn.close()


def backend_on(settings: Settings, dsn: Dsn, conn: connection,
               verb: str) -> Backend:
    """yoyo's backend on a connection holding the migration lock, with the tracking tables."""
    from ..yoyo.backend import Backend

    backend = Backend(dsn, settings.migration_table, connection=conn,
                      opener=functools.partial(connect, dsn, verb=verb))
    tables.ensure(backend)
    return backend


@contextlib.contextmanager
def locked_backend(settings: Settings, verb: str, report: Reporter) -> Iterator[Backend]:
    """yoyo's backend on a connection holding the migration lock (waiting for it as set)."""
    with locked_connection(settings, verb, report) as (dsn, conn):
        yield backend_on(settings, dsn, conn, verb)
