"""Writing: the seed transaction, one table at a time in load order, and its report.

The whole run is one transaction that starts by taking a transaction-level advisory lock, so
two runs at once take turns; the second sees the first's rows (READ COMMITTED, fresh snapshot
per statement) and writes nothing more. Any database error rolls everything back and is
reported against the fixture row that caused it, found by replaying the table row by row.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
from psycopg2 import errorcodes, extensions, sql

from ..errors import SeedError
from .cache import SeedCache
from .fast import CONTEXT, Shortcuts
from .files import read_fixtures
from .model import plain
from .params import Params
from .plan import build_plans
from .report import MASK, RowAction, SeedReport, TableCounts, format_key
from .statements import Statements
from .tableplan import Entry, TablePlan

# pg_advisory_xact_lock key of seed runs: the bytes of "mig.seed" read as a bigint.
SEED_LOCK = int.from_bytes(b"mig.seed", "big")
MAX_LOCATED = 10  # rows named in one database-error report
COPY_CHUNK = 1 << 20


def load_seeds(
    conn: Any,
    seeds_dir: str | os.PathLike[str],
    env: str | None = None,
    *,
    prune: bool = False,
    dry_run: bool = False,
    cache: str | os.PathLike[str] | SeedCache | None = None,
) -> SeedReport:
    """Load ``seeds_dir/base/`` (and ``seeds_dir/<env>/``) into the database of ``conn``.

    Every fixture is validated against the live catalogue first; any problem raises one
    :class:`~mig.errors.SeedError` listing all of them (``problems``) and nothing is written.
    Rows are matched by natural key: missing rows are inserted, rows whose values differ are
    updated, rows already as seeded are left untouched. With ``prune``, rows that a fixture
    owns (``owned:``) but no longer lists are soft-deleted (``deleted_at``) or deleted. With
    ``dry_run``, per-row actions are computed and nothing is written. ``cache`` is a folder
    (or :class:`~mig.seeds.cache.SeedCache`) where parsed fixtures are kept between runs;
    None: every file is parsed.

    On an idle connection the run is its own transaction (READ COMMITTED), committed at the
    end; inside a caller's open transaction it runs in a savepoint and the caller commits.
    A database error rolls the run back and raises :class:`SeedError` naming file and line.
    """
    if cache is not None and not isinstance(cache, SeedCache):
        cache = SeedCache(cache)
    fixtures, problems = read_fixtures(seeds_dir, env, cache=cache)
    report = SeedReport(env=env, dry_run=dry_run, prune=prune,
                        files=[f.file for f in fixtures])
    with _transaction(conn, keep=not dry_run) as (cur, begin):
        cur.execute(f"{begin}SELECT pg_advisory_xact_lock(%s), {CONTEXT}", (SEED_LOCK,))
        context = cur.fetchone()[1]
        plans, found = build_plans(cur, fixtures)
        problems += found
        if problems:
            raise problem_list(problems, "seed fixtures have {n}; nothing was written")
        suffix = uuid.uuid4().hex[:10]
        loads = [_TableLoad(cur, plan, f"_mig_seed_{suffix}_{n}", report, cache, context)
                 for n, plan in enumerate(plans)]
        for load in loads:
            load.upsert()
        if prune:
            # Referring tables first: their owned rows go before the rows they refer to.
            for load in reversed(loads):
                load.prune()
    return report


def describe_problem(problem: SeedError) -> str:
    """A problem as one line: ``file:line: message``."""
    place = problem.file or "?"
    if problem.line:
        place += f":{problem.line}"
    key = f" {format_key(problem.key)}" if problem.key else ""
    return f"{place}:{key} {problem.message}"


def problem_list(problems: list[SeedError], title: str, noun: str = "problem") -> SeedError:
    """One error that names every problem, sorted by file and line."""
    problems = sorted(problems, key=lambda p: (p.file or "", p.line or 0))
    count = f"{len(problems)} {noun}" + ("s" if len(problems) != 1 else "")
    lines = [title.format(n=count) + ":"] + [f"  {describe_problem(p)}" for p in problems]
    first = problems[0]
    return SeedError("\n".join(lines), file=first.file, line=first.line, key=first.key,
                     problems=problems, hint=first.hint)


@contextlib.contextmanager
def _transaction(conn: Any, *, keep: bool) -> Iterator[tuple[Any, str]]:
    """A cursor in the run's transaction, and what to send before its first statement."""
    status = conn.info.transaction_status
    if status == extensions.TRANSACTION_STATUS_INERROR:
        raise SeedError("the connection is in a failed transaction; roll it back first")
    if status != extensions.TRANSACTION_STATUS_IDLE:
        # The caller's transaction: a savepoint, so that a failure undoes only the seeds.
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT mig_seed")
            try:
                yield cur, ""
            except BaseException:
                if conn.info.transaction_status != extensions.TRANSACTION_STATUS_IDLE:
                    cur.execute("ROLLBACK TO SAVEPOINT mig_seed")
                raise
            cur.execute("RELEASE SAVEPOINT mig_seed" if keep else "ROLLBACK TO SAVEPOINT mig_seed")
        return
    autocommit = conn.autocommit
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            # Whatever the connection's default: each statement must see what a run that
            # held the lock before us committed.
            yield cur, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; "
        if keep:
            conn.commit()
        else:
            conn.rollback()
    except BaseException:
        if not conn.closed:  # a lost connection: the server rolled it back; say why it failed
            conn.rollback()
        raise
    finally:
        if not conn.closed:
            conn.autocommit = autocommit


class _TableLoad:
    def __init__(self, cur: Any, plan: TablePlan, staging: str, report: SeedReport,
                 cache: SeedCache | None = None, context: str = "") -> None:
        self.cur, self.plan, self.report = cur, plan, report
        self.counts = report.tables.setdefault(plan.name, TableCounts())
        self.sql = Statements(plan, staging)
        self.staged = False
        self.fast = None if report.dry_run or not plan.size else Shortcuts(
            cur, plan, self.sql, cache, context)
        self.secrets = {str(plain(row.values[f])) for fixture in plan.fixtures
                        for row in fixture.made.values()
                        for f in row.secret_fields if f in row.values}
        self.secrets.discard("")

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def upsert(self) -> None:
        """Stage the rows; then insert and update (a dry run: compare)."""
        if self._shortcut():
            return
        self._stage()
        references = not self.report.dry_run
        bad = []
        if self.sql.needs_guard(references=references):
            self.cur.execute(self.sql.guard(references=references))
            bad = self.cur.fetchall()
        if bad:
            by_idx = {e.idx: e for e in self.plan.entries}
            raise problem_list([self._unwritable(by_idx[i], why, by_idx.get(other))
                                for i, why, other in bad],
                               "seed rows cannot be written ({n}); nothing was written")
        if self.report.dry_run:
            self._dry_run()
            return
        params = Params(only=None)
        [(updated, inserted, _)] = self._guarded(self.sql.write(params), params,
                                                 self._locate_write)
        self.counts.updated += updated
        self.counts.inserted += inserted
        self.counts.unchanged += self.plan.size - updated - inserted
        if self.fast is not None:
            self.fast.remember(updated=updated, inserted=inserted)

    def _shortcut(self) -> bool:
        """Load the table by one of the shortcuts of :mod:`mig.seeds.fast`, if one applies."""
        fast = self.fast
        if fast is None or fast.shape is None or not (fast.can_copy or fast.expected):
            return False
        live = fast.live_rows()
        if live == 0 and fast.can_copy:
            inserted = fast.copy()
            if inserted is None:
                return False
            self.counts.inserted += inserted
            self.counts.unchanged += self.plan.size - inserted
            fast.remember(updated=0, inserted=inserted)
            return True
        if fast.unchanged(live):
            self.counts.unchanged += self.plan.size
            return True
        return False

    def _stage(self) -> None:
        """The rows into the staging table: ``COPY`` into a temporary table, then, where the
        rows refer to others, a second one with the references resolved."""
        links = bool(self.plan.links)
        sent = self.sql.staging + "_sent" if links else self.sql.staging
        data = io.StringIO(self.sql.copy_data())
        self.cur.execute(sql.SQL("SAVEPOINT mig_seed_table; {}").format(self.sql.create_sent(sent)))
        try:
            self.cur.copy_expert(self.sql.copy(sent).as_string(self.cur), data, size=COPY_CHUNK)
            if links:
                params = Params()
                self.cur.execute(self.sql.create_staging(params, sent), params)
        except psycopg2.Error as exc:
            self.cur.execute("ROLLBACK TO SAVEPOINT mig_seed_table")
            raise self._db_error(exc, self._locate_staging(exc)) from None
        self.cur.execute("RELEASE SAVEPOINT mig_seed_table")
        self.staged = True

    def prune(self) -> None:
        """Remove (or, in a dry run, list) owned rows that no fixture lists."""
        if not self.plan.owners or not self.staged:
            return  # not staged: a shortcut found (or made) the live rows the listed ones
        if self.report.dry_run:
            self._dry_prune()
            return
        params = Params(only=None)
        [(_, _, deleted)] = self._guarded(self.sql.write(params, upsert=False, prune=True),
                                          params, self._locate_prune)
        self.counts.deleted += deleted

    def _unwritable(self, entry: Entry, why: str, other: Entry | None) -> SeedError:
        if why == "ambiguous":
            return entry.problem(f"the natural key matches several live rows of "
                                 f"{self.plan.name}; add key columns so it names one row")
        if why == "same key" and other is not None:
            return entry.problem(self._same_key(other))
        return entry.problem("a referenced row was not found when this row was written")

    def _same_key(self, first: Entry) -> str:
        return (f"duplicate key in table {self.plan.name}: the database reads it as the key of "
                f"the row at {first.fixture.file}:{first.row.line}")

    # -- database errors -------------------------------------------------------------------

    def _guarded(self, statement: sql.Composable, params: Params, locate: Any) -> list[Any]:
        """Run ``statement``; on a database error, find the rows to blame and raise."""
        self.cur.execute("SAVEPOINT mig_seed_table")
        try:
            self.cur.execute(statement, params)
            result = self.cur.fetchall() if self.cur.description else []
        except psycopg2.Error as exc:
            self.cur.execute("ROLLBACK TO SAVEPOINT mig_seed_table")
            raise self._db_error(exc, locate(exc)) from None
        self.cur.execute("RELEASE SAVEPOINT mig_seed_table")
        return result

    def _db_error(self, exc: psycopg2.Error, located: list[SeedError]) -> SeedError:
        if located:
            return problem_list(located, "the database refused {n}; nothing was written", "row")
        files = ", ".join(sorted({f.file for f in self.plan.fixtures}))
        return SeedError(f"the database refused the rows of {self.plan.name} ({files}): "
                         f"{self._message(exc)}; nothing was written",
                         file=self.plan.fixtures[0].file)

    def _message(self, exc: psycopg2.Error) -> str:
        diag = exc.diag
        text = diag.message_primary or str(exc).splitlines()[0]
        if diag.constraint_name and diag.constraint_name not in text:
            text += f" (constraint {diag.constraint_name})"
        return self.mask(text)

    def _replay(self, run_one: Any) -> list[SeedError]:
        """Run each row alone, in order and on top of the earlier ones; the rows that fail."""
        found: list[SeedError] = []
        for entry in self.plan.entries:
            self.cur.execute("SAVEPOINT mig_seed_row")
            try:
                run_one(entry)
            except psycopg2.Error as exc:
                self.cur.execute("ROLLBACK TO SAVEPOINT mig_seed_row")
                found.append(entry.problem(self._message(exc)))
                if len(found) >= MAX_LOCATED:
                    break
            else:
                self.cur.execute("RELEASE SAVEPOINT mig_seed_row")
        return found

    def _locate_staging(self, exc: psycopg2.Error) -> list[SeedError]:
        def run_one(entry: Entry) -> None:
            params = Params()
            self.cur.execute(self.sql.select_staged(params, [entry]), params)

        return self._replay(run_one)

    def _locate_write(self, exc: psycopg2.Error) -> list[SeedError]:
        self.cur.execute(sql.SQL("CREATE INDEX ON {} (_i)").format(
            sql.Identifier(self.sql.staging)))
        statement = self.sql.write(Params())

        def run_one(entry: Entry) -> None:
            self.cur.execute(statement, {"only": entry.idx})

        found = self._replay(run_one)
        if not found and exc.pgcode == errorcodes.UNIQUE_VIOLATION:
            found = self._same_keys(exc)
        return found

    def _same_keys(self, exc: psycopg2.Error) -> list[SeedError]:
        """Rows whose keys differ to every check before writing but that the database reads
        as one key: alone, each is written (the second updates the first); together, both
        are inserted and collide."""
        self.cur.execute(self.sql.same_keys())
        by_idx = {e.idx: e for e in self.plan.entries}
        found = [by_idx[i].problem(f"{self._same_key(by_idx[first])} ({self._message(exc)})")
                 for (first, *others) in (group for (group,) in self.cur.fetchall())
                 for i in others]
        return found[:MAX_LOCATED]

    def _locate_prune(self, exc: psycopg2.Error) -> list[SeedError]:
        owner = self.plan.owners[0]
        return [SeedError(f"removing owned rows of {self.plan.name} that no fixture lists: "
                          f"{self._message(exc)}", file=owner.file,
                          line=owner.lines.get("owned"))]

    # -- dry run ---------------------------------------------------------------------------

    def _dry_run(self) -> None:
        self.cur.execute(self.sql.diff())
        by_idx = {e.idx: e for e in self.plan.entries}
        fields = self.sql.fields
        for idx, matched, *pairs in self.cur.fetchall():
            entry = by_idx[idx]
            shape = self.plan.shape(entry)
            changes: dict[str, tuple[Any, Any]] = {}
            for n, name in enumerate(fields):
                old, differs = pairs[2 * n], pairs[2 * n + 1]
                if matched and differs and name in shape and name not in self.plan.key:
                    changes[name] = self._change(entry, name, old)
            if not matched:
                action = "insert"
            elif changes and entry.fixture.update:
                action = "update"
            else:
                action, changes = "unchanged", {}
            attr = {"insert": "inserted", "update": "updated"}.get(action, action)
            setattr(self.counts, attr, getattr(self.counts, attr) + 1)
            self.report.rows.append(RowAction(
                self.plan.name, action, entry.fixture.key_of(entry.row), entry.fixture.file,
                entry.row.line, changes))

    def _dry_prune(self) -> None:
        params = Params()
        self.cur.execute(self.sql.doomed(params), params)
        width = len(self.plan.key)
        for row in self.cur.fetchall():
            key = {f: _as_written(v, is_link=f in self.plan.links) for f, v in zip(
                self.plan.key, row[:width], strict=True)}
            owner = next(f for f, inside in zip(self.plan.owners, row[width:], strict=True)
                         if inside)
            self.counts.deleted += 1
            self.report.rows.append(RowAction(
                self.plan.name, "delete", key, owner.file, owner.lines.get("owned")))

    def _change(self, entry: Entry, name: str, old: Any) -> tuple[Any, Any]:
        if name in entry.row.secret_fields:
            return (MASK, MASK)
        new = plain(entry.row.values[name])
        return (_as_written(old, is_link=name in self.plan.links), new)


def _as_written(value: Any, *, is_link: bool) -> Any:
    """A referenced row's key as fixtures write it: one value, or the list of several."""
    if is_link and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value
