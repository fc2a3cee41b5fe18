"""What the verbs of :mod:`mig.commands` return (reports with a JSON form), and the
:class:`Reporter` their progress goes through.

A verb's ``report`` parameter takes a :class:`Reporter` or any callable taking one line of
text; :func:`reporter` turns either (or None: silent) into a Reporter, once, at the verb.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol, TextIO, runtime_checkable

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


@dataclass
class StatusReport:
    """Applied, pending and edited migrations of a database."""

    database: str
    applied: list[dict] = field(default_factory=list)
    pending: list[dict] = field(default_factory=list)
    edited: list[dict] = field(default_factory=list)
    # unfinished non-transactional applies and rollbacks ("partial", "rolling back")
    partial: list[dict] = field(default_factory=list)
    # indexes left INVALID by an interrupted CREATE INDEX CONCURRENTLY, with the SQL to fix them
    invalid_indexes: list[dict] = field(default_factory=list)
    # with status(check=True): where the records and the catalog disagree (mig.consistency)
    problems: list[dict] | None = None

    @property
    def current(self) -> bool:
        """Whether every migration is applied and none was edited."""
        return not self.pending and not self.edited and not self.partial

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {
            "database": self.database,
            "current": self.current,
            "applied": self.applied,
            "pending": self.pending,
            "edited": self.edited,
            "partial": self.partial,
            "invalid_indexes": self.invalid_indexes,
            **({} if self.problems is None else {"problems": self.problems}),
        }


@dataclass
class RunReport:
    """What an apply or rollback did (or, in a dry run, would do)."""

    action: str
    dry_run: bool = False
    migrations: list[dict] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    duration_ms: int | None = None  # the whole run, commits included

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "duration_ms": self.duration_ms,
            "migrations": self.migrations,
            "adopted": self.adopted,
        }


@dataclass(frozen=True)
class CurrentReport:
    """What ``mig current`` prints: the newest applied migration (None: nothing applied)."""

    database: str
    migration: str | None
    applied_at: datetime | None = None
    applied_by: str | None = None

    def line(self) -> str:
        """The one line of text: the migration's id, or ``none``."""
        return self.migration or "none"

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {
            "database": self.database,
            "migration": self.migration,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "applied_by": self.applied_by,
        }


@dataclass(frozen=True)
class HistoryEvent:
    """One thing that happened to a database's migrations, as its logs record it.

    ``operation``: ``apply`` (yoyo's log, so plain yoyo's applies count too), and mig's own
    events: ``rollback``, ``rollback-forced``, ``repair``, ``adopt``, ``baseline``. ``role`` is
    the database role, ``os_user`` and ``host`` who ran it and from where; ``duration_ms`` how
    long it took, where recorded (the apply a migration is applied by now, and rollbacks).
    """

    at: datetime
    operation: str
    migration: str | None
    role: str | None = None
    os_user: str | None = None
    host: str | None = None
    duration_ms: int | None = None
    detail: str | None = None

    def to_json(self) -> dict:
        """The event as --json prints it."""
        return {
            "at": self.at.isoformat(),
            "operation": self.operation,
            "migration": self.migration,
            "role": self.role,
            "os_user": self.os_user,
            "host": self.host,
            "duration_ms": self.duration_ms,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class HistoryReport:
    """What ``mig history`` prints: the events, oldest first, and the filters they passed."""

    database: str
    events: tuple[HistoryEvent, ...] = ()
    migration: str | None = None  # --id
    since: datetime | None = None  # --since

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

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {
            "database": self.database,
            "migration": self.migration,
            "since": self.since.isoformat() if self.since else None,
            "events": [e.to_json() for e in self.events],
        }
