"""What a fleet run gives back, as frozen records: each target's :class:`Outcome` (what its verb
did, a :class:`Result`, or why it failed, a :class:`Failure`), the journal's account of a
success (:class:`Recorded`), and the run's :class:`Summary`.

Their JSON forms are the lines ``--json`` prints and the journal holds: an outcome is one flat
object (``target``, ``where``, ``ok``, what the verb did, ``ms``), the summary the last line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..records import JsonRecord, inline, optional, renamed
from ..seeds.report import TableCounts


@dataclass(frozen=True)
class Place(JsonRecord):
    """Where a target is: its newest applied migration (None: none) and, where the verb tells
    it, its state (``current``, or what keeps it from being: ``2 pending``, ...)."""

    version: str | None
    state: str | None = optional()

    @property
    def key(self) -> tuple[str | None, str]:
        """What the summary groups targets by: the version and the state (``""``: untold)."""
        return self.version, self.state or ""


@dataclass(frozen=True)
class Result(JsonRecord):
    """What a verb did on one target: ``outcome`` (``applied``, ``at head``, ``created``,
    ``seeded``, ``rolled back``, ``current``, ``behind``, ``partial``, ``verified``, ...) and
    the fields of its verb; a field the verb does not tell is left out of the JSON form."""

    outcome: str
    template: str | None = optional()  # apply --from-template: the database cloned
    migrations: tuple[str, ...] | None = optional()  # applied, rolled back or verified
    at: Place | None = inline(None)  # where the target is (not told by verify)
    pending: int | None = optional()  # status: migrations not applied
    edited: int | None = optional()  # status: applied migrations whose files changed
    partial: tuple[str, ...] | None = optional()  # status: unfinished runs (not at head)
    clone_ms: int | None = optional()  # apply --from-template: how long the clone took
    seed: TableCounts | None = optional()  # apply --seed, seed: rows loaded, all tables
    scratch: str | None = optional()  # verify: the scratch database of the target's server


@dataclass(frozen=True)
class Failure(JsonRecord):
    """Why a target failed: the error's class and its message."""

    error_type: str
    error: str

    JSON_DERIVED = {"outcome": ""}

    @property
    def outcome(self) -> str:
        """``failed``."""
        return "failed"


@dataclass(frozen=True)
class Outcome(JsonRecord):
    """One target's outcome: its name, where it points (no password), what happened, and how
    long it took."""

    target: str
    where: str
    result: Result | Failure = inline()
    ms: int = 0

    JSON_DERIVED = {"ok": "where"}

    @property
    def ok(self) -> bool:
        """Whether the verb succeeded on the target."""
        return isinstance(self.result, Result)

    @property
    def outcome(self) -> str:
        """What happened, in a word or two (``failed`` for a failure)."""
        return self.result.outcome

    @property
    def at(self) -> Place | None:
        """Where the target is, as far as its verb tells (never for a failure)."""
        return self.result.at if isinstance(self.result, Result) else None

    @property
    def failure(self) -> Failure | None:
        """Why the target failed; None when it did not."""
        return self.result if isinstance(self.result, Failure) else None

    def line(self) -> str:
        """The outcome as a line of text."""
        text = f"{self.target}: {self.outcome}"
        if isinstance(self.result, Result) and self.result.migrations:
            text += f" ({len(self.result.migrations)} migration(s))"
        if self.at is not None:  # a version of None: a target with no migration applied
            text += f", at {self.at.version or 'no migration'}"
            if self.at.state and self.at.state != "current":
                text += f" ({self.at.state})"
        if self.failure is not None:
            text += f" [{self.where}]: {self.failure.error}"
        return text


@dataclass(frozen=True)
class Recorded:
    """A success as the journal recorded it: enough for a rerun to prove it still holds on
    the target (``where`` it pointed, the ``outcome``, the ``version`` it left)."""

    where: str
    outcome: str
    version: str | None

    @classmethod
    def of(cls, line: dict[str, Any]) -> Recorded:
        """The record of a journal line (as this release and the ones before wrote it)."""
        return cls(line.get("where", ""), line.get("outcome", ""), line.get("version"))


@dataclass(frozen=True)
class VersionCount(JsonRecord):
    """How many targets are at one version in one state."""

    version: str | None
    state: str
    targets: int


@dataclass(frozen=True)
class Summary(JsonRecord):
    """A fleet run, counted: outcomes, targets grouped by version, the failures by target
    name, and why targets were left pending. A run hands one to its callbacks as it goes and
    returns the last."""

    verb: str
    total: int = renamed("targets")
    outcomes: dict[str, int] = field(default_factory=dict)  # outcome -> targets
    from_journal: int = 0  # passed as done before, proven on the target
    versions: tuple[VersionCount, ...] = ()  # the most targets first
    failures: dict[str, str] = field(default_factory=dict)  # target -> error
    stopped: str | None = None  # why targets were left pending
    canary_failed: bool = False  # a canary target failed: the others were not started
    seconds: float = 0.0  # since the run started

    JSON_DERIVED = {"summary": "", "ok": "total", "failed": "outcomes", "pending": "outcomes"}

    @property
    def summary(self) -> bool:
        """Tells the summary from the outcomes among the lines of ``--json``."""
        return True

    @property
    def finished(self) -> int:
        """Targets with an outcome."""
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        """Targets that failed."""
        return self.outcomes.get("failed", 0)

    @property
    def pending(self) -> int:
        """Targets not run (yet, or left pending by the failure policy)."""
        return self.total - self.finished

    @property
    def ok(self) -> bool:
        """Whether every target ran and none failed."""
        return not self.failed and not self.pending

    def rate(self) -> float:
        """Targets finished per second in this run (those from the journal left out)."""
        run = self.finished - self.from_journal
        return run / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        """Counts per outcome, targets grouped by version, each failure, why the run
        stopped."""
        counts = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items(),
                                                                key=lambda i: (-i[1], i[0])))
        lines = [f"{self.verb} over {self.total} target(s): {counts or 'nothing run'}"
                 + (f", {self.pending} pending" if self.pending else "")]
        for v in self.versions:
            lines.append(f"  {v.targets} at {v.version or 'no migration'}"
                         + (f" ({v.state})" if v.state else ""))
        for name, error in self.failures.items():
            first, *_ = error.splitlines() or [""]
            lines.append(f"  failed {name}: {first}")
        if self.stopped:
            lines.append(f"  {self.stopped}; a rerun continues where this one stopped")
        return lines


class Tally:
    """A run's counts as its targets finish (only the scheduler's thread writes them); a
    :class:`Summary` is what they say at one moment."""

    def __init__(self, verb: str, total: int) -> None:
        self.verb, self.total = verb, total
        self.outcomes: dict[str, int] = {}
        self.versions: dict[tuple[str | None, str], int] = {}
        self.failures: dict[str, str] = {}
        self.from_journal = 0
        self.stopped: str | None = None
        self.canary_failed = False
        self.started = time.monotonic()

    @property
    def failed(self) -> int:
        """Targets that failed so far."""
        return self.outcomes.get("failed", 0)

    def count(self, outcome: str, at: Place | None) -> None:
        """One more target with ``outcome``, at ``at`` (None: its verb does not tell)."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if at is not None:
            self.versions[at.key] = self.versions.get(at.key, 0) + 1

    def add(self, outcome: Outcome) -> None:
        """A target's outcome counted."""
        self.count(outcome.outcome, outcome.at)
        if outcome.failure is not None:
            self.failures[outcome.target] = outcome.failure.error

    def summary(self) -> Summary:
        """The counts as they stand."""
        versions = sorted(self.versions.items(), key=lambda i: (-i[1], i[0][0] or ""))
        return Summary(
            self.verb, self.total, dict(self.outcomes), self.from_journal,
            tuple(VersionCount(v, s, n) for (v, s), n in versions), dict(self.failures),
            self.stopped, self.canary_failed, round(time.monotonic() - self.started, 3))
