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

    @property
    def current(self) -> bool:
        return not self.pending and not self.edited

    def to_json(self) -> dict:
        return {
            "database": self.database,
            "current": self.current,
            "applied": self.applied,
            "pending": self.pending,
            "edited": self.edited,
        }


@dataclass
class RunReport:
    """What an apply or rollback did (or, in a dry run, would do)."""

    action: str
    dry_run: bool = False
    migrations: list[dict] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "migrations": self.migrations,
            "adopted": self.adopted,
        }
