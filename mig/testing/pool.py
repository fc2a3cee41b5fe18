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
pool's next start knows the databases are left over and drops them (with mig's one janitor,
:func:`mig.engine.scratch.sweep`).
"""

from __future__ import annotations

import contextlib
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

_REUSABLE_SQL = """
SELECT current_setting('server_version_num')::int >= 140000
       AND current_setting('track_counts')::bool
"""
# Only after the rename: nobody is connected, and nobody can connect by the old name.
_UNUSED_SQL = """
SELECT sessions = 0 AND stats_reset IS NULL AND numbackends = 0
  FROM pg_stat_database WHERE datname = %s
"""
# Asked before the rename, which PostgreSQL refuses only after waiting 5 s for the others to go.
_CONNECTED_SQL = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = %s)"


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


def keep(db: Database) -> None:
    """Mark a failed test's pool database as kept: no pool's sweep drops it."""
    db.close_connections()
    with db.server.admin().cursor() as cur, contextlib.suppress(
            psycopg2.errors.InvalidCatalogName):  # the test dropped it itself
        cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(db.name), sql.Literal(KEPT_COMMENT)))


class Pool:
    """Up to ``size`` clones of ``template`` kept ready; :meth:`take` hands one out,
    :meth:`give_back` returns it, :meth:`close` drops every database the pool holds.

    :param worker: put in the names (the pytest-xdist worker id), to tell processes apart.
    :param connections: threads, each on a connection of its own, cloning and dropping at the
        same time (a clone and a drop of the previous test's database overlap).
    """

    def __init__(self, template: Template, size: int, worker: str = "", *,
                 connections: int = 2) -> None:
        if size < 1:
            raise ValueError("a pool holds at least one database")
        self.template = template
        self.server = template.server
        self.size = size
        self.worker = re.sub(r"[^a-z0-9]+", "", worker.lower())[:8]
        self.connections = max(1, min(connections, size))
        self._cond = threading.Condition()
        self._ready: deque[tuple[str, str]] = deque()  # (name, its owner's prefix)
        self._returned: deque[str] = deque()
        self._doomed: deque[str] = deque()
        self._busy = 0  # databases being cloned or dropped
        self._error: BaseException | None = None
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._created = self._reused = self._dropped = 0

    # -- the tests' side ---------------------------------------------------------------------
    def take(self, label: str = "") -> Database:
        """A ready database of the test's own, waiting for one if none is ready yet; renamed
        to carry ``label`` (the test's name).

        :raises PoolError: the pool could not make one.
        """
        with self._cond:
            if not self._threads:
                for _ in range(self.connections):
                    thread = threading.Thread(target=self._run, name="mig-pool", daemon=True)
                    thread.start()
                    self._threads.append(thread)
            self._cond.wait_for(lambda: self._ready or self._error is not None)
            if self._error is not None:
                raise self._failure()
            name, owner = self._ready.popleft()
            self._cond.notify_all()
        slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:24]
        labelled = f"{owner}{slug + '_' if slug else ''}{uuid.uuid4().hex[:8]}"
        with self.server.admin().cursor() as cur:
            cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(name), sql.Identifier(labelled)))
        return Database(self.server, labelled, self.template)

    def give_back(self, db: Database) -> None:
        """Return ``db`` after its test: the pool drops it, or reuses it if provably unused."""
        db.close_connections()
        with self._cond:
            if self._closing or not self._threads:
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
            threads = list(self._threads)
        for thread in threads:
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

    # -- the pool's threads ------------------------------------------------------------------
    def _run(self) -> None:
        from ..dsn import Dsn
        from ..engine.connect import connect
        from ..engine.scratch import Owned, sweep

        conn: connection | None = None
        try:
            conn = connect(Dsn.parse(self.server.maintenance_url), verb="testing pool")
            owner = (f"{POOL_PREFIX}{conn.get_backend_pid()}_"
                     f"{self.worker + '_' if self.worker else ''}")
            # a finished or crashed session's pool databases, except those kept for a test
            sweep(conn, kind=Owned(POOL_PREFIX, "test database", "a test session that ended",
                                   kept=KEPT_COMMENT))
            with conn.cursor() as cur:
                cur.execute(_REUSABLE_SQL)
                row = cur.fetchone()
                _Worker(self, conn, cur, owner, reusable=bool(row and row[0])).serve()
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            self._clear(conn)

    def _has_work(self) -> bool:
        idle = len(self._ready) + len(self._doomed) + self._busy
        return bool(self._closing or self._returned or self._doomed or idle < self.size)

    def _clear(self, conn: connection | None) -> None:
        """Drop what the pool holds; on a broken connection, on the process's shared one."""
        with self._cond:
            names = [name for name, _ in self._ready] + [*self._returned, *self._doomed]
            self._ready.clear()
            self._returned.clear()
            self._doomed.clear()
        own = conn is not None and not conn.closed
        try:
            with (conn if own else self.server.admin()).cursor() as cur:  # type: ignore[union-attr]
                for name in dict.fromkeys(names):
                    drop_database(cur, name)
                    with self._cond:
                        self._dropped += 1
        except psycopg2.Error:  # the server is gone: its next pool sweeps them
            pass
        finally:
            if conn is not None:
                conn.close()


class _Worker:
    """One thread of a pool, on its connection: looks at given-back databases, clones new
    ones while fewer than ``size`` wait, drops the used ones."""

    def __init__(self, pool: Pool, conn: connection, cur: cursor, owner: str, *,
                 reusable: bool) -> None:
        self.pool = pool
        self.conn = conn
        self.cur = cur
        self.owner = owner  # mig_pool_<pid>_<worker>_
        self.prefix = f"{owner}{pool.template.digest[:10]}_"
        self.reusable = reusable

    def serve(self) -> None:
        pool = self.pool
        cond = pool._cond
        while True:
            with cond:
                cond.wait_for(pool._has_work)
                if pool._closing:
                    return
                returned = pool._returned.popleft() if pool._returned else None
                doomed = None
                if returned is None:
                    idle = len(pool._ready) + len(pool._doomed) + pool._busy
                    if idle >= pool.size:  # full: make room by dropping a used one
                        doomed = pool._doomed.popleft()
                pool._busy += 1
            try:
                if returned is not None:  # cheap to look at; a test may be waiting for it
                    self._recycle(returned)
                elif doomed is not None:
                    drop_database(self.cur, doomed)
                    with cond:
                        pool._dropped += 1
                else:
                    name = f"{self.prefix}{uuid.uuid4().hex[:8]}"
                    clone(pool.server, pool.template.name, name, self.conn)
                    with cond:
                        pool._ready.append((name, self.owner))
                        pool._created += 1
            finally:
                with cond:
                    pool._busy -= 1
                    cond.notify_all()

    def _connected(self, name: str) -> bool:
        self.cur.execute(_CONNECTED_SQL, (name,))
        row = self.cur.fetchone()
        return bool(row and row[0])

    def _recycle(self, name: str) -> None:
        """Back into the pool if provably unused since it was cloned, else to be dropped."""
        fresh, unused = name, False
        if self.reusable and not self._connected(name):  # else dropped with FORCE at once
            fresh = f"{self.prefix}{uuid.uuid4().hex[:8]}"
            try:
                self.cur.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(name), sql.Identifier(fresh)))
            except (psycopg2.errors.ObjectInUse, psycopg2.errors.InvalidCatalogName):
                fresh = name  # connected meanwhile: dropped with FORCE; or gone already
            else:
                self.cur.execute(_UNUSED_SQL, (fresh,))
                row = self.cur.fetchone()
                unused = bool(row is not None and row[0])
        pool = self.pool
        with pool._cond:
            if not unused:
                pool._doomed.append(fresh)
                return
            pool._ready.append((fresh, self.owner))
            pool._reused += 1
            if len(pool._ready) > pool.size:  # the oldest goes: the pool stays in its bound
                pool._doomed.append(pool._ready.popleft()[0])
