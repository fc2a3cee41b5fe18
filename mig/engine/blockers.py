"""Who blocks a migration's lock request, and how long to wait before trying again.

When a migration's statement cannot get its table lock within ``lock_timeout``, the server
cancels it; by then the request is gone, and with it ``pg_blocking_pids``' answer. So a
:class:`BlockerWatch` looks from a second connection while a migration runs: whenever the
migration's backend waits for a lock, it records the sessions that block it, and a failed
attempt names them. The watch costs nothing while the migration does not wait (one cheap query
per interval, answered from ``pg_stat_activity`` of one backend).
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

import psycopg2

from ..dsn import Dsn
from .connect import connect

# The blocking sessions of the backend %(pid)s, evaluated only while it waits for a lock.
_BLOCKERS_SQL = """
SELECT a.pid, coalesce(a.usename::text, ''), coalesce(a.application_name, ''),
       coalesce(a.client_hostname, host(a.client_addr), 'local socket'),
       coalesce(a.state, ''),
       a.xact_start IS NOT NULL,
       extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::int,
       to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 200)
  FROM (SELECT pg_blocking_pids(pid) AS pids FROM pg_stat_activity
         WHERE pid = %(pid)s AND wait_event_type = 'Lock') w
  JOIN pg_stat_activity a ON a.pid = ANY (w.pids)
 ORDER BY a.pid
"""

# A query text that may carry a secret is not shown (CREATE/ALTER ROLE ... PASSWORD '...').
_SECRET = re.compile(r"password|secret|\bkey\b", re.I)
QUERY_SHOWN = 60


@dataclass(frozen=True)
class Blocker:
    """A session holding a lock the migration waits for (from ``pg_stat_activity``)."""

    pid: int
    user: str
    application: str
    client: str
    state: str
    in_transaction: bool
    seconds: int  # how long its transaction (or, outside one, its connection) has been open
    query_start: str | None  # UTC
    query: str

    def __str__(self) -> str:
        query = self.query
        if _SECRET.search(query):
            query = "(not shown: it may hold a secret)"
        elif len(query) > QUERY_SHOWN:
            query = query[:QUERY_SHOWN - 3] + "..."
        what = "in transaction" if self.in_transaction else "connected"
        return (f"pid {self.pid} (user {self.user or '?'}, application"
                f" {self.application or '(none)'}, client {self.client}, {self.state or '?'},"
                f" {what} for {self.seconds}s, last query started"
                f" {self.query_start or '?'} UTC: {query or '(none)'})")


def describe(blockers: list[Blocker]) -> str:
    """The blocking sessions as one phrase for a message (pid, application, what it runs)."""
    if not blockers:
        return ("blocking session not seen (the lock wait ended before the watch looked;"
                " pg_locks shows who holds locks on the migration's tables)")
    return "blocked by " + "; ".join(str(b) for b in blockers)


class BlockerWatch:
    """Watches one backend from a connection of its own, in a thread, while :meth:`armed`."""

    def __init__(self, dsn: Dsn, pid: int) -> None:
        self.dsn = dsn
        self.pid = pid
        self.interval = 0.25
        self._seen: list[Blocker] = []
        self._armed = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def arm(self, lock_timeout_seconds: float) -> None:
        """Start looking (again) for blockers, at least four times per ``lock_timeout``."""
        with self._lock:
            self._seen = []
        self.interval = max(0.01, min(0.25, lock_timeout_seconds / 4))
        self._armed.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mig-blocker-watch",
                                            daemon=True)
            self._thread.start()

    def disarm(self) -> None:
        """Stop watching until :meth:`arm` (the statement got its locks or failed)."""
        self._armed.clear()

    def blockers(self) -> list[Blocker]:
        """The blocking sessions last seen since :meth:`arm`."""
        with self._lock:
            return list(self._seen)

    def close(self) -> None:
        """Stop the watching thread and close its connection."""
        self._stopped.set()
        self._armed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        conn = None
        try:
            while not self._stopped.is_set():
                self._armed.wait()
                if self._stopped.is_set():
                    break
                if conn is None:
                    # The connection is opened only once a unit of work has run for one
                    # interval: most finish sooner, having waited for no lock, and a fleet
                    # of them would otherwise open a second connection per target for nothing.
                    if self._stopped.wait(self.interval) or not self._armed.is_set():
                        continue
                    try:
                        conn = connect(self.dsn, verb="lock watch")
                    except Exception:  # the watch only adds detail to a message; never fails
                        return
                with conn.cursor() as cur:
                    cur.execute(_BLOCKERS_SQL, {"pid": self.pid})
                    rows = [Blocker(*row) for row in cur.fetchall()]
                if rows:
                    with self._lock:
                        self._seen = rows
                self._stopped.wait(self.interval)
        except psycopg2.Error:
            pass
        finally:
            if conn is not None:
                conn.close()


def seconds(duration: str) -> float:
    """A PostgreSQL duration (``5s``, ``300ms``, ``2min``; a bare number is milliseconds)."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$", duration)
    if not match:
        raise ValueError(f"not a duration: {duration!r}")
    number, unit = float(match.group(1)), match.group(2) or "ms"
    return number * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0,
                     "d": 86400.0}[unit]


MAX_BACKOFF = 30.0


def backoff(attempt: int, base: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): ``base`` doubled per attempt
    (at most 30 s), of which a random half to all is taken, so that several waiting
    migrations (or a fleet of them) do not come back at the same moment."""
    return min(base * 2 ** (attempt - 1), MAX_BACKOFF) * random.uniform(0.5, 1.0)
