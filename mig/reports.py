"""What the verbs of :mod:`mig.commands` return: reports with a JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field


def silent(line: str) -> None:
    """The report of a quiet run (-q, or an API call given no report): prints nothing.

    A data step's progress bar, which draws straight on the terminal, stays off under it too.
    """


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
        return not self.pending and not self.edited and not self.partial

    def to_json(self) -> dict:
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
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "duration_ms": self.duration_ms,
            "migrations": self.migrations,
            "adopted": self.adopted,
        }
