"""Progress of a data step: rows done, estimated total, rate and time left.

On a terminal (stderr is a TTY) a bar redrawn in place at most ten times a second; otherwise
(CI, a log collector) a plain line every ``every`` seconds, so logs stay readable. Start,
retry and end lines always go through the run's report callable.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from ..reports import Line

BAR_WIDTH = 24


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts the rows of one data step and shows them.

    :param total: estimated rows in all (done before this run included); None when unknown.
    :param done: rows already done by earlier, interrupted runs.
    :param bar: draw a bar on ``stream`` (default: when ``stream`` is a terminal).
    """

    def __init__(self, label: str, *, total: int | None, done: int = 0, report: Line,
                 stream=None, bar: bool | None = None, every: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.total = total
        self.done = done
        self.report = report
        self.stream = stream if stream is not None else sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.every = every
        self.clock = clock
        self.started = clock()
        self.start_done = done
        # a bar appears with the first batch; plain lines once ``every`` seconds have passed
        self._shown = self.started - (1.0 if self.bar else 0.0)
        self._drawn = False

    # -- figures --------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """Rows per second in this run."""
        elapsed = self.clock() - self.started
        return (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at this run's rate; None when unknown."""
        if self.total is None or self.rate <= 0:
            return None
        return max(self.total - self.done, 0) / self.rate

    def line(self) -> str:
        """The progress as one plain line (rows, percent, rate, time left)."""
        total = max(self.total or 0, self.done)
        parts = [f"{self.done:,}/{total:,} rows" if self.total is not None
                 else f"{self.done:,} rows"]
        if self.total:
            parts[0] += f" ({min(100, self.done * 100 // total)}%)"
        parts.append(f"{self.rate:,.0f} rows/s")
        eta = self.eta
        if eta is not None:
            parts.append(f"ETA {_duration(eta)}")
        return f"{self.label}: " + ", ".join(parts)

    def _bar(self) -> str:
        total = max(self.total or 0, self.done)
        filled = BAR_WIDTH * self.done // total if total else 0
        eta = self.eta
        return (f"\r{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}]"
                f" {self.done:,}/{total:,} rows  {self.rate:,.0f} rows/s"
                f"{f'  ETA {_duration(eta)}' if eta is not None else ''}\x1b[K")

    # -- events ---------------------------------------------------------------------------
    def advance(self, rows: int) -> None:
        """Count ``rows`` more; redraw the bar, or print a line every ``every`` seconds."""
        self.done += rows
        now = self.clock()
        if self.bar:
            if now - self._shown >= 0.1:
                self._shown = now
                self.stream.write(self._bar())
                self.stream.flush()
                self._drawn = True
        elif now - self._shown >= self.every:
            self._shown = now
            self.report(self.line())

    def note(self, text: str) -> None:
        """A line of its own (a start, a retry), below the bar if one is drawn."""
        self._clear()
        self.report(text)

    def finish(self, text: str) -> None:
        """The last line, below a cleared bar."""
        self._clear()
        self.report(text)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    @property
    def elapsed(self) -> float:
        """Seconds since this run started."""
        return self.clock() - self.started
