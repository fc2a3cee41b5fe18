"""A data step: a function run on a table batch by batch, resumable and observable.

How it runs depends on the migration around it. In a non-transactional migration
(``__transactional__ = False``) each batch is its own transaction: the batch's statements, then
its checkpoint row, then COMMIT, so row locks last one batch and a crash loses at most the batch
in flight. In a transactional migration the same batches run inside the migration's one
transaction (each under a savepoint, so a batch that could not get its locks can be retried),
for changes small enough to be all-or-nothing.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from ..config import DURATION
from ..engine.connect import fetch_row
from ..errors import DataMigrationError
from ..reports import STDERR, Reporter
from . import checkpoint, keys
from .progress import Progress

FORWARD, BACKWARD = "forward", "backward"
# Below this many rows (pg_class.reltuples) the total is counted exactly; above, estimated.
EXACT_COUNT_BELOW = 1_000_000
_RETRYABLE = (psycopg2.errors.LockNotAvailable, psycopg2.errors.DeadlockDetected)

_T = TypeVar("_T")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


class Batch:
    """One batch: the ``rows`` rows whose keys come after ``lo`` (None: the start) up to and
    including ``hi``, in key order.

    Statements go through :meth:`execute`, which fills in ``{range}`` and ``{where}``;
    ``cursor`` is there for reads. ``changed`` adds up the rows the statements changed.
    """

    def __init__(self, table: keys.KeyedTable, cursor: cursor, number: int, lo: list[str] | None,
                 hi: list[str], rows: int, where: str | None) -> None:
        self.table = table
        self.cursor = cursor
        self.number = number
        self.lo = lo
        self.hi = hi
        self.rows = rows
        self.where = where
        self.changed = 0

    def range(self, alias: str | None = None) -> str:
        """The batch's key-range predicate as SQL text, e.g. ``(id) > (...) AND (id) <= (...)``."""
        return self.table.range(self.lo, self.hi, alias).as_string(self.cursor.connection)

    def execute(self, query: str, params: dict | tuple | None = None) -> int:
        """Run ``query`` with ``{range}`` (or ``{range:alias}``) replaced by the batch's key
        range and ``{where}`` by the step's condition; returns the number of rows it changed.

        :raises DataMigrationError: ``query`` does not mention ``{range}``.
        """
        text = keys.expand(query, self.table, self.lo, self.hi, self.cursor.connection,
                           where=self.where, params=params is not None)
        self.cursor.execute(text, params)
        changed = max(self.cursor.rowcount, 0)
        self.changed += changed
        return changed


class _Transactions:
    """A batch's transaction: its own (autocommit connection) or a savepoint in the migration's."""

    def __init__(self, conn: connection) -> None:
        self.conn = conn
        self.owned = conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE

    def _run(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def begin(self) -> None:
        self._run("BEGIN" if self.owned else "SAVEPOINT mig_data_batch")

    def commit(self) -> None:
        self._run("COMMIT" if self.owned else "RELEASE SAVEPOINT mig_data_batch")

    def undo(self) -> None:
        if self.conn.closed:
            return
        with contextlib.suppress(psycopg2.Error):
            if self.owned:
                self._run("ROLLBACK")
            else:
                self._run("ROLLBACK TO SAVEPOINT mig_data_batch",
                          "RELEASE SAVEPOINT mig_data_batch")


@dataclass(frozen=True, kw_only=True, eq=False)
class DataStep:
    """The apply action of a data step (see :func:`mig.data.data_step`, which documents each
    field); yoyo calls it with the migration's connection.

    Its configuration is checked when it is made: :class:`TypeError` names the first field
    given a value it cannot take (raised while the migration file is read).
    """

    forward: Callable[[Batch], object]
    backward: Callable[[Batch], object] | None = None
    migration_id: str
    table: str
    name: str = ""  # default: the forward function's name
    where: str | None = None
    backward_where: str | None = None
    key: tuple[str, ...] | None = None  # default: the primary key
    batch_size: int = 1000
    pause: float = 0.0
    lock_timeout: str | None = None
    attempts: int = 5
    retry_wait: float = 0.5
    progress_every: float = 5.0

    irreversible: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_function(self.forward, "forward")
        if self.backward is not None:
            _check_function(self.backward, "backward")
        name = self.name or str(getattr(self.forward, "__name__", ""))
        if not _NAME.match(name):
            raise TypeError(f"data step name {name!r} is not usable: give name='...' (letters,"
                            " digits, _ . -; a lambda has no name of its own)")
        if not isinstance(self.table, str) or not self.table.strip():
            raise TypeError("data_step() needs table='...': the table the batches walk")
        if not _whole(self.batch_size):
            raise TypeError(f"batch_size must be a whole number of rows >= 1, got"
                            f" {self.batch_size!r}")
        if not _whole(self.attempts):
            raise TypeError(f"attempts must be a whole number >= 1, got {self.attempts!r}")
        if self.pause < 0 or self.retry_wait < 0 or self.progress_every <= 0:
            raise TypeError("pause and retry_wait must be >= 0 seconds, progress_every > 0")
        if self.lock_timeout is not None and not DURATION.match(str(self.lock_timeout)):
            raise TypeError(f"lock_timeout must be a duration like '2s' or '500ms', got"
                            f" {self.lock_timeout!r}")
        normal = {"name": name, "key": tuple(self.key) if self.key else None,
                  "pause": float(self.pause), "retry_wait": float(self.retry_wait),
                  "progress_every": float(self.progress_every),
                  "lock_timeout": None if self.lock_timeout is None else str(self.lock_timeout),
                  # what a dry run prints for this step
                  "__qualname__": f"data step {name} on {self.table}",
                  "__doc__": self.forward.__doc__}
        for field_name, value in normal.items():
            object.__setattr__(self, field_name, value)

    def __call__(self, conn: connection) -> None:
        """Run forward, as yoyo calls a step (outside mig's runner: progress to stderr)."""
        self.run(conn, FORWARD, STDERR)

    def run_reported(self, conn: connection, reporter: Reporter) -> None:
        """Run forward, as mig's runner calls it: progress to the run's reporter."""
        self.run(conn, FORWARD, reporter)

    # -- dry run ----------------------------------------------------------------------------
    def describe(self, conn: connection | None = None) -> str:
        """What the step would touch; rows are counted when given a (read-only) connection."""
        head = f"batches of {self.batch_size:,} rows of {self.table}"
        if self.where:
            head += f" where {self.where}"
        if conn is None:
            return f"{head}: rows not counted"
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table,))
                if not fetch_row(cur)[0]:
                    return f"{head}: {self.table} does not exist yet, rows not counted"
                table = keys.resolve(cur, self.table, self.key)
                state = checkpoint.read(cur, self.migration_id, self.name, FORWARD)
                if state is not None and state.finished:
                    return f"{head}: already done ({state.rows_changed:,} rows changed)"
                lo = state.last_key if state else None
                cur.execute(table.count(lo, self.where))
                count = fetch_row(cur)[0]
        except DataMigrationError as exc:
            return f"{head}: cannot run: {exc.message}"
        except psycopg2.Error as exc:  # e.g. a column an earlier pending migration adds
            if conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
                conn.rollback()
            return f"{head}: rows not counted ({_first_line(exc)})"
        resumed = f" (resuming after key {_key(lo)})" if lo else ""
        return f"{head}: {count:,} row(s) would be touched{resumed}"

    # -- running ----------------------------------------------------------------------------
    def run(self, conn: connection, direction: str, report: Reporter) -> None:
        """Walk the table batch by batch in ``direction``, resuming from the checkpoint."""
        function = self.forward if direction == FORWARD else self.backward
        where = self.where if direction == FORWARD else self.backward_where
        assert function is not None
        txn = _Transactions(conn)
        label = self.name if direction == FORWARD else f"{self.name} (backward)"
        with conn.cursor() as cur:
            table = keys.resolve(cur, self.table, self.key)
            checkpoint.ensure(cur)
            state = checkpoint.read(cur, self.migration_id, self.name, direction)
            saved_timeout = None
            if not txn.owned:
                cur.execute("SELECT current_setting('lock_timeout')")
                saved_timeout = fetch_row(cur)[0]
        if state is not None and state.finished:
            report(f"{label}: already done ({state.rows_changed:,} rows changed)")
            return
        if state is not None and state.key_columns != table.columns:
            raise self._error(
                direction, f"{label}: its checkpoint walked {table.name} by"
                f" ({', '.join(state.key_columns)}) but the key is now"
                f" ({', '.join(table.columns)})", state.last_key, owned=txn.owned,
                hint="to start the step over, delete its checkpoint: DELETE FROM"
                f" _mig_data_checkpoints WHERE migration_id = '{self.migration_id}'"
                f" AND step = '{self.name}'")
        lo = state.last_key if state else None
        done = state.rows_done if state else 0
        changed = state.rows_changed if state else 0
        number = state.batches if state else 0
        progress = Progress(label, total=None, done=done, report=report, stream=report.stream,
                            every=self.progress_every, bar=report.draws_bars)
        remaining = self._attempt(txn, direction, table, progress, "counting the rows", lo,
                                  lambda cur: _remaining(cur, table, lo))
        progress.total = done + remaining
        start = f"resuming after key {_key(lo)} ({done:,} rows done)" if lo else "starting"
        mode = "a commit per batch" if txn.owned else "in the migration's transaction"
        progress.note(f"{self.migration_id} {label}: {start}; about {remaining:,} rows of"
                      f" {table.name} to walk in batches of {self.batch_size:,}, {mode}")
        while True:
            number += 1
            outcome = self._attempt(
                txn, direction, table, progress, f"batch {number}", lo,
                functools.partial(self._batch, table=table, function=function,
                                  direction=direction, where=where, number=number, lo=lo))
            if outcome is None:
                break
            lo, rows, batch_changed = outcome
            changed += batch_changed
            progress.advance(rows)
            if self.pause and txn.owned:
                time.sleep(self.pause)
        if saved_timeout is not None:
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('lock_timeout', %s, true)", (saved_timeout,))
        progress.finish(f"{label}: done, {progress.done - progress.start_done:,} rows walked in"
                        f" {progress.elapsed:.1f}s ({progress.rate:,.0f} rows/s);"
                        f" {changed:,} rows changed in all")

    def _batch(self, cur: cursor, table: keys.KeyedTable, function: Callable[[Batch], object],
               direction: str, where: str | None, number: int, lo: list[str] | None
               ) -> tuple[list[str], int, int] | None:
        """Choose the next batch, run the function on it, checkpoint it; None when done."""
        cur.execute(table.next_batch(lo, self.batch_size))
        row = cur.fetchone()
        if row is None:
            checkpoint.save(cur, self.migration_id, self.name, direction, table.columns, None, 0,
                            0, finished=True)
            return None
        hi, rows = list(row[:-1]), row[-1]
        batch = Batch(table, cur, number, lo, hi, rows, where)
        function(batch)
        checkpoint.save(cur, self.migration_id, self.name, direction, table.columns, hi, rows,
                        batch.changed)
        return hi, rows, batch.changed

    def _attempt(self, txn: _Transactions, direction: str, table: keys.KeyedTable,
                 progress: Progress, what: str, lo: list[str] | None,
                 work: Callable[[cursor], _T]) -> _T:
        """Run ``work(cursor)`` in a batch transaction; retry it when its locks are not granted."""
        for attempt in range(1, self.attempts + 1):
            txn.begin()
            try:
                with txn.conn.cursor() as cur:
                    if self.lock_timeout is not None:
                        cur.execute("SELECT set_config('lock_timeout', %s, true)",
                                    (self.lock_timeout,))
                    result = work(cur)
            except _RETRYABLE as exc:
                txn.undo()
                holders = _holders(txn.conn, table)
                reason = _first_line(exc)
                if attempt == self.attempts:
                    resume = ("it resumes after the last committed batch" if txn.owned
                              else "the migration starts over")
                    raise self._error(
                        direction, f"{progress.label}: {what} of {table.name} (keys after"
                        f" {_key(lo)}) could not get its locks in {self.attempts} attempt(s)"
                        f" ({reason}){holders}", lo, owned=txn.owned,
                        hint="another session holds a conflicting lock on"
                        f" {table.name}; let it finish (or end it), then run"
                        f" {_verb(direction)} again: {resume}. Or give the step a longer"
                        " lock_timeout or more attempts") from None
                wait = min(self.retry_wait * attempt, 10.0)
                progress.note(f"{progress.label}: {what} could not get its locks"
                              f" ({reason}){holders}; attempt {attempt + 1} of {self.attempts}"
                              f" in {wait:g}s")
                time.sleep(wait)
                continue
            except psycopg2.Error as exc:
                txn.undo()
                text = (exc.pgerror or str(exc)).strip().removeprefix("ERROR:").strip()
                raise self._error(
                    direction, f"{progress.label}: {what} of {table.name} (keys after {_key(lo)})"
                    f" failed: {text}", lo, owned=txn.owned) from None
            except DataMigrationError as exc:  # the batch contract, e.g. no {range}
                txn.undo()
                raise self._error(direction,
                                  f"{progress.label}: {what} of {table.name}: {exc.message}",
                                  lo, owned=txn.owned, hint=exc.hint) from None
            except Exception as exc:
                txn.undo()
                raise self._error(direction, f"{progress.label}: {what} of {table.name} failed:"
                                  f" {type(exc).__name__}: {exc}", lo, owned=txn.owned) from exc
            except BaseException:
                txn.undo()
                raise
            txn.commit()
            return result
        raise AssertionError("unreachable")

    def _error(self, direction: str, message: str, last_key: list[str] | None, *, owned: bool,
               hint: str | None = None) -> DataMigrationError:
        message = f"{self.migration_id}: data step {message}"
        verb = _verb(direction)
        if hint is None and owned:
            hint = (f"the batches before it are committed; fix the cause and run {verb}"
                    f" again: it resumes after key {_key(last_key)}")
        elif hint is None:
            undone = "applied" if direction == FORWARD else "rolled back"
            hint = (f"nothing of the migration was {undone} (its transaction was rolled back);"
                    f" fix the cause and run {verb} again")
        return DataMigrationError(message, migration_id=self.migration_id, step=self.name,
                                  last_key=last_key, hint=hint)


class Backward:
    """The rollback action of a data step that has a backward function."""

    irreversible = False

    def __init__(self, step: DataStep) -> None:
        self.step = step
        self.__qualname__ = f"data step {step.name} backward"

    def __call__(self, conn: connection) -> None:
        """Run backward, as yoyo calls a step (outside mig's runner: progress to stderr)."""
        self.run_reported(conn, STDERR)

    def run_reported(self, conn: connection, reporter: Reporter) -> None:
        """Run backward and forget the step's checkpoint."""
        self.step.run(conn, BACKWARD, reporter)
        with conn.cursor() as cur:
            checkpoint.forget(cur, self.step.migration_id, self.step.name)


class Irreversible:
    """The rollback action of a data step without a backward function.

    ``mig rollback`` refuses a migration holding one unless forced; forced, the data stays as
    the forward function left it and only the step's checkpoint is removed.
    """

    irreversible = True

    def __init__(self, step: DataStep) -> None:
        self.step = step
        self.name = step.name  # what a refused rollback names
        self.__qualname__ = f"data step {step.name}: irreversible, its data changes stay"

    def __call__(self, conn: connection) -> None:
        """Forget the step's checkpoint, as yoyo calls a step (saying so on stderr)."""
        self.run_reported(conn, STDERR)

    def run_reported(self, conn: connection, reporter: Reporter) -> None:
        """Forget the step's checkpoint; the data stays as it is."""
        with conn.cursor() as cur:
            checkpoint.forget(cur, self.step.migration_id, self.step.name)
        reporter(f"{self.step.name}: irreversible data step; its data changes stay as they are")


def _whole(value: object) -> bool:
    """Whether ``value`` is a whole number >= 1."""
    return isinstance(value, int) and value >= 1


def _check_function(function: object, role: str) -> None:
    """A :class:`TypeError` unless ``function`` can be called with the batch alone."""
    if not callable(function):
        raise TypeError(f"data_step() {role} must be a function taking the batch, got"
                        f" {function!r}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin: nothing to check
        return
    try:
        signature.bind(object())
    except TypeError:
        label = getattr(function, "__qualname__", repr(function))
        raise TypeError(
            f"data_step() {role} {label} must take exactly one argument, the batch (with its"
            f" key range): def {getattr(function, '__name__', role)}(batch): ..."
        ) from None


def _remaining(cur: cursor, table: keys.KeyedTable, lo: list[str] | None) -> int:
    """Rows after ``lo``: counted below EXACT_COUNT_BELOW rows, else pg_class.reltuples."""
    cur.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s", (table.oid,))
    reltuples = fetch_row(cur)[0]
    if reltuples < EXACT_COUNT_BELOW:  # -1: never analysed; counting is the only figure
        cur.execute(table.count(lo))
        return fetch_row(cur)[0]
    if lo is None:
        return reltuples
    # the share of the key range left, for a key the planner has a histogram of
    cur.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + table.count(lo))
    plan = fetch_row(cur)[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    node = plan[0]["Plan"]
    while node.get("Plans") and "Aggregate" in node.get("Node Type", ""):
        node = node["Plans"][0]
    return int(node.get("Plan Rows", reltuples))


def _holders(conn: connection, table: keys.KeyedTable) -> str:
    """Who holds locks on the table, for the message: ``; held by pid 12 (psql, idle ...)``."""
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT l.pid, coalesce(nullif(a.application_name, ''), a.usename::text),"
                " a.state, string_agg(DISTINCT l.mode, '+')"
                " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.relation = %s AND l.granted AND l.pid <> pg_backend_pid()"
                " GROUP BY 1, 2, 3 ORDER BY 1 LIMIT 3", (table.oid,))
            rows = cur.fetchall()
    except psycopg2.Error:
        return ""
    if not rows:
        return ""
    return "; held by " + ", ".join(f"pid {pid} ({app}, {state}: {modes})"
                                    for pid, app, state, modes in rows)


def _first_line(exc: psycopg2.Error) -> str:
    return ((exc.pgerror or str(exc)).strip().splitlines() or ["?"])[0].removeprefix("ERROR:  ")


def _verb(direction: str) -> str:
    """The command that runs a step in ``direction`` again (and resumes it)."""
    return "'mig apply'" if direction == FORWARD else "'mig rollback'"


def _key(key: list[str] | None) -> str:
    if key is None:
        return "(start)"
    return key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
