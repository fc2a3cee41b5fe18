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
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ..errors import MigError
from .journal import Journal
from .outcomes import Failure, Outcome, Place, Recorded, Result, Summary, Tally
from .targets import Target

Work = Callable[[Target], Result]


def cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


# Proves on the target itself that a success the journal records still holds: where the
# target is when it does, None when the target moved since.
Proof = Callable[[Target, Recorded], "Place | None"]


def run(verb: str, targets: list[Target], work: Work, *, jobs: int, canary: int = 0,
        max_failures: int | None = None, journal: Journal | None = None,
        proven: Proof | None = None, confirm: Callable[[Summary], bool] | None = None,
        on_outcome: Callable[[Outcome, Summary], None] | None = None) -> Summary:
    """Run ``work`` on every target, ``jobs`` at a time.

    :param canary: run the first ``canary`` targets first; when one fails, stop there; when
        all pass, go on if ``confirm`` (called with the summary so far) is absent or says yes.
    :param max_failures: stop starting targets after this many failures (those running finish).
    :param journal: record every outcome in it; a target it records as done is passed
        (``done before``) only when ``proven`` says the record still holds on the target.
        Without ``proven``, every target runs.
    :param on_outcome: called with each target's outcome as it finishes (in this thread).
    """
    tally = Tally(verb, len(targets))
    todo: list[Target] = []
    for target in targets:
        record = journal.recorded(target) if journal is not None else None
        place = proven(target, record) if record is not None and proven is not None else None
        if place is not None:
            tally.count("done before", place)
            tally.from_journal += 1
        else:
            todo.append(target)
    first = todo[:canary] if canary else []
    rest = todo[len(first):]
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="mig-fleet") as pool:
        if first:
            _phase(pool, first, work, jobs, tally, max_failures, journal, on_outcome)
            if tally.failed:
                tally.stopped = f"a canary target failed: {', '.join(tally.failures)}"
                tally.canary_failed = True
            elif rest and confirm is not None and not confirm(tally.summary()):
                tally.stopped = f"stopped after the canary ({len(first)} target(s) passed)"
        if tally.stopped is None:
            _phase(pool, rest, work, jobs, tally, max_failures, journal, on_outcome)
    summary = tally.summary()
    if journal is not None:
        journal.finish(all_ok=summary.ok)
    return summary


def _phase(pool: ThreadPoolExecutor, targets: list[Target], work: Work, jobs: int,
           tally: Tally, max_failures: int | None, journal: Journal | None,
           on_outcome: Callable[[Outcome, Summary], None] | None) -> None:
    """Run ``targets`` with at most ``jobs`` in flight (only those are submitted)."""
    queue = iter(targets)
    running: dict[Future, Target] = {}
    while True:
        while len(running) < jobs and tally.stopped is None:
            target = next(queue, None)
            if target is None:
                break
            running[pool.submit(_one, work, target)] = target
        if not running:
            return
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            running.pop(future)
            outcome: Outcome = future.result()
            tally.add(outcome)
            if not outcome.ok and max_failures is not None and tally.failed >= max_failures \
                    and tally.stopped is None:
                tally.stopped = f"stopped after {tally.failed} failure(s) (--max-failures)"
            if journal is not None:
                journal.record(outcome)
            if on_outcome is not None:
                on_outcome(outcome, tally.summary())


def _one(work: Work, target: Target) -> Outcome:
    """One target's outcome; every error becomes a failure naming it exactly."""
    started = time.monotonic()
    result: Result | Failure
    try:
        result = work(target)
    except MigError as exc:
        result = Failure(type(exc).__name__, str(exc))
    except Exception as exc:  # a bug or a library error: reported for this target alone
        result = Failure(type(exc).__name__,
                         f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}")
    return Outcome(target.name, target.where, result, int((time.monotonic() - started) * 1000))
