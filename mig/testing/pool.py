"""A warm pool of test databases: clones of a template made ahead of the tests that take them.

``CREATE DATABASE … TEMPLATE`` copies the whole template (a few MB even for a small schema), so
a clone costs tens of milliseconds, and so does dropping it. The pool moves both off the
test's path: a thread of its own, on a connection of its own, keeps up to ``size`` clones
ready, and drops the databases tests gave back while the next tests run.

A database a test gave back goes back into the pool only when the server proves no session ever
used it: it is first renamed (which PostgreSQL refuses while anybody is connected, and which
makes its old name and URL lead nowhere), then its statistics must show no session ever
connected (``pg_stat_database.sessions`` is 0, the statistics never reset; PostgreSQL 14+ with
``track_counts`` on, where a backend's statistics are written before it leaves). Anything else
is dropped.

The pool's databases are named ``mig_pool_<pid>_<worker>_<template>_<random>``, and
``mig_pool_<pid>_<worker>_<test>_<random>`` once a test took one: ``pid`` is the server process
of the pool's connection, so once that connection is gone (the session ended, or crashed) any
pool's next start knows the databases are left over and drops them.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from ..errors import MigError
from .database import Database
from .template import Template, clone, drop_database

if TYPE_CHECKING:
    from psycopg2.extensions import connection, cursor

POOL_PREFIX = "mig_pool_"
KEPT_COMMENT = "mig: kept for inspection"
_NAME = re.compile(re.escape(POOL_PREFIX) + r"(\d+)_")

_REUSABLE_SQL = """
SELECT current_setting('server_version_num')::int >= 140000
       AND current_setting('track_counts')::bool
"""
# Only after the rename: nobody is connected, and nobody can connect by the old name.
_UNUSED_SQL = """
SELECT sessions = 0 AND stats_reset IS NULL AND numbackends = 0
  FROM pg_stat_database WHERE datname = %s
"""
_LEFT_OVER_SQL = """
SELECT d.datname, (SELECT array_agg(pid) FROM pg_stat_activity)
  FROM pg_database d
 WHERE d.datname LIKE %s
   AND coalesce(shobj_description(d.oid, 'pg_database'), '') <> %s
 ORDER BY 1
"""


class PoolError(MigError):
    """The pool could not make or drop a test database; ``cause`` says what the server said."""

    def __init__(self, message: str, *, cause: str, hint: str | None = None) -> None:
        super().__init__(f"{message}: {cause}", hint=hint)
        self.cause = cause


@dataclass(frozen=True)
class PoolCounts:
    """What a pool did so far: databases cloned, handed out again unused, dropped."""

    created: int
    reused: int
    dropped: int


def left_over(cur: cursor) -> list[str]:
    """Pool databases whose pool's connection is gone (a finished or crashed session), except
    those kept for a failed test."""
    cur.execute(_LEFT_OVER_SQL, (POOL_PREFIX.replace("_", r"\_") + "%", KEPT_COMMENT))
    found = []
    for name, pids in cur.fetchall():
        match = _NAME.match(name)
        if match is not None and int(match.group(1)) not in (pids or []):
            found.append(name)
    return found


def keep(db: Database) -> None:
    """Mark a failed test's pool database as kept: no pool's sweep drops it."""
    db.close_connections()
    with db.server.admin().cursor() as cur:
        cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(db.name), sql.Literal(KEPT_COMMENT)))


class Pool:
    """Up to ``size`` clones of ``template`` kept ready; :meth:`take` hands one out,
    :meth:`give_back` returns it, :meth:`close` drops every database the pool holds.

    :param worker: put in the names (the pytest-xdist worker id), to tell processes apart.
    """

    def __init__(self, template: Template, size: int, worker: str = "") -> None:
        if size < 1:
            raise ValueError("a pool holds at least one database")
        self.template = template
        self.server = template.server
        self.size = size
        self.worker = re.sub(r"[^a-z0-9]+", "", worker.lower())[:8]
        self._cond = threading.Condition()
        self._ready: deque[str] = deque()
        self._returned: deque[str] = deque()
        self._doomed: deque[str] = deque()
        self._error: BaseException | None = None
        self._closing = False
        self._thread: threading.Thread | None = None
        self._owner = self._prefix = ""
        self._created = self._reused = self._dropped = 0

    # -- the tests' side ---------------------------------------------------------------------
    def take(self, label: str = "") -> Database:
        """A ready database of the test's own, waiting for one if none is ready yet; renamed
        to carry ``label`` (the test's name).

        :raises PoolError: the pool could not make one.
        """
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mig-pool", daemon=True)
                self._thread.start()
            self._cond.wait_for(lambda: self._ready or self._error is not None)
            if self._error is not None:
                raise self._failure()
            name = self._ready.popleft()
            self._cond.notify_all()
        slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24]
        labelled = f"{self._owner}{slug + '_' if slug else ''}{uuid.uuid4().hex[:8]}"
        with self.server.admin().cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(name), sql.Identifier(labelled)))
        return Database(self.server, labelled, self.template)

    def give_back(self, db: Database) -> None:
        """Return ``db`` after its test: the pool drops it, or reuses it if provably unused."""
        db.close_connections()
        with self._cond:
            if self._closing or self._thread is None:
                raise MigError(f"the pool of {self.template.name} is closed",
                               hint="give databases back before closing their pool")
            self._returned.append(db.name)
            self._cond.notify_all()

    def counts(self) -> PoolCounts:
        """What the pool did so far."""
        with self._cond:
            return PoolCounts(self._created, self._reused, self._dropped)

    def close(self) -> None:
        """Stop making databases and drop every one the pool holds (not those handed out)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _failure(self) -> PoolError:
        error = self._error
        cause = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, MigError):
            return PoolError(f"cannot make test databases from {self.template.name}",
                             cause=str(error), hint=error.hint)
        return PoolError(f"cannot make test databases from {self.template.name} on "
                         f"{self.server.masked_url()}", cause=cause,
                         hint="check that the server is up and the role may create databases "
                         "(CREATEDB)")

    # -- the pool's thread -------------------------------------------------------------------
    def _run(self) -> None:
        from ..dsn import Dsn
        from ..engine.connect import connect

        conn: connection | None = None
        try:
            conn = connect(Dsn.parse(self.server.maintenance_url), verb="testing pool")
            self._owner = (f"{POOL_PREFIX}{conn.get_backend_pid()}_"
                           f"{self.worker + '_' if self.worker else ''}")
            self._prefix = f"{self._owner}{self.template.digest[:10]}_"
            with conn.cursor() as cur:
                for name in left_over(cur):
                    drop_database(cur, name)
                cur.execute(_REUSABLE_SQL)
                row = cur.fetchone()
                reusable = bool(row and row[0])
                self._serve(conn, cur, reusable=reusable)
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            self._clear(conn)

    def _serve(self, conn: connection, cur: cursor, *, reusable: bool) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closing or self._returned or self._doomed
                                    or len(self._ready) < self.size)
                if self._closing:
                    return
                returned = self._returned.popleft() if self._returned else None
                idle = len(self._ready) + len(self._doomed)
            if returned is not None:  # cheap to look at; a test may be waiting for it
                name, unused = self._recycle(cur, returned) if reusable else (returned, False)
                with self._cond:
                    if unused:
                        self._ready.append(name)
                        self._reused += 1
                        self._cond.notify_all()
                    else:
                        self._doomed.append(name)
            elif idle < self.size:
                name = f"{self._prefix}{uuid.uuid4().hex[:8]}"
                clone(self.server, self.template.name, name, conn)
                with self._cond:
                    self._ready.append(name)
                    self._created += 1
                    self._cond.notify_all()
            elif self._doomed:
                self._drop(cur, self._doomed[0])
                with self._cond:
                    self._doomed.popleft()
            else:
                with self._cond:  # full: wait for a test to take or give back one
                    self._cond.wait_for(lambda: self._closing or bool(self._returned)
                                        or len(self._ready) < self.size)

    def _recycle(self, cur: cursor, name: str) -> tuple[str, bool]:
        """The database's name now, and whether it is provably unused since it was cloned."""
        fresh = f"{self._prefix}{uuid.uuid4().hex[:8]}"
        try:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(name), sql.Identifier(fresh)))
        except (psycopg2.errors.ObjectInUse, psycopg2.errors.InvalidCatalogName):
            return name, False  # still connected: dropped with FORCE; or gone already
        cur.execute(_UNUSED_SQL, (fresh,))
        row = cur.fetchone()
        return fresh, bool(row is not None and row[0])

    def _drop(self, cur: cursor, name: str) -> None:
        drop_database(cur, name)
        with self._cond:
            self._dropped += 1

    def _clear(self, conn: connection | None) -> None:
        """Drop what the pool holds; on a broken connection, on the process's shared one."""
        with self._cond:
            names = [*self._ready, *self._returned, *self._doomed]
            self._ready.clear()
            self._returned.clear()
            self._doomed.clear()
        own = conn is not None and not conn.closed
        try:
            with (conn if own else self.server.admin()).cursor() as cur:  # type: ignore[union-attr]
                for name in dict.fromkeys(names):
                    self._drop(cur, name)
        except psycopg2.Error:  # the server is gone: its next pool sweeps them
            pass
        finally:
            if conn is not None:
                conn.close()
