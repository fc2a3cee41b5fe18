"""Verbs for deploys: is the database at the newest migration (``require_head``), and waiting
until it is (``wait``). Both only read."""

from __future__ import annotations

import time

from ..config import Settings
from ..errors import DatabaseUnavailable, NotAtHead
from ..reports import Edited, Line, Reporter, StatusReport, reporter
from .state import status


def require_head(settings: Settings, *, allow_newer: bool = False) -> StatusReport:
    """Raise :class:`NotAtHead` unless every migration is applied and none was edited.

    :param allow_newer: also accept applied migrations that are not on disk when their ids sort
        after every migration on disk: a newer release applied them (the application was rolled
        back to this one). Every migration on disk must still be applied and unchanged.
    """
    current = status(settings)
    problems = [p for p in current.edited if not (allow_newer and _newer(p, current))]
    if current.partial:
        runs = "; ".join(f"{p.id} is {p.summary}" for p in current.partial)
        raise NotAtHead(f"the database is not at the newest migration: {runs}",
                        hint=current.partial[0].hint)
    if current.pending or problems:
        pending = ", ".join(p.id for p in current.pending) or "none"
        edited = ", ".join(p.id for p in problems) or "none"
        raise NotAtHead(f"the database is not at the newest migration (pending: {pending};"
                        f" edited: {edited})", hint="run 'mig apply' first")
    return current


def wait(settings: Settings, *, timeout: float, interval: float = 2.0,
         allow_newer: bool = False, report: Reporter | Line | None = None) -> StatusReport:
    """Wait until every migration is applied and none was edited, checking every ``interval``.

    Only reads (no lock, no transaction left open). An unreachable database, or one whose
    migration records this role may not read yet, counts as not current: it may be starting.
    :param allow_newer: see :func:`require_head`.
    :raises NotAtHead: still behind after ``timeout`` seconds.
    :raises DatabaseUnavailable: still unreachable after ``timeout`` seconds.
    """
    say = reporter(report)
    deadline = time.monotonic() + timeout
    last_seen = None
    while True:
        try:
            return require_head(settings, allow_newer=allow_newer)
        except (NotAtHead, DatabaseUnavailable) as exc:
            error = exc
        if error.message != last_seen:
            say(f"waiting: {error.message}")
            last_seen = error.message
        left = deadline - time.monotonic()
        if left <= 0:
            error.message = f"gave up after {timeout:g} s: {error.message}"
            if isinstance(error, NotAtHead):
                error.hint = ("migrations are applied by 'mig apply' (the migration job): "
                              "check that it ran and succeeded")
            raise error
        time.sleep(min(interval, left))


def _newer(problem: Edited, report: StatusReport) -> bool:
    """Whether an applied migration missing on disk is newer than every one on disk."""
    missing = {p.id for p in report.edited if p.kind == "missing"}
    on_disk = [p.id for p in report.pending] + [
        a.id for a in report.applied if a.id not in missing]
    return problem.kind == "missing" and problem.id > max(on_disk, default="")
