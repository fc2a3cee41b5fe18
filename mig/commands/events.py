"""What happened to a database's migrations: ``mig history``, read from the logs.

The applies come from yoyo's log (``_yoyo_log``), which plain yoyo writes too; everything else
mig did (rollbacks, forced rollbacks, repairs, adoptions, baselines) from mig's ``_mig_log``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import psycopg2.errors

from ..config import Settings
from ..engine.connect import connected, open_database
from ..engine.history import read_history
from ..errors import ConfigError, DatabaseUnavailable
from ..reports import HistoryReport

_AGO = re.compile(r"^\s*(\d+)\s*(s|min|h|d|w)\s*$")
_UNITS = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time as ``--since`` takes it: an ISO date or time (``2026-12-01``,
    ``2026-12-01T14:30``; without a zone: UTC), or a span back from now (``30min``, ``12h``,
    ``7d``, ``2w``).

    :raises ConfigError: anything else, with the forms it takes.
    """
    ago = _AGO.match(text)
    if ago:
        span = timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        return (now or datetime.now(timezone.utc)) - span
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: not a time",
            hint="give a date or time in UTC (2026-12-01, 2026-12-01T14:30, with an offset "
            "like +02:00 for another zone) or a span back from now (30min, 12h, 7d, 2w)",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def history(settings: Settings, *, migration: str | None = None,
            since: datetime | str | None = None) -> HistoryReport:
    """What happened to the database's migrations, oldest first: every apply (when, the OS
    user and host, and for the apply a migration is applied by now its database role and
    duration), and mig's events — rollbacks (with their duration), forced rollbacks, repairs,
    adoptions of plain yoyo's applies, baselines — each with the role, OS user, host and
    time, and its detail.
    Changes nothing.

    :param migration: only this migration's events.
    :param since: only events at or after this time (a string as :func:`parse_since` takes).
    :raises ConfigError: ``since`` is not a time.
    :raises DatabaseUnavailable: the database cannot be reached, or the role may not read the
        logs.
    """
    when = parse_since(since) if isinstance(since, str) else since
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    dsn = open_database(settings)
    with connected(dsn, "history") as conn:
        try:
            events = read_history(conn, settings.migration_table, migration=migration,
                                  since=when)
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise DatabaseUnavailable(
                f"{dsn.masked}: this role may not read the migration logs: "
                f"{str(exc).strip().splitlines()[0]}",
                hint="run 'mig history' as the role that runs the migrations",
            ) from None
    return HistoryReport(dsn.masked, migration=migration, since=when, events=tuple(events))
