"""What runs against a connection: one migration applied or rolled back, with its records.

A transactional migration and the rows that record it (yoyo's ``_yoyo_migration`` and
``_yoyo_log``, mig's checksum) commit in one transaction: a crash anywhere leaves either all
of it or none of it. A non-transactional migration (``-- transactional: false`` or
``__transactional__ = False``, needed for ``CREATE INDEX CONCURRENTLY``) runs statement by
statement in autocommit; each completed step is recorded, so a re-run resumes after the last
one, and the migration is recorded as applied when its last step is done.

The ideas around the run have modules of their own: yoyo's backend (:mod:`mig.yoyo.backend`),
the settings a migration runs under (:mod:`mig.engine.session`), lock retries
(:mod:`mig.engine.retries`), resume by content (:mod:`mig.engine.resume`), an SQL file sent
whole and where it failed (:mod:`mig.engine.marks`), and the records
(:mod:`mig.engine.tracking`, :mod:`mig.engine.partial`).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator

import psycopg2
import psycopg2.extensions

from ..config import Settings
from ..disk import sqltext
from ..disk.scripts import Script
from ..errors import MigError
from ..reports import Line, Reporter, ReportingStep, reporter
from ..yoyo import steps as yoyo_steps
from ..yoyo.backend import Backend
from . import partial, tracking
from .failures import (
    RunState,
    connection_lost,
    python_error,
    statement_error,
    whole_release,
)
from .marks import Marks
from .resume import concurrent_step_done, outside_transaction, resume, step_checksum
from .retries import LockRetries
from .session import Session


def _run_leaf(backend: Backend, wrapper: yoyo_steps.Wrapper, inner: yoyo_steps.Step,
              direction: str, report: Reporter) -> None:
    action = yoyo_steps.action(inner, direction)
    if action is None:
        return
    ignore = yoyo_steps.ignores_errors(wrapper, direction)
    savepoint = ignore and backend.connection.get_transaction_status() != 0
    if savepoint:
        backend.execute("SAVEPOINT mig_step")
    try:
        if isinstance(action, str):
            with backend.connection.cursor() as cur:
                cur.execute(action)
        elif isinstance(action, ReportingStep):  # a data step: its progress goes to the run's
            action.run_reported(backend.connection, report)
        else:
            action(backend.connection)
    except psycopg2.DatabaseError:
        if not ignore:
            raise
        if savepoint:
            backend.execute("ROLLBACK TO SAVEPOINT mig_step")


# Migrations committed together by apply_grouped: long enough that a history of small
# migrations spends its time in them rather than in commits, short enough that a failed group,
# applied again one by one, costs little.
GROUP_SIZE = 50

class Runner:
    """Applies and rolls back scripts on one backend connection (lock held by the caller)."""

    def __init__(
        self,
        backend: Backend,
        *,
        lock_timeout: str,
        statement_timeout: str,
        report: Reporter | Line | None = None,
        app_role: str | None = None,
        lock_attempts: int = 1,
        lock_retry_wait: float = 1.0,
    ) -> None:
        self.backend = backend
        self.conn = backend.connection
        self.session = Session(lock_timeout=lock_timeout, statement_timeout=statement_timeout,
                               migration_table=backend.migration_table, app_role=app_role)
        self.report = reporter(report)
        self.lock_attempts = lock_attempts
        self.retries = LockRetries(backend.dsn, self.conn, attempts=lock_attempts,
                                   wait=lock_retry_wait, lock_timeout=lock_timeout,
                                   report=self.report)
        self._in_release = False  # applying a whole release in one transaction
        self._state = RunState()
        self.marks = Marks(backend, self.session)
        self.notices = self.marks.notices

    def close(self) -> None:
        """Stop watching for blockers (the watch's connection closes)."""
        self.retries.close()

    def _before_commit(self, script: Script) -> None:
        """Last point before a migration's transaction commits (a seam for fault tests)."""

    def _warnings(self, script: Script) -> None:
        """Pass on the warnings the server raised while ``script`` ran (RAISE WARNING in a
        migration reaches whoever runs it), and forget the other notices."""
        for notice in self.conn.notices:
            if notice.startswith("WARNING:"):
                text = " ".join(notice.removeprefix("WARNING:").split())
                self.report(f"{script.id}: warning: {text.replace(' HINT: ', '; hint: ')}")
        del self.conn.notices[:]

    def apply(self, script: Script) -> int:
        """Apply ``script`` and record it; returns the duration in milliseconds, commit
        included."""
        del self.conn.notices[:]
        self._state = RunState()
        try:
            return self._apply_script(script)
        except (psycopg2.Error, MigError) as exc:
            if self.conn.closed:
                raise connection_lost(script, "apply", self._state, exc) from None
            raise
        finally:
            self._warnings(script)

    def _apply_script(self, script: Script) -> int:
        if _in_transaction(script, "apply"):
            return self.retries.of(script, lambda: self._apply_transaction(script))
        return self._apply_steps(script)

    def _apply_transaction(self, script: Script) -> int:
        started = time.monotonic()
        self.backend.begin()
        with self._undone_on_error():
            with self.conn.cursor() as cur:
                self.session.set(cur, script, local=True)
            self._run_all(script, "apply")
            duration = int((time.monotonic() - started) * 1000)
            if not script.post_apply:
                tracking.record_apply(self.backend, script, duration)
            self._before_commit(script)
            self._state.committing = True
            self.backend.commit()
        return int((time.monotonic() - started) * 1000)

    @contextlib.contextmanager
    def _undone_on_error(self) -> Iterator[None]:
        """Roll back the open transaction when anything fails inside."""
        try:
            yield
        except BaseException:
            self._end_failed_transaction()
            raise

    def apply_release(self, scripts: list[Script]) -> list[int]:
        """Apply ``scripts`` (all transactional) and record them in ONE transaction: all of
        them or none. Returns each one's duration in milliseconds.

        Each migration still gets its own settings (``SET LOCAL`` lasts until the next one's);
        the records are written together, in one round trip, before the commit. A lock
        request that times out retries the whole release.
        """
        def once() -> list[int]:
            durations: list[int] = []
            del self.conn.notices[:]
            self.backend.begin()
            with self._undone_on_error(), whole_release(len(scripts)):
                for script in scripts:
                    started = time.monotonic()
                    settings = self.session.sql(script, local=True)
                    if script.is_sql:  # sent with the migration's text: one round trip
                        # on the file's first line, so the server's LINE numbers are the file's
                        self._run_all(script, "apply",
                                      prefix=settings.as_string(self.conn) + "; ")
                    else:
                        with self.conn.cursor() as cur:
                            cur.execute(settings)
                        self._run_all(script, "apply")
                    durations.append(int((time.monotonic() - started) * 1000))
                    self._warnings(script)
                recorded = [(s, d) for s, d in zip(scripts, durations) if not s.post_apply]
                tracking.record_applies(self.backend, [s for s, _ in recorded],
                                        [d for _, d in recorded])
                self._before_commit(scripts[-1])
                self.backend.commit()
            return durations

        self._in_release = True
        try:
            return self.retries.retried(f"release of {len(scripts)} migration(s)",
                                 self.retries.lock_timeout, self.lock_attempts, once)
        finally:
            self._in_release = False

    def apply_grouped(self, scripts: list[Script], *, group_size: int = GROUP_SIZE
                      ) -> Iterator[tuple[Script, int]]:
        """Apply ``scripts`` in order, each with its duration in milliseconds as it lands.

        Consecutive migrations that run in a transaction go in groups of up to
        ``group_size``: a group and its records commit in one transaction (one commit
        instead of one per migration, which is most of the time a long history of small
        migrations takes). A migration that runs outside a transaction, and a post-apply
        hook, is applied on its own and ends the group before it. A migration and its
        record still commit together or not at all. When a group fails, nothing of it was
        committed, and it is applied again one migration at a time: the failure then names
        its own migration, and those before it stay applied, as without groups.
        """
        start = 0
        while start < len(scripts):
            end = start
            while (end < len(scripts) and end - start < group_size
                   and not scripts[end].post_apply and _in_transaction(scripts[end], "apply")):
                end += 1
            if end - start < 2:
                script = scripts[start]
                yield script, self.apply(script)
                start += 1
                continue
            group = scripts[start:end]
            try:
                durations = self.apply_release(group)
            except (psycopg2.Error, MigError):
                if self.conn.closed:
                    raise
                durations = None  # applied again one by one below, where it fails by name
            if durations is not None:
                yield from zip(group, durations)
            else:
                for script in group:
                    yield script, self.apply(script)
            start = end

    def _apply_steps(self, script: Script) -> int:
        started = time.monotonic()
        with self.conn.cursor() as cur:
            self.session.set(cur, script, local=False)
        try:
            self._run_steps(script, "apply", record=not script.post_apply)
            duration = int((time.monotonic() - started) * 1000)
            if not script.post_apply:
                self.backend.begin()
                tracking.record_apply(self.backend, script, duration)
                self._before_commit(script)
                self._state.committing = True
                self.backend.commit()
        except BaseException:
            self._end_failed_transaction()
            raise
        finally:
            self.session.reset(self.conn)
        return int((time.monotonic() - started) * 1000)

    def _end_failed_transaction(self) -> None:
        """Roll back the transaction a failure left open, if one is (a failed statement's
        transaction may already be rolled back: a second ROLLBACK would only warn)."""
        if not self.conn.closed and self.conn.get_transaction_status() != 0:
            self.backend.rollback()

    def _run_steps(self, script: Script, direction: str, *, record: bool) -> None:
        """Run a non-transactional migration's steps in ``direction``, resuming by content.

        Before the first step, ``_mig_partial`` records the run with the checksum of the file
        it starts from. A step that can run in a transaction commits together with its
        ``_mig_progress`` row, which holds the checksum of its statement; a step that cannot
        (``CREATE INDEX CONCURRENTLY``, a Python step that commits itself) is recorded right
        after it. A re-run of the same file skips the steps whose statements completed; a
        re-run of an edited file is refused (see :func:`_resume`).
        """
        pairs = yoyo_steps.flatten(script.steps)
        if direction == "rollback":
            pairs = [p for p in reversed(pairs) if yoyo_steps.action(p[1], "rollback") is not None]
        sums = [step_checksum(inner, direction) for _, inner in pairs]
        total = len(pairs)
        skip, legacy, count = (resume(self.conn, script, direction, total) if record
                               else (Counter(), set(), 0))
        for index, (wrapper, inner) in enumerate(pairs):
            if index in legacy:
                continue
            if skip[sums[index]] > 0:
                skip[sums[index]] -= 1
                continue
            self._state.done, self._state.total = count, total
            action = yoyo_steps.action(inner, direction)
            if isinstance(action, str) and concurrent_step_done(self.conn, script, action,
                                                                self.report):
                pass  # an interrupted run completed it before it could record it
            elif record and isinstance(action, str) and not outside_transaction(action):
                def once(index: int = index, wrapper: yoyo_steps.Wrapper = wrapper,
                         inner: yoyo_steps.Step = inner, count: int = count) -> int:
                    self.backend.begin()
                    with self._undone_on_error():
                        self._run(script, index, wrapper, inner, direction, done=count,
                                  total=total)
                        partial.mark_step(self.conn, script.id, sums[index], direction)
                        self.backend.commit()
                    return 0

                self.retries.of(script, once)  # the step and its record, retried together
                count += 1
                continue
            else:
                self._run(script, index, wrapper, inner, direction, done=count, total=total)
            if record:
                partial.mark_step(self.conn, script.id, sums[index], direction)
                count += 1
        self._state.done = count

    def rollback(self, script: Script, *, forced: str | None = None) -> int:
        """Roll ``script`` back and remove its records, in one transaction where possible.

        :param forced: why the rollback cannot undo everything (``--force``): logged with it.
        """
        del self.conn.notices[:]
        self._state = RunState()
        try:
            return self._rollback_script(script, forced)
        except (psycopg2.Error, MigError) as exc:
            if self.conn.closed:
                raise connection_lost(script, "rollback", self._state, exc) from None
            raise
        finally:
            self._warnings(script)

    def _rollback_script(self, script: Script, forced: str | None = None) -> int:
        if _in_transaction(script, "rollback"):
            return self.retries.of(script, lambda: self._rollback_once(script, forced))
        return self._rollback_once(script, forced)

    def _rollback_once(self, script: Script, forced: str | None = None) -> int:
        started = time.monotonic()
        transactional = _in_transaction(script, "rollback")
        if transactional:
            self.backend.begin()
        try:
            with self._undone_on_error():
                with self.conn.cursor() as cur:
                    self.session.set(cur, script, local=transactional)
                if transactional:
                    self._run_all(script, "rollback")
                else:
                    self._run_steps(script, "rollback", record=True)
                    self.backend.begin()
                tracking.record_rollback(self.backend, script.id, forced=forced)
                self._before_commit(script)
                self._state.committing = True
                self.backend.commit()
        finally:
            if not transactional:
                self.session.reset(self.conn)
        return int((time.monotonic() - started) * 1000)

    def _run_all(self, script: Script, direction: str, *, prefix: str = "") -> None:
        """Run every step of ``script`` in ``direction`` inside the caller's transaction.

        A transactional SQL migration is sent as its whole file in one string, marked
        (:mod:`mig.engine.marks`), after ``prefix`` (SQL); the others run step by step.
        """
        if script.is_sql and script.transactional:
            if direction == "apply":
                path, text = script.path, script.text
            else:  # the rollback file, or the copy stored when the file is gone
                path, text = script.rollback_path or script.path, script.rollback_sql
            if sqltext.has_sql(text) or prefix:
                self.marks.run(script, path, text, direction, prefix,
                               in_release=self._in_release)
            return
        leaves = yoyo_steps.flatten(script.steps)
        if direction == "rollback":
            leaves.reverse()
        for index, (wrapper, inner) in enumerate(leaves):
            self._run(script, index, wrapper, inner, direction)

    def _run(self, script: Script, index: int, wrapper: yoyo_steps.Wrapper,
             inner: yoyo_steps.Step, direction: str, *, done: int | None = None,
             total: int | None = None) -> None:
        def once() -> int:
            try:
                _run_leaf(self.backend, wrapper, inner, direction, self.report)
            except psycopg2.DatabaseError as exc:
                if self.conn.closed:
                    raise  # Runner.apply/rollback say what a lost connection left
                raise statement_error(script, inner, exc, direction, done, total) from None
            except MigError:
                raise  # already says what and where (a data step's error, a refusal)
            except Exception as exc:  # a bug in a Python step: name the file and line
                if self.conn.closed and isinstance(exc, psycopg2.Error):
                    raise
                raise python_error(script, inner, exc, direction, done, total) from exc
            return 0

        if self.conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            self.retries.of(script, once)  # a step of its own (autocommit): retried alone
        else:
            once()  # inside the migration's transaction: retried with it


def _in_transaction(script: Script, direction: str) -> bool:
    """Whether ``script`` runs in ``direction`` in one transaction with its records: a
    transactional migration, or one with nothing to run that way (an empty migration, a
    rollback of nothing), where only the records change."""
    if script.transactional:
        return True
    return not any(yoyo_steps.action(inner, direction) is not None
                   for _, inner in yoyo_steps.flatten(script.steps))


def make_runner(settings: Settings, backend: Backend, report: Reporter) -> Runner:
    """The runner every verb applies migrations with: the configured timeouts and roles."""
    return Runner(backend, lock_timeout=settings.db_lock_timeout,
                  statement_timeout=settings.statement_timeout, report=report,
                  app_role=settings.app_role, lock_attempts=settings.db_lock_attempts,
                  lock_retry_wait=settings.db_lock_retry_wait)
