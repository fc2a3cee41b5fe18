"""What happened to the migrations, read back: the applies of yoyo's log and mig's own
events, oldest first (``mig history``)."""

from __future__ import annotations

from datetime import datetime, timezone

from psycopg2.extensions import connection

from ..reports import HistoryEvent
from .tables import table_exists


def read_history(conn: connection, migration_table: str, *, migration: str | None = None,
                 since: datetime | None = None) -> list[HistoryEvent]:
    """What happened to the migrations, oldest first: the applies of yoyo's log (plain yoyo's
    too; the one a migration is applied by now with its duration and database role from
    ``_mig_migrations``) and mig's own events of ``_mig_log`` (rollbacks, forced rollbacks,
    repairs, adoptions, baselines). Only ``migration``'s, only those at or after ``since``.
    A database without the tables has no history."""
    with conn.cursor() as cur:
        has_log = table_exists(cur, "_mig_log")
        has_yoyo = table_exists(cur, "_yoyo_log")
        has_mig = table_exists(cur, "_mig_migrations")
        parts = []
        if has_log:
            cur.execute("SELECT FROM pg_attribute WHERE attrelid = to_regclass('_mig_log')"
                        " AND attname = 'duration_ms' AND NOT attisdropped")
            took = "duration_ms" if cur.fetchone() is not None else "NULL::integer"
            parts.append(f"SELECT at, operation, migration_id, by_user, os_user, host, {took},"
                         " detail, 1 AS source, id::text AS seq FROM _mig_log")
        if has_yoyo:
            # the apply a migration is applied by now: its role and duration are recorded
            role, duration, join = "NULL::text", "NULL::integer", ""
            if has_mig:
                role, duration = "c.applied_by", "c.duration_ms"
                join = ("LEFT JOIN _mig_migrations c ON c.migration_id = y.migration_id"
                        " AND y.created_at_utc = (SELECT max(z.created_at_utc) FROM _yoyo_log z"
                        " WHERE z.migration_id = y.migration_id AND z.operation = 'apply')")
            parts.append(
                f"SELECT y.created_at_utc AT TIME ZONE 'UTC', y.operation, y.migration_id,"
                f" {role}, y.username, y.hostname, {duration}, NULL, 0, y.created_at_utc::text"
                f" FROM _yoyo_log y {join} WHERE y.operation = 'apply'")
        if not parts:
            return []
        cur.execute(
            "SELECT * FROM (" + " UNION ALL ".join(parts) + ") AS e(at, operation, migration,"
            " role, os_user, host, duration_ms, detail, source, seq)"
            " WHERE (%(migration)s::text IS NULL OR migration = %(migration)s)"
            " AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
            " ORDER BY at, source, seq",
            {"migration": migration, "since": since})
        rows = cur.fetchall()
    return [HistoryEvent(at.astimezone(timezone.utc), operation, mid, role, os_user, host,
                         duration, detail)
            for at, operation, mid, role, os_user, host, duration, detail, _, _ in rows]
