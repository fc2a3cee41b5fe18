"""What the verbs of :mod:`mig.commands` return (reports with a JSON form: :mod:`mig.records`),
and the :class:`Reporter` their progress goes through.

A verb's ``report`` parameter takes a :class:`Reporter` or any callable taking one line of
text; :func:`reporter` turns either (or None: silent) into a Reporter, once, at the verb.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePath
from typing import Any, Literal, Protocol, TextIO, runtime_checkable

from .records import JsonRecord, optional, renamed, table

Line = Callable[[str], None]


class Reporter:
    """Where a run's progress goes: lines of text, and, on a terminal, a progress bar.

    :param line: called with each line of progress; None: a silent run (-q, or an API call
        given no report), which draws no bar either.
    :param stream: where a bar may be drawn (default: stderr); only when it is a terminal.
    """

    def __init__(self, line: Line | None = None, *, stream: TextIO | None = None) -> None:
        self._line = line
        self._stream = stream

    def __call__(self, text: str) -> None:
        """Report one line."""
        if self._line is not None:
            self._line(text)

    @property
    def silent(self) -> bool:
        """Whether nothing is shown at all."""
        return self._line is None

    @property
    def stream(self) -> TextIO:
        """Where a progress bar is drawn."""
        return self._stream if self._stream is not None else sys.stderr

    @property
    def draws_bars(self) -> bool:
        """Whether a progress bar may be drawn: not silent, and the stream is a terminal."""
        return not self.silent and self.stream.isatty()


SILENT = Reporter()


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# A data step run outside mig's runner (plain yoyo, a script) reports to stderr.
STDERR = Reporter(_stderr)


def reporter(report: Reporter | Line | None) -> Reporter:
    """``report`` as a Reporter: itself, a callable wrapped, or None as :data:`SILENT`."""
    if isinstance(report, Reporter):
        return report
    return SILENT if report is None else Reporter(report)


@runtime_checkable
class ReportingStep(Protocol):
    """A Python step that reports its own progress (a data step): the runner calls
    ``step.run_reported(conn, reporter)`` instead of ``step(conn)``."""

    def run_reported(self, conn: Any, reporter: Reporter) -> None:
        """Run on ``conn``, reporting through ``reporter``."""


@dataclass(frozen=True)
class Target(JsonRecord):
    """Which database settings point at, for display: ``url`` (the password masked; the
    embedded server's once it runs, else None), ``source`` (``--database``,
    ``MIG_DATABASE_URL``, ``DATABASE_URL``, the ini file, or ``embedded``) and
    ``embedded_data`` (the embedded server's data folder, else None)."""

    url: str | None
    source: str
    embedded_data: str | None = None

    def describe(self) -> str:
        """One line: ``postgresql://u:***@db/app (from MIG_DATABASE_URL)`` or ``embedded
        server, data in /project/.mig/pgdata``."""
        if self.embedded_data is None:
            return f"{self.url} (from {self.source})"
        return f"embedded server, data in {self.embedded_data}"


# -- the migration state ---------------------------------------------------------------------

@dataclass(frozen=True)
class Applied(JsonRecord):
    """One applied migration as recorded: id, checksum (None: applied by plain yoyo), when and
    by whom."""

    id: str
    applied_at: datetime | None
    applied_by: str | None
    checksum: str | None
    # How it came to be recorded: ``run`` by mig (or plain yoyo, not yet adopted), or by a
    # ``baseline``, an ``adopt``ion or a ``squash`` (the migrations a squash replaced were
    # applied), with when and by whom (OS user@host of that mig run; none yet: a squash that
    # the next 'mig apply' records).
    recorded: str = "run"
    recorded_at: datetime | None = optional()
    recorded_by: str | None = optional()


# The STATE of an applied migration by how it was recorded.
RECORDED_STATE = {"run": "applied", "baseline": "baselined", "adopt": "adopted",
                  "squash": "squashed"}


@dataclass(frozen=True)
class Pending(JsonRecord):
    """A migration on disk, not applied."""

    id: str
    path: PurePath


EditedKind = Literal["edited", "missing", "edited-partial"]

#: What 'mig rollback' can do for an applied migration whose file is gone.
MISSING_ROLLBACK = {
    "sql": "its rollback was stored when it was applied: 'mig rollback' can undo it",
    "python": "its rollback is Python code: roll it back where its file is",
    "none": "it has no rollback",
    "unknown": "applied before rollbacks were stored: roll it back where its file is",
}


@dataclass(frozen=True)
class Edited(JsonRecord):
    """An applied migration whose file changed since (``edited``) or is gone (``missing``:
    deleted, renamed, or applied from another branch), or an unfinished non-transactional run
    whose file changed since it started (``edited-partial``).

    ``recorded`` and ``current`` are the checksums then and now; ``path`` the file (not for
    ``missing``); ``summary`` how far the unfinished run got; ``rollback``, in a status report
    of a ``missing`` one, what its stored rollback is (``sql``, ``python``, ``none``,
    ``empty``, or ``unknown``: applied before rollbacks were stored).
    """

    id: str
    kind: EditedKind = renamed("problem")
    recorded: str | None = None
    current: str | None = None
    path: str | None = optional()
    summary: str | None = optional()
    rollback: str | None = optional()

    def describe(self) -> str:
        """One line saying what is wrong with it, for the refusal."""
        if self.kind == "missing":
            return (f"{self.id}: applied, but its file is gone (deleted or renamed)"
                    f" (recorded checksum {self.recorded or 'none'})")
        recorded, current = (self.recorded or "")[:12], (self.current or "")[:12]
        if self.kind == "edited-partial":
            return (f"{self.path}: {self.summary}, and the file was edited since that run"
                    f" started (then {recorded}, now {current}): resuming could skip or repeat"
                    " statements")
        return f"{self.path}: edited after it was applied (recorded {recorded}, now {current})"


@dataclass(frozen=True)
class PartialRun(JsonRecord):
    """An unfinished non-transactional apply (``partial``) or rollback (``rolling back``),
    with the hint that goes on from it."""

    id: str
    state: Literal["partial", "rolling back"]
    direction: str
    done: int
    steps: int | None
    summary: str
    started_at: datetime | None
    started_by: str | None
    edited: bool
    hint: str


@dataclass(frozen=True)
class InvalidIndex(JsonRecord):
    """An index left INVALID (by an interrupted ``CREATE INDEX CONCURRENTLY``): ``sql`` drops
    it, ``rebuild`` builds it again."""

    schema: str
    name: str
    table: str
    definition: str
    sql: str
    rebuild: str


@dataclass(frozen=True)
class Problem(JsonRecord):
    """One way the records and the catalog disagree, with its fix (``mig status --check``)."""

    kind: str  # partial, invalid-index, scratch-database, unchecked, missing-object
    subject: str  # the migration, index, database, object, or the scratch server
    message: str
    fix: str  # SQL to run or a command


@dataclass(frozen=True)
class StatusReport(JsonRecord):
    """Applied, pending and edited migrations of a database.

    ``applied`` is in the order the migrations were applied. The report is frozen; its lists
    compare with plain lists (``report.pending == []``).
    """

    database: str
    applied: list[Applied] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)
    # unfinished non-transactional applies and rollbacks ("partial", "rolling back")
    partial: list[PartialRun] = field(default_factory=list)
    # indexes left INVALID by an interrupted CREATE INDEX CONCURRENTLY, with the SQL to fix them
    invalid_indexes: list[InvalidIndex] = field(default_factory=list)
    # with status(check=True): where the records and the catalog disagree (mig.consistency)
    problems: list[Problem] | None = optional()
    # squashes on disk of which this database applied only some replaced migrations: each a
    # line saying which ('mig apply' refuses them)
    part_squashed: tuple[str, ...] = optional(default=())

    JSON_DERIVED = {"current": "database"}

    @property
    def current(self) -> bool:
        """Whether every migration is applied and none was edited."""
        return not self.pending and not self.edited and not self.partial

    @property
    def version(self) -> str | None:
        """The newest applied migration (None: nothing applied)."""
        return self.applied[-1].id if self.applied else None

    def lines(self) -> list[str]:
        """The state as a table, the counts, and a line for each thing to set right."""
        rows = [("STATE", "MIGRATION", "APPLIED AT (UTC)", "BY")]
        edited = {e.id: e.kind for e in self.edited}
        partial = {p.id: p for p in self.partial}
        for a in self.applied:
            when = a.applied_at.isoformat()[:19].replace("T", " ") if a.applied_at else ""
            state = partial[a.id].state if a.id in partial else (
                edited[a.id].upper() if a.id in edited else RECORDED_STATE[a.recorded])
            by = a.applied_by or ""
            if a.recorded == "baseline":  # nobody ran it: say who recorded it, and how
                by = f"mig baseline ({a.recorded_by or '?'})"
            elif a.recorded == "adopt":
                by = f"{by}, adopted by mig ({a.recorded_by or '?'})"
            elif a.recorded == "squash":
                by = (f"{by}, squash recorded by mig ({a.recorded_by or '?'})" if a.recorded_at
                      else f"{by}, squash of applied migrations ('mig apply' records it)")
            rows.append((state, a.id, when, by))
        rows += [(partial[p.id].state if p.id in partial else "pending", p.id, "", "")
                 for p in self.pending]
        out = table(rows, "  ")
        marked = [a.recorded for a in self.applied]
        out.append(f"{len(self.applied)} applied"
                   + "".join(f" ({n} {word})" if n else "" for n, word in (
                       (marked.count("baseline"), "baselined: recorded, not run"),
                       (marked.count("adopt"), "adopted from plain yoyo"),
                       (marked.count("squash"), "squashed: their replaced migrations ran")))
                   + f", {len(self.pending)} pending, "
                   f"{len(self.edited)} edited, {len(self.partial)} unfinished")
        out += [f"  {e.id}: applied, but not on disk; " + MISSING_ROLLBACK[e.rollback or "unknown"]
                for e in self.edited if e.kind == "missing"]
        out += [f"{p.id}: {p.summary}\n  hint: {p.hint}" for p in self.partial]
        out += [f"{line}\n  hint: 'mig apply' refuses it: apply the release from before the"
                " squash first" for line in self.part_squashed]
        out += [f"invalid index {i.schema}.{i.name} on {i.table} (an interrupted CREATE INDEX"
                f" CONCURRENTLY): {i.sql}" for i in self.invalid_indexes]
        if self.problems is not None:
            if not self.problems:
                out.append("check: the records agree with the catalog")
            out += [f"check: {p.kind}: {p.message}\n  fix: {p.fix}" for p in self.problems]
        return out


# -- runs --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunEntry(JsonRecord):
    """One migration of a run: applied or rolled back (``duration_ms``), or in a dry run what
    would run (``path``, ``transactional``, ``sql``). ``empty``: it runs nothing (only its
    records change); ``stored``: rolled back with the rollback stored when it was applied
    (its file is gone); ``action``: in a redo, which half (``rollback``, ``apply``)."""

    action: str | None = optional()
    id: str = ""
    path: str | None = optional()
    transactional: bool | None = optional()
    sql: str | None = optional()
    duration_ms: int | None = optional()
    empty: bool = False
    stored: bool = optional(default=False)


@dataclass(frozen=True)
class RunReport(JsonRecord):
    """What an apply or rollback did (or, in a dry run, would do)."""

    action: str
    dry_run: bool = False
    duration_ms: int | None = None  # the whole run, commits included
    migrations: list[RunEntry] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    # squashes recorded as applied, not run: the migrations each replaced were applied
    squashed: tuple[str, ...] = optional(default=())

    @property
    def ids(self) -> list[str]:
        """The ids of the run's migrations, in the order they ran."""
        return [m.id for m in self.migrations]

    def lines(self) -> list[str]:
        """What the run did, in a line (a dry run: each migration's SQL, then a line)."""
        verb = {"apply": "apply", "rollback": "roll back", "redo": "redo"}[self.action]
        squashed = [f"{'would record' if self.dry_run else 'recorded'} squash {mid} as applied"
                    " without running it: the migrations it replaced are applied"
                    for mid in self.squashed]
        if self.dry_run:
            return squashed + self._plan_lines(verb)
        if squashed and not self.migrations:
            return squashed
        return squashed + self._run_lines()

    def _run_lines(self) -> list[str]:
        if not self.migrations:
            return [{"apply": "nothing to apply: the database is at the newest migration",
                     "rollback": "nothing to roll back",
                     "redo": "nothing to redo: no migration is applied"}[self.action]]
        empty = sum(1 for m in self.migrations if m.empty)
        note = f", {empty} of them empty (nothing to run)" if empty else ""
        if self.action == "apply":
            return [f"applied {len(self.migrations)} migration(s) in {self.duration_ms} ms{note}"]
        if self.action == "rollback":
            return [f"rolled back {len(self.migrations)} migration(s){note}"
                    f" in {self.duration_ms} ms"]
        return [f"redid {self.migrations[0].id} in {self.duration_ms} ms"]

    def details(self) -> list[str]:
        """What ``-v`` adds: the migrations applied by plain yoyo whose checksums were
        recorded now."""
        return [f"adopted {mid} (applied by plain yoyo; checksum recorded now)"
                for mid in self.adopted]

    def _plan_lines(self, verb: str) -> list[str]:
        if not self.migrations:
            return [f"nothing to {verb}"]
        out = []
        for m in self.migrations:
            mode = "" if m.transactional else " (non-transactional)"
            if m.empty:
                mode += " (empty: nothing to run)"
            out.append(f"-- {verb} {m.id}{mode}")
            if m.sql:
                out.append(m.sql)
            out.append("")
        out.append(f"-- dry run: {len(self.migrations)} migration(s) would {verb}; nothing was"
                   " changed")
        return out


@dataclass(frozen=True)
class Repair(JsonRecord):
    """What ``mig repair`` did for one edited migration: ``action`` says it."""

    edited: Edited
    action: str

    def to_json(self) -> dict[str, Any]:
        """The edited migration's entry with the action."""
        return {**self.edited.to_json(), "action": self.action}


@dataclass(frozen=True)
class RepairReport(JsonRecord):
    """What ``mig repair`` did: one entry per migration it set right."""

    repairs: list[Repair] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A line per repair, or that nothing needed one."""
        if not self.repairs:
            return ["nothing to repair: every applied migration matches its file"]
        return [f"{r.edited.id}: {r.action}" for r in self.repairs]


@dataclass(frozen=True)
class CurrentReport(JsonRecord):
    """What ``mig current`` prints: the newest applied migration (None: nothing applied)."""

    database: str
    migration: str | None
    applied_at: datetime | None = None
    applied_by: str | None = None

    def line(self) -> str:
        """The one line of text: the migration's id, or ``none``."""
        return self.migration or "none"


@dataclass(frozen=True)
class HistoryEvent(JsonRecord):
    """One thing that happened to a database's migrations, as its logs record it.

    ``operation``: ``apply`` (yoyo's log, so plain yoyo's applies count too), and mig's own
    events: ``rollback``, ``rollback-forced``, ``repair``, ``adopt``, ``baseline``, ``squash``.
    ``role`` is the database role, ``os_user`` and ``host`` who ran it and from where;
    ``duration_ms`` how long it took, where recorded (the apply a migration is applied by now,
    and rollbacks).
    """

    at: datetime
    operation: str
    migration: str | None
    role: str | None = None
    os_user: str | None = None
    host: str | None = None
    duration_ms: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class HistoryReport(JsonRecord):
    """What ``mig history`` prints: the events, oldest first, and the filters they passed."""

    database: str
    migration: str | None = None  # --id
    since: datetime | None = None  # --since
    events: tuple[HistoryEvent, ...] = ()

    def lines(self) -> list[str]:
        """The events as a table (time in UTC), each event's detail on the line below it."""
        if not self.events:
            return ["no events" + (f" for {self.migration}" if self.migration else "")
                    + (f" since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else "")]
        rows = [("WHEN (UTC)", "OPERATION", "MIGRATION", "BY", "FROM", "TOOK")]
        details: list[str | None] = [None]
        for e in self.events:
            who = "/".join(w for w in (e.role, e.os_user) if w)
            took = "" if e.duration_ms is None else f"{e.duration_ms} ms"
            rows.append((f"{e.at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}", e.operation,
                         e.migration or "", who, e.host or "", took))
            details.append(e.detail)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out = []
        for row, detail in zip(rows, details):
            out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            if detail:
                out.append("    " + " ".join(detail.split()))
        return out


@dataclass(frozen=True)
class DestructiveChange(JsonRecord):
    """A change that loses data: ``kind`` and ``name`` as ``mig diff`` names the object
    (``column``, ``users.email``), ``what`` in words."""

    kind: str
    name: str
    what: str

    def describe(self) -> str:
        """One line: ``column users.email: drops the column and its data``."""
        return f"{self.kind} {self.name}: {self.what}"


@dataclass(frozen=True)
class GeneratedMigration(JsonRecord):
    """One migration ``mig new --from`` generated: its id, its file and rollback file (where
    they are, or would be written), whether it runs in a transaction, and both texts."""

    id: str
    path: str
    rollback_path: str
    transactional: bool
    sql: str
    rollback: str


@dataclass(frozen=True)
class GenerateReport(JsonRecord):
    """What ``mig new NAME --from URL`` did: the database read (``source``, password masked),
    the schemas compared (empty: every one), the migrations generated and proven, whether they
    were ``written`` (not on ``--dry-run``, nor when nothing differs), the ``warnings`` (a type
    change that rewrites a table, ...) and the ``destructive`` changes written with
    ``--allow-destructive``."""

    source: str
    schemas: tuple[str, ...] = ()
    migrations: tuple[GeneratedMigration, ...] = ()
    written: bool = False
    warnings: tuple[str, ...] = ()
    destructive: tuple[DestructiveChange, ...] = ()

    def lines(self) -> list[str]:
        """The paths written (on a dry run: the SQL of each file, under its path)."""
        if not self.migrations:
            return [f"no differences: the history already builds the schema of {self.source}"]
        out: list[str] = []
        for m in self.migrations:
            if self.written:
                out += [m.path, m.rollback_path]
            else:
                out += [f"-- {m.path}", m.sql.rstrip("\n"), f"-- {m.rollback_path}",
                        m.rollback.rstrip("\n")]
        return out

    def notes(self) -> list[str]:
        """The warnings and the destructive changes written, one line each."""
        return ([f"warning: {w}" for w in self.warnings]
                + [f"destructive: {d.describe()}" for d in self.destructive])


# -- squash -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SquashReport(JsonRecord):
    """What ``mig squash`` wrote (in a dry run: would write): the squash's ``id`` and ``path``,
    the migrations it ``replaces`` (files ``removed``), the data migrations of the range
    ``dropped`` and ``kept``, and the generator's ``warnings``; a dry run has the ``sql``."""

    id: str
    target: str
    replaces: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    dry_run: bool = False
    path: str | None = optional()
    removed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    sql: str | None = optional()

    def lines(self) -> list[str]:
        """What was squashed, and what happened to the data migrations of the range."""
        verb = "would squash" if self.dry_run else "squashed"
        out = [f"{verb} {len(self.replaces)} migration(s) up to {self.target} into {self.id}"
               + (f" ({self.path})" if self.path else "")]
        out += [f"  dropped data migration {mid}: a new database has no rows to transform"
                " (--keep keeps it)" for mid in self.dropped]
        out += [f"  kept data migration {mid}: it runs after the squash" for mid in self.kept]
        out += [f"  warning: {w}" for w in self.warnings]
        if self.sql is not None:
            out += ["", self.sql.rstrip()]
        return out
