"""The scheduler: targets run by a bounded pool of threads, a canary phase first, and a failure
policy.

Threads, not processes: the work of a target is mostly waiting for its server, and each target
holds one connection of its own (and its own migration lock) for as long as it runs. At most
``jobs`` targets are in flight and only those are held in memory with their results: outcomes
are handed to ``on_outcome`` and the journal as they finish, and the summary keeps counts, so
the coordinator's memory does not grow with the number of targets beyond the list itself.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ..errors import MigError
from .journal import Journal
from .targets import Target

Work = Callable[[Target], dict]


@dataclass
class Summary:
    """Counts of a fleet run, and the failures by target name."""

    verb: str
    total: int
    outcomes: Counter = field(default_factory=Counter)  # outcome -> targets
    versions: Counter = field(default_factory=Counter)  # (version, state) -> targets
    failures: dict[str, str] = field(default_factory=dict)
    from_journal: int = 0
    started: float = field(default_factory=time.monotonic)
    stopped: str | None = None  # why targets were left pending
    canary_failed: bool = False  # a canary target failed: the others were not started

    @property
    def finished(self) -> int:
        """Targets with an outcome."""
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        """Targets that failed."""
        return self.outcomes["failed"]

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
        elapsed = time.monotonic() - self.started
        run = self.finished - self.from_journal
        return run / elapsed if elapsed > 0 else 0.0

    def to_json(self) -> dict:
        """The summary as --json prints it."""
        return {
            "summary": True,
            "verb": self.verb,
            "targets": self.total,
            "ok": self.ok,
            "outcomes": dict(self.outcomes),
            "failed": self.failed,
            "pending": self.pending,
            "from_journal": self.from_journal,
            "versions": [{"version": v, "state": s, "targets": n}
                         for (v, s), n in sorted(self.versions.items(), key=_by_count)],
            "failures": self.failures,
            "stopped": self.stopped,
            "canary_failed": self.canary_failed,
            "seconds": round(time.monotonic() - self.started, 3),
        }


def _by_count(item: tuple[tuple[str, str], int]) -> tuple[int, str]:
    (version, _), count = item
    return -count, version or ""


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


# Proves on the target itself that a success the journal records still holds: the fields of
# the target's state (``version``, ``state``) when it does, None when the target moved since.
Proof = Callable[[Target, dict], "dict | None"]


def run(verb: str, targets: list[Target], work: Work, *, jobs: int, canary: int = 0,
        max_failures: int | None = None, journal: Journal | None = None,
        proven: Proof | None = None, confirm: Callable[[Summary], bool] | None = None,
        on_outcome: Callable[[dict, Summary], None] | None = None) -> Summary:
    """Run ``work`` on every target, ``jobs`` at a time.

    :param canary: run the first ``canary`` targets first; when one fails, stop there; when
        all pass, go on if ``confirm`` (called with the summary so far) is absent or says yes.
    :param max_failures: stop starting targets after this many failures (those running finish).
    :param journal: record every outcome in it; a target it records as done is passed
        (``done before``) only when ``proven`` says the record still holds on the target.
        Without ``proven``, every target runs.
    :param on_outcome: called with each target's outcome as it finishes (in this thread).
    """
    summary = Summary(verb, len(targets))
    todo: list[Target] = []
    for target in targets:
        record = journal.recorded(target) if journal is not None else None
        state = proven(target, record) if record is not None and proven is not None else None
        if state is not None:
            summary.outcomes["done before"] += 1
            summary.from_journal += 1
            summary.versions[(state.get("version"), state.get("state") or "")] += 1
        else:
            todo.append(target)
    first = todo[:canary] if canary else []
    rest = todo[len(first):]
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mig-fleet") as pool:
        if first:
            _phase(pool, first, work, jobs, summary, max_failures, journal, on_outcome)
            if summary.failed:
                summary.stopped = f"a canary target failed: {', '.join(summary.failures)}"
                summary.canary_failed = True
            elif rest and confirm is not None and not confirm(summary):
                summary.stopped = f"stopped after the canary ({len(first)} target(s) passed)"
        if summary.stopped is None:
            _phase(pool, rest, work, jobs, summary, max_failures, journal, on_outcome)
    if journal is not None:
        journal.finish(all_ok=summary.ok)
    return summary


def _phase(pool: ThreadPoolExecutor, targets: list[Target], work: Work, jobs: int,
           summary: Summary, max_failures: int | None, journal: Journal | None,
           on_outcome: Callable[[dict, Summary], None] | None) -> None:
    """Run ``targets`` with at most ``jobs`` in flight (only those are submitted)."""
    queue = iter(targets)
    running: dict[Future, Target] = {}
    while True:
        while len(running) < jobs and summary.stopped is None:
            target = next(queue, None)
            if target is None:
                break
            running[pool.submit(_one, work, target)] = target
        if not running:
            return
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            running.pop(future)
            outcome = future.result()
            summary.outcomes[outcome["outcome"]] += 1
            if "version" in outcome:  # a verb that tells where a target is (not verify)
                summary.versions[(outcome.get("version"), outcome.get("state", ""))] += 1
            if not outcome["ok"]:
                summary.failures[outcome["target"]] = outcome["error"]
                if max_failures is not None and summary.failed >= max_failures \
                        and summary.stopped is None:
                    summary.stopped = f"stopped after {summary.failed} failure(s) (--max-failures)"
            if journal is not None:
                journal.record(outcome)
            if on_outcome is not None:
                on_outcome(outcome, summary)


def _one(work: Work, target: Target) -> dict:
    """One target's outcome; every error becomes a failed outcome naming it exactly."""
    started = time.monotonic()
    base = {"target": target.name, "where": target.where}
    try:
        result = {**base, "ok": True, **work(target)}
    except MigError as exc:
        result = {**base, "ok": False, "outcome": "failed", "error_type": type(exc).__name__,
                  "error": str(exc)}
    except Exception as exc:  # a bug or a library error: reported for this target alone
        result = {**base, "ok": False, "outcome": "failed",
                  "error_type": type(exc).__name__,
                  "error": f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"}
    result["ms"] = int((time.monotonic() - started) * 1000)
    return result
