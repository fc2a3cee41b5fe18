"""How a fleet run is shown: a progress line on a terminal, a line per target, the summary."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .run import Summary


class Progress:
    """``done/failed/pending, rate, ETA`` redrawn in place, at most ten times a second."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.width = 0

    def update(self, summary: Summary, *, final: bool = False) -> None:
        """Redraw the line for ``summary`` (at most ten times a second, always when ``final``)."""
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        rate = summary.rate()
        eta = f"{summary.pending / rate:.0f} s" if rate > 0 and summary.pending else "-"
        text = (f"{summary.verb}: {summary.finished}/{summary.total} done, "
                f"{summary.failed} failed, {summary.pending} pending, {rate:.1f}/s, ETA {eta}")
        self.stream.write("\r" + text.ljust(self.width))
        self.width = len(text)
        if final:
            self.stream.write("\n")
        self.stream.flush()


    def clear(self) -> None:
        """Erase the line (before a question is asked on the terminal); the next
        :meth:`update` draws it again."""
        if self.width:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.width = 0
        self.last = 0.0


def outcome_line(outcome: dict) -> str:
    """One target's outcome as a line of text."""
    text = f"{outcome['target']}: {outcome['outcome']}"
    if outcome.get("migrations"):
        text += f" ({len(outcome['migrations'])} migration(s))"
    if "version" in outcome:  # None: a target with no migration applied
        text += f", at {outcome.get('version') or 'no migration'}"
        if outcome.get("state") and outcome["state"] != "current":
            text += f" ({outcome['state']})"
    if not outcome["ok"]:
        text += f" [{outcome['where']}]: {outcome['error']}"
    return text


def summary_lines(summary: Summary) -> list[str]:
    """The summary: counts per outcome, targets grouped by version, each failure, why the run
    stopped."""
    counts = ", ".join(f"{n} {what}" for what, n in sorted(summary.outcomes.items(),
                                                            key=lambda i: (-i[1], i[0])))
    lines = [f"{summary.verb} over {summary.total} target(s): {counts or 'nothing run'}"
             + (f", {summary.pending} pending" if summary.pending else "")]
    for (version, state), n in sorted(summary.versions.items(),
                                      key=lambda i: (-i[1], i[0][0] or "")):
        lines.append(f"  {n} at {version or 'no migration'}" + (f" ({state})" if state else ""))
    for name, error in summary.failures.items():
        first, *_ = error.splitlines() or [""]
        lines.append(f"  failed {name}: {first}")
    if summary.stopped:
        lines.append(f"  {summary.stopped}; a rerun continues where this one stopped")
    return lines


