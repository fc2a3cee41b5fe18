"""What runs against a connection: one migration applied or rolled back, with its records.

A transactional migration and the rows that record it (yoyo's ``_yoyo_migration`` and
``_yoyo_log``, mig's checksum) commit in one transaction: a crash anywhere leaves either all
of it or none of it. A non-transactional migration (``-- transactional: false`` or
``__transactional__ = False``, needed for ``CREATE INDEX CONCURRENTLY``) runs statement by
statement in autocommit; each completed step is recorded, so a re-run resumes after the last
one, and the migration is recorded as applied when its last step is done.

A statement that cannot get its lock within ``lock_timeout`` is tried again, a bounded number
of times with a growing, jittered wait in between: the whole transaction of a transactional
migration, the one statement of a non-transactional one. Each failed attempt names the
sessions that blocked it (:mod:`mig.blockers`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg2
import psycopg2.extensions
from psycopg2 import sql
from yoyo.backends.core.postgresql import PostgresqlBackend

from ..config import Settings
from ..disk import sqltext
from ..disk import steps as yoyo_steps
from ..disk.scripts import Script
from ..dsn import Dsn
from ..errors import ChecksumMismatch, MigError, StatementFailed
from ..reports import Line, Reporter, ReportingStep, reporter
from . import tracking
from .blockers import BlockerWatch, backoff, describe, seconds
from .connect import connect, fetch_row
from .failures import (
    RunState,
    connection_lost,
    python_error,
    statement_error,
    text_error,
    whole_release,
)
from .lock import locked_connection

T = TypeVar("T")


class Backend(PostgresqlBackend):
    """yoyo's PostgreSQL backend, connected through libpq strings and locked by mig.

    Connecting with the DSN as given keeps libpq keyword strings, ``PG*`` variables and
    ``.pgpass`` working. yoyo's own table lock is replaced by mig's advisory lock, which the
    caller holds around every change.
    """

    has_transactional_ddl = True

    def __init__(
        self, dsn: Dsn, migration_table: str, verb: str = "apply", *,
        connection: psycopg2.extensions.connection | None = None
    ) -> None:
        self.dsn = dsn
        self.verb = verb
        self._given_connection = connection
        super().__init__(dsn, migration_table)

    def connect(self, dburi: object) -> psycopg2.extensions.connection:  # yoyo's hook
        """The connection yoyo works on: the caller's (reused when given one), or a new one
        to ``dsn``."""
        if self._given_connection is not None:
            return self._given_connection
        return connect(self.dsn, verb=self.verb)

    def copy(self) -> Backend:
        """A backend like this one on a connection of its own (yoyo asks for one)."""
        return self.__class__(self.dsn, self.migration_table, self.verb)

    def lock(self, timeout: float = 10) -> contextlib.nullcontext[None]:
        """No lock of yoyo's: the caller holds mig's advisory lock."""
        return contextlib.nullcontext()


def _session_settings(cur: psycopg2.extensions.cursor, script: Script, defaults: dict[str, str],
                      context: dict[str, str], *, local: bool) -> None:
    """The migration's timeouts, and the settings it may read with ``current_setting('mig.app_role',
    true)``, in one round trip."""
    cur.execute(_settings_sql(script, defaults, context, local=local))


def _settings_sql(script: Script, defaults: dict[str, str], context: dict[str, str], *,
                  local: bool) -> sql.Composed:
    values = {name: script.option(name) or defaults[name]
              for name in ("lock_timeout", "statement_timeout")}
    values.update(context)
    calls = sql.SQL(", ").join(sql.SQL("set_config({}, {}, {})").format(
        sql.Literal(name), sql.Literal(value), sql.Literal(local))
        for name, value in values.items())
    return sql.SQL("SELECT {}").format(calls)


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


# A transactional SQL migration is sent whole; a mark before each of its statements (a notice
# the server sends as it reaches the statement) tells which one was running when it failed,
# without running anything again: a timeout, a lock failure, a slow statement, a release.
_MARK = "DO $mig_mark$BEGIN RAISE NOTICE 'mig:statement:{}'; END$mig_mark$; "
_MARK_NOTICE = re.compile(r"mig:statement:(\d+)\s*$")
# A file that changes who runs it or which notices reach mig would silence the marks after that
# point (and then name an earlier statement): it is sent unmarked.
_SILENCES_MARKS = re.compile(
    r"^(SET|RESET)\s+(SESSION\s+|LOCAL\s+)?(ROLE|SESSION\s+AUTHORIZATION|CLIENT_MIN_MESSAGES)\b")
_MARKS_USABLE_SQL = """
SELECT coalesce((SELECT has_language_privilege(oid, 'USAGE') FROM pg_language
                  WHERE lanname = 'plpgsql'), false)
   AND current_setting('client_min_messages')
       IN ('debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'log', 'notice')
"""


_MARK_TEXT = re.compile(re.escape(_MARK).replace(r"\{\}", r"\d+"))


def unmarked(message: str, sent: str, position: int) -> str:
    """The server's error message about ``sent`` (a marked text; ``position``: the 0-based
    offset in it that the server points at) with the ``LINE n:`` excerpt it quotes replaced
    by that line as the file has it, the ``^`` under the same character."""
    lines = message.split("\n")
    for index, line in enumerate(lines):
        head, colon, excerpt = line.partition(": ")
        if not (head.startswith("LINE ") and colon and index + 1 < len(lines)
                and lines[index + 1].strip() == "^"):
            continue
        begin = sent.rfind("\n", 0, position) + 1
        end = sent.find("\n", position)
        written = sent[begin:end if end >= 0 else len(sent)]
        column = position - begin
        column -= sum(m.end() - m.start() for m in _MARK_TEXT.finditer(written)
                      if m.end() <= column)
        original = _MARK_TEXT.sub("", written)
        lines[index] = head + colon + original
        lines[index + 1] = " " * (len(head) + len(colon) + column) + "^"
        break
    return "\n".join(lines)


class _Notices:
    """The connection's notices (what psycopg2 appends to ``conn.notices``), without the
    statement marks: the last mark's number is kept in ``at`` instead, so that thousands of
    marks never push a migration's own warnings out."""

    LIMIT = 50  # as many as psycopg2 keeps

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.at: int | None = None

    def append(self, notice: str) -> None:
        """Take one notice from the server."""
        mark = _MARK_NOTICE.search(notice)
        if mark is not None:
            self.at = int(mark.group(1))
            return
        self.kept.append(notice)
        del self.kept[:-self.LIMIT]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.kept))

    def __len__(self) -> int:
        return len(self.kept)

    def __delitem__(self, index: slice) -> None:
        del self.kept[index]


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
        self.defaults = {"lock_timeout": lock_timeout, "statement_timeout": statement_timeout}
        # What the privileges migration needs to know; unset, it uses its own defaults.
        self.context = {"mig.migration_table": backend.migration_table}
        if app_role is not None:
            self.context["mig.app_role"] = app_role
        self.report = reporter(report)
        self.lock_attempts = lock_attempts
        self.lock_retry_wait = lock_retry_wait
        self._watch: BlockerWatch | None = None
        self._in_release = False  # applying a whole release in one transaction
        self._state = RunState()
        self.notices = _Notices()
        self.conn.notices = self.notices
        self._marks: bool | None = None  # whether statement marks reach mig (asked once)

    def close(self) -> None:
        """Stop watching for blockers (the watch's connection closes)."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None

    def _watcher(self) -> BlockerWatch:
        if self._watch is None:
            self._watch = BlockerWatch(self.backend.dsn, self.conn.get_backend_pid())
        return self._watch

    def _lock_retries(self, script: Script, once: Callable[[], T]) -> T:
        """``once()``, tried again while it fails only because a lock was not granted within
        ``lock_timeout`` (what failed was rolled back whole), up to the migration's attempts.

        Each failed attempt is reported with the sessions that blocked it; the last one's
        error names them too.
        """
        return self._retried(script.id, script.option("lock_timeout") or
                             self.defaults["lock_timeout"],
                             script.lock_attempts(self.lock_attempts), once)

    def _retried(self, label: str, timeout: str, attempts: int, once: Callable[[], T]) -> T:
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
                wait = backoff(attempt, self.lock_retry_wait)
                self.report(f"{label}: attempt {attempt} of {attempts} could not get its"
                            f" locks within lock_timeout {timeout}; {who}; trying again in"
                            f" {wait:.2f}s")
            finally:
                if watch is not None:
                    watch.disarm()
            time.sleep(wait)
            attempt += 1

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
            return self._lock_retries(script, lambda: self._apply_transaction(script))
        return self._apply_steps(script)

    def _apply_transaction(self, script: Script) -> int:
        started = time.monotonic()
        self.backend.begin()
        with self._undone_on_error():
            with self.conn.cursor() as cur:
                _session_settings(cur, script, self.defaults, self.context, local=True)
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
                    settings = _settings_sql(script, self.defaults, self.context, local=True)
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
            return self._retried(f"release of {len(scripts)} migration(s)",
                                 self.defaults["lock_timeout"], self.lock_attempts, once)
        finally:
            self._in_release = False

    def _apply_steps(self, script: Script) -> int:
        started = time.monotonic()
        with self.conn.cursor() as cur:
            _session_settings(cur, script, self.defaults, self.context, local=False)
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
            self._reset_settings()
        return int((time.monotonic() - started) * 1000)

    def _end_failed_transaction(self) -> None:
        """Roll back the transaction a failure left open, if one is (a failed statement's
        transaction may already be rolled back: a second ROLLBACK would only warn)."""
        if not self.conn.closed and self.conn.get_transaction_status() != 0:
            self.backend.rollback()

    def _reset_settings(self) -> None:
        if self.conn.closed:
            return
        with self.conn.cursor() as cur:
            cur.execute("RESET lock_timeout; RESET statement_timeout")
            for name in self.context:
                cur.execute(sql.SQL("RESET {}").format(sql.Identifier(name)))

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
        skip, legacy, count = (_resume(self.conn, script, direction, total) if record
                               else (Counter(), set(), 0))
        for index, (wrapper, inner) in enumerate(pairs):
            if index in legacy:
                continue
            if skip[sums[index]] > 0:
                skip[sums[index]] -= 1
                continue
            self._state.done, self._state.total = count, total
            action = yoyo_steps.action(inner, direction)
            if isinstance(action, str) and self._concurrent_step_done(script, action):
                pass  # an interrupted run completed it before it could record it
            elif record and isinstance(action, str) and not _NO_TRANSACTION.search(action):
                def once(index: int = index, wrapper: yoyo_steps.Wrapper = wrapper,
                         inner: yoyo_steps.Step = inner, count: int = count) -> int:
                    self.backend.begin()
                    with self._undone_on_error():
                        self._run(script, index, wrapper, inner, direction, done=count,
                                  total=total)
                        tracking.mark_step(self.conn, script.id, sums[index], direction)
                        self.backend.commit()
                    return 0

                self._lock_retries(script, once)  # the step and its record, retried together
                count += 1
                continue
            else:
                self._run(script, index, wrapper, inner, direction, done=count, total=total)
            if record:
                tracking.mark_step(self.conn, script.id, sums[index], direction)
                count += 1
        self._state.done = count

    def _concurrent_step_done(self, script: Script, statement: str) -> bool:
        """Whether a ``CREATE``/``DROP INDEX CONCURRENTLY`` step is already done; an
        ``INVALID`` index left by an interrupted ``CREATE INDEX CONCURRENTLY`` is dropped first
        so the step builds it again."""
        match = _CONCURRENT_INDEX.match(sqltext.mask(statement))  # same offsets as statement
        if match is None:
            return False
        name = statement[match.start("name"):match.end("name")]
        with self.conn.cursor() as cur:
            cur.execute("SELECT c.oid::regclass::text, i.indisvalid FROM pg_class c"
                        " JOIN pg_index i ON i.indexrelid = c.oid"
                        " WHERE c.oid = to_regclass(%s)", (name,))
            row = cur.fetchone()
            if match.group("verb") == "DROP":
                return row is None
            if row is None:
                return False
            if row[1]:
                return match.group("exists") is None  # IF NOT EXISTS: let it say so
            cur.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
                sql.SQL(row[0])))
        self.report(f"{script.id}: dropped the INVALID index {row[0]} an interrupted"
                    " CREATE INDEX CONCURRENTLY left; building it again")
        return False

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
            return self._lock_retries(script, lambda: self._rollback_once(script, forced))
        return self._rollback_once(script, forced)

    def _rollback_once(self, script: Script, forced: str | None = None) -> int:
        started = time.monotonic()
        transactional = _in_transaction(script, "rollback")
        if transactional:
            self.backend.begin()
        try:
            with self._undone_on_error():
                with self.conn.cursor() as cur:
                    _session_settings(cur, script, self.defaults, self.context,
                                      local=transactional)
                if transactional:
                    self._run_all(script, "rollback")
                else:
                    self._run_steps(script, "rollback", record=True)
                    self.backend.begin()
                tracking.record_rollback(self.backend, script, forced=forced)
                self._before_commit(script)
                self._state.committing = True
                self.backend.commit()
        finally:
            if not transactional:
                self._reset_settings()
        return int((time.monotonic() - started) * 1000)

    def _run_all(self, script: Script, direction: str, *, prefix: str = "") -> None:
        """Run every step of ``script`` in ``direction`` inside the caller's transaction.

        A transactional SQL migration is sent as its whole file in one statement string: the
        same effect as yoyo's statement-by-statement steps inside one transaction, without
        parsing the file or a round trip per statement. When it fails, the server names the
        place of a syntax error; for other errors the statements are run again one by one (in
        a transaction rolled back again) to name the one that failed, but only where that is
        cheap and safe: see :func:`_replayable`. ``prefix`` (SQL) is sent in the same string,
        before the file's text.
        """
        if script.is_sql and script.transactional:
            if direction == "apply":
                path, text = script.path, script.text
            else:  # the rollback file, or the copy stored when the file is gone
                path, text = script.rollback_path or script.path, script.rollback_sql
            if sqltext.has_sql(text) or prefix:
                self._run_text(script, path, text, direction, prefix)
            return
        leaves = yoyo_steps.flatten(script.steps)
        if direction == "rollback":
            leaves.reverse()
        for index, (wrapper, inner) in enumerate(leaves):
            self._run(script, index, wrapper, inner, direction)

    def _run_text(self, script: Script, path: Path, text: str, direction: str,
                  prefix: str = "") -> None:
        started = time.monotonic()
        sent, parts = self._marked(text) if sqltext.has_sql(text) else ("", [])
        self.notices.at = None
        try:
            with self.conn.cursor() as cur:
                cur.execute(prefix + sent)
        except psycopg2.DatabaseError as exc:
            if self.conn.closed:
                raise
            elapsed = time.monotonic() - started
            self.backend.rollback()
            statement, line = self._locate(script, text, sent, parts, exc, elapsed, len(prefix))
            unlocated = "statement not located"
            if self._in_release:
                unlocated += (": not run again, as the migrations before it in the release were"
                              " rolled back with it")
            elif isinstance(exc, psycopg2.OperationalError):
                unlocated += ": not run again after a timeout, lock or connection failure"
            elif elapsed > REPLAY_WITHIN:
                unlocated += (f": the migration ran {elapsed:.1f}s before it failed; running it"
                              " again to find the statement would hold its locks as long again")
            detail = None
            position = getattr(getattr(exc, "diag", None), "statement_position", None)
            if sent != text and position and int(position) > len(prefix):
                pgerror = (getattr(exc, "pgerror", None) or str(exc)).strip()
                detail = unmarked(pgerror, sent, int(position) - len(prefix) - 1)
            raise text_error(script, path, statement, line, exc, direction, unlocated,
                             detail=detail) from None

    def _marked(self, text: str) -> tuple[str, list[sqltext.Statement]]:
        """``text`` as sent: with a mark before each statement, on the statement's own line
        (so the server's line numbers stay the file's), and its statements. Unmarked when
        the marks would not reach mig: no PL/pgSQL for the role, notices switched off, or a
        file that changes either (:data:`_SILENCES_MARKS`)."""
        if self._marks is None:
            with self.conn.cursor() as cur:
                cur.execute(_MARKS_USABLE_SQL)
                self._marks = bool(fetch_row(cur)[0])
        parts = sqltext.statements(text)
        if not self._marks or any(_SILENCES_MARKS.match(part.words) for part in parts):
            return text, parts
        pieces: list[str] = []
        at = 0
        for number, part in enumerate(parts, 1):
            pieces += [text[at:part.start], _MARK.format(number)]
            at = part.start
        pieces.append(text[at:])
        return "".join(pieces), parts

    def _locate(self, script: Script, text: str, sent: str, parts: list[sqltext.Statement],
                exc: psycopg2.DatabaseError, elapsed: float, offset: int = 0
                ) -> tuple[str | None, int | None]:
        """The failing statement of ``text`` (``sent`` marked, after ``offset`` characters of
        settings) and its line, for the error message: where the server says (a syntax
        error), else the statement whose mark came last, else found by a replay where that
        is cheap and safe."""
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        if position and int(position) > offset:  # a syntax error: the server says where
            # a mark holds no line break: lines counted in the sent text are the file's
            line = sent.count("\n", 0, int(position) - offset - 1) + 1
            for part in parts:
                if part.line <= line <= part.end_line:
                    return part.text, line
            return None, line
        at = self.notices.at
        if at is not None and 1 <= at <= len(parts):
            return parts[at - 1].text, parts[at - 1].line
        if self._in_release or not _replayable(exc, elapsed):
            return None, None
        # Replay the statements one by one in a transaction rolled back at the end, each
        # bounded by a statement_timeout the failed run would have met comfortably.
        self.backend.begin()
        try:
            with self.conn.cursor() as cur:
                _session_settings(cur, script, self.defaults, self.context, local=True)
                cur.execute("SELECT set_config('statement_timeout', %s, true)",
                            (f"{int(REPLAY_WITHIN * 2000)}ms",))
                for part in parts:
                    try:
                        cur.execute(part.text)
                    except psycopg2.DatabaseError:
                        return part.text, part.line
        finally:
            self.backend.rollback()
        return None, None

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
            self._lock_retries(script, once)  # a step of its own (autocommit): retried alone
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


# Statements PostgreSQL refuses inside a transaction block: such a step of a non-transactional
# migration runs on its own and is recorded right after it.
_NO_TRANSACTION = re.compile(
    r"\bCONCURRENTLY\b|^\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM|"
    r"CREATE\s+TABLESPACE|DROP\s+TABLESPACE|COMMIT|BEGIN|END|START)\b",
    re.IGNORECASE | re.MULTILINE)
# CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name / DROP INDEX CONCURRENTLY [IF EXISTS]
# name, on the statement's words (comments and literals blanked, whitespace collapsed).
_CONCURRENT_INDEX = re.compile(
    r"^\s*(?P<verb>CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+"
    r"(?P<exists>IF\s+(NOT\s+)?EXISTS\s+)?(?P<name>[^\s(;]+)", re.IGNORECASE)


def step_checksum(inner: yoyo_steps.Step, direction: str) -> str:
    """What identifies a step's work on resume: its SQL (whitespace-insensitive), or a Python
    step's name."""
    action = yoyo_steps.action(inner, direction)
    if isinstance(action, str):
        text = "sql:" + " ".join(action.split())
    else:
        text = "python:" + str(getattr(action, "__qualname__", action))
    return hashlib.sha256(text.encode()).hexdigest()


def _resume(conn: psycopg2.extensions.connection, script: Script, direction: str, total: int
            ) -> tuple[Counter[str], set[int], int]:
    """``(step checksums to skip, legacy positions to skip, steps done)`` of a run of
    ``script`` in ``direction``; a first run records itself in ``_mig_partial``.

    :raises ChecksumMismatch: the run started from another version of the file.
    """
    partial = tracking.partial_of(conn, script.id)
    done = tracking.completed_steps(conn, script.id, direction)
    if partial is None:
        tracking.start_partial(conn, script.id, direction, script.checksum, total)
    elif partial.direction != direction:
        raise MigError(
            f"{script.id} is {partial.summary}: finish that first",
            hint="'mig apply' resumes a partial apply, 'mig rollback' a partial rollback")
    elif partial.checksum is not None and partial.checksum != script.checksum:
        raise partial_edited(script, partial)
    legacy = {step for step, checksum in done.items() if checksum is None}
    skip = Counter(checksum for checksum in done.values() if checksum is not None)
    return skip, legacy, len(done)


def partial_edited(script: Script, partial: tracking.Partial) -> ChecksumMismatch:
    """The refusal to resume ``partial`` from an edited file."""
    recorded, current = partial.checksum or "?", script.checksum
    return ChecksumMismatch(
        f"{script.path}: {script.id} is {partial.summary}, but its file was edited since"
        f" that run started (checksum then {recorded[:12]}, now {current[:12]}): resuming"
        " could skip or repeat statements",
        problems=[{"id": script.id, "problem": "edited-partial", "recorded": recorded,
                   "current": current, "path": str(script.path)}],
        hint="restore the file as it was when the run started (e.g. from version control);"
        " or check by hand which of its statements the database already holds and run"
        " 'mig repair' to resume from the file as it is now: its steps whose statements"
        " already completed are skipped, the others run")


# A failed SQL migration is run again statement by statement to name the failing statement
# only when its first run failed within this many seconds: a replay takes about as long again,
# holding the same locks, which a quick failure can afford and a long table rewrite cannot.
REPLAY_WITHIN = 1.0


def _replayable(exc: psycopg2.DatabaseError, elapsed: float) -> bool:
    """Whether running the statements again would find the failing one cheaply and surely.

    Not after a timeout, a lock or deadlock failure, a cancel or a lost connection (all
    ``OperationalError``): those depend on other sessions and on time, so a replay would mostly
    wait out the same limits again and could fail elsewhere or not at all.
    """
    return elapsed <= REPLAY_WITHIN and not isinstance(exc, psycopg2.OperationalError)


def backend_on(settings: Settings, dsn: Dsn, conn: psycopg2.extensions.connection,
               verb: str) -> Backend:
    """yoyo's backend on a connection holding the migration lock, with the tracking tables."""
    backend = Backend(dsn, settings.migration_table, verb, connection=conn)
    tracking.ensure_tables(backend)
    return backend


@contextlib.contextmanager
def locked_backend(settings: Settings, verb: str, report: Reporter) -> Iterator[Backend]:
    """yoyo's backend on a connection holding the migration lock (waiting for it as set)."""
    with locked_connection(settings, verb, report) as (dsn, conn):
        yield backend_on(settings, dsn, conn, verb)


def make_runner(settings: Settings, backend: Backend, report: Reporter) -> Runner:
    """The runner every verb applies migrations with: the configured timeouts and roles."""
    return Runner(backend, lock_timeout=settings.db_lock_timeout,
                  statement_timeout=settings.statement_timeout, report=report,
                  app_role=settings.app_role, lock_attempts=settings.db_lock_attempts,
                  lock_retry_wait=settings.db_lock_retry_wait)
