"""Lock retries: a statement that cannot get its lock within ``lock_timeout`` is tried again.

A bounded number of times, with a growing, jittered wait in between: the whole transaction of
a transactional migration (or of a release), the one step of a non-transactional one. Each
failed attempt names the sessions that blocked it (:mod:`mig.engine.blockers`), and so does the
last one's error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import psycopg2.extensions

from ..disk.scripts import Script
from ..dsn import Dsn
from ..errors import StatementFailed
from ..reports import Reporter
from .blockers import BlockerWatch, backoff, describe, seconds

T = TypeVar("T")


class LockRetries:
    """Runs units of work on ``conn``, each tried again while it fails only for a lock.

    :param attempts: how many times a unit is tried (a migration may set its own).
    :param wait: seconds before the second attempt; each further one waits longer.
    :param lock_timeout: the run's ``lock_timeout`` (a migration may set its own).
    """

    def __init__(self, dsn: Dsn, conn: psycopg2.extensions.connection, *, attempts: int,
                 wait: float, lock_timeout: str, report: Reporter) -> None:
        self.dsn = dsn
        self.conn = conn
        self.attempts = attempts
        self.wait = wait
        self.lock_timeout = lock_timeout
        self.report = report
        self._watch: BlockerWatch | None = None

    def close(self) -> None:
        """Stop watching for blockers (the watch's connection closes)."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _watcher(self) -> BlockerWatch:
        if self._watch is None:
            self._watch = BlockerWatch(self.dsn, self.conn.get_backend_pid())
        return self._watch

    def of(self, script: Script, once: Callable[[], T]) -> T:
        """``once()``, tried again while it fails only because a lock was not granted within
        ``lock_timeout`` (what failed was rolled back whole), up to the migration's attempts.
        """
        return self.retried(script.id, script.option("lock_timeout") or self.lock_timeout,
                            script.lock_attempts(self.attempts), once)

    def retried(self, label: str, timeout: str, attempts: int, once: Callable[[], T]) -> T:
        """``once()``, tried up to ``attempts`` times while it fails on a lock not granted
        within ``timeout``; each failed attempt is reported as ``label``'s, with the
        sessions that blocked it.

        :raises StatementFailed: what the last attempt raised (naming its blockers), or what
            an attempt raised for another cause.
        """
        limit = seconds(timeout)
        watch = self._watcher() if limit > 0 else None
        attempt = 1
        while True:
            if watch is not None:
                watch.arm(limit)
            try:
                return once()
            except StatementFailed as exc:
                if not exc.lock_timeout:
                    raise
                who = describe(watch.blockers() if watch is not None else [])
                if attempt >= attempts:
                    exc.message += (f"\n  {who}\n  gave up after {attempts} attempt(s), each"
                                    f" waiting up to lock_timeout {timeout} for its locks")
                    raise
                wait = backoff(attempt, self.wait)
                self.report(f"{label}: attempt {attempt} of {attempts} could not get its"
                            f" locks within lock_timeout {timeout}; {who}; trying again in"
                            f" {wait:.2f}s")
            finally:
                if watch is not None:
                    watch.disarm()
            time.sleep(wait)
            attempt += 1
