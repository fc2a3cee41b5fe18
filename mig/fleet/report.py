"""How a fleet run is shown on a terminal: a progress line (an outcome and the summary print
themselves: :meth:`~mig.fleet.outcomes.Outcome.line`, :meth:`~mig.fleet.outcomes.Summary.lines`)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .outcomes import Summary


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
