"""Progress of a data step: rows done, estimated total, rate and time left.

On a terminal (stderr is a TTY) a bar redrawn in place at most ten times a second, drawn by
tqdm (imported only then); otherwise (CI, a log collector) a plain line every ``every``
seconds, so logs stay readable. Start, retry and end lines always go through the run's report
callable. The rate and time left are this run's, from ``clock``: the rows an interrupted
earlier run did are where the bar starts, not part of the rate.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from ..reports import Line

BAR_WIDTH = 24
_UNCUT = 10_000  # columns of a terminal of unknown width
# The bar's line; ``speed`` and ``left`` are the run's own figures (see _bar).
_BAR_FORMAT = f"{{desc}} [{{bar:{BAR_WIDTH}}}] {{n:,}}/{{total:,}} rows  {{speed}} rows/s{{left}}"


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
                 stream: TextIO | None = None, bar: bool | None = None, every: float = 5.0,
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
        self._drawn: Any = None  # the tqdm bar, once drawn

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

    def _draw(self) -> None:
        """Draw the bar with the figures of now (the first call creates it)."""
        if self._drawn is None:
            self._drawn = _bar(self)
        else:
            self._drawn.n = self.done
            self._drawn.total = max(self.total or 0, self.done)
            self._drawn.refresh()

    # -- events ---------------------------------------------------------------------------
    def advance(self, rows: int) -> None:
        """Count ``rows`` more; redraw the bar, or print a line every ``every`` seconds."""
        self.done += rows
        now = self.clock()
        if self.bar:
            if now - self._shown >= 0.1:
                self._shown = now
                self._draw()
        elif now - self._shown >= self.every:
            self._shown = now
            self.report(self.line())

    def note(self, text: str) -> None:
        """A line of its own (a start, a retry) where the bar was; the bar is drawn again
        with the next batch."""
        if self._drawn is not None:
            self._drawn.clear()
        self.report(text)

    def finish(self, text: str) -> None:
        """The last line, where the bar was (the bar is gone)."""
        if self._drawn is not None:
            self._drawn.close()
            self._drawn = None
        self.report(text)

    @property
    def elapsed(self) -> float:
        """Seconds since this run started."""
        return self.clock() - self.started


def _bar(progress: Progress) -> Any:
    """A tqdm bar for ``progress``, drawn at once: ``#`` done, ``-`` to do, the rows, this
    run's rate and time left (tqdm's own would count a resumed step's earlier rows, and would
    not follow ``progress.clock``), cleared when closed. mig redraws it (``refresh``) at its
    own pace; tqdm's monitor thread is off."""
    from tqdm import tqdm

    class Bar(tqdm):
        monitor_interval = 0

        @property
        def format_dict(self) -> dict[str, Any]:  # tqdm's documented place for extra fields
            figures = dict(super().format_dict)
            eta = progress.eta
            figures.update(speed=f"{progress.rate:,.0f}",
                           left=f"  ETA {_duration(eta)}" if eta is not None else "")
            return figures

    return Bar(desc=progress.label, total=max(progress.total or 0, progress.done),
               initial=progress.done, file=progress.stream, bar_format=_BAR_FORMAT,
               ascii="-#", leave=False, position=0, mininterval=0, miniters=1,
               ncols=_columns(progress.stream), nrows=20)


def _columns(stream: TextIO) -> int:
    """The terminal's width, to cut the bar's line to; a terminal that tells none (0 columns:
    a pseudo-terminal nobody sized, where tqdm would draw nothing) gets it whole."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or _UNCUT
    except (AttributeError, OSError, ValueError):
        return _UNCUT
