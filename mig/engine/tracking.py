"""mig's records of its migrations, beside yoyo's.

yoyo's own tables stay the source of truth for *which* migrations are applied
(``_yoyo_migration``, ``_yoyo_log``; written in yoyo's format by :mod:`mig.yoyo.rows`), so
``yoyo list`` keeps working. mig's ``_mig_migrations`` adds each one's content checksum, who
applied it, how long it took and its rollback as stored when applied; ``_mig_log`` holds mig's
own events (:mod:`mig.engine.tables` has their layout). Both are written here, together with
yoyo's rows, inside the caller's transaction; they are read back joined with yoyo's.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection

from ..disk.scripts import Script
from ..reports import Applied, Edited
from ..yoyo import rows as yoyo_rows
from .connect import fetch_row
from .partial import Partial
from .tables import table_exists, tables_exist

if TYPE_CHECKING:  # yoyo's backends are imported by those who run migrations
    from ..yoyo.backend import Backend


def os_user() -> str:
    """The operating-system user running mig, for the records."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def read_applied(conn: connection, migration_table: str) -> list[Applied]:
    """Applied migrations in the order they were applied, with mig's checksum where known."""
    with conn.cursor() as cur:
        has_table, has_mig, has_log = tables_exist(cur, migration_table, "_mig_migrations",
                                                   "_yoyo_log")
        if not has_table:
            return []
        by_expr = "NULL::text"
        joins = []
        if has_mig:
            joins.append("LEFT JOIN _mig_migrations c ON c.migration_id = y.migration_id")
        if has_log:
            joins.append(
                "LEFT JOIN LATERAL (SELECT l.username || '@' || l.hostname AS who FROM _yoyo_log l"
                " WHERE l.migration_id = y.migration_id AND l.operation = 'apply'"
                " ORDER BY l.created_at_utc DESC LIMIT 1) l ON true"
            )
            by_expr = "l.who"
        if has_mig:
            by_expr = f"coalesce({by_expr}, c.applied_by)"
        query = sql.SQL(
            "SELECT y.migration_id, y.applied_at_utc, {by}, {checksum} FROM {table} y {joins}"
            " ORDER BY y.applied_at_utc, y.migration_id"
        ).format(
            by=sql.SQL(by_expr),
            checksum=sql.SQL("c.checksum" if has_mig else "NULL::text"),
            table=sql.Identifier(migration_table),
            joins=sql.SQL(" ".join(joins)),
        )
        cur.execute(query)
        rows = cur.fetchall()
    return [
        Applied(mid, at.replace(tzinfo=timezone.utc) if at else None, by, cs)
        for mid, at, by, cs in rows
    ]


_READ_HEAD = """
SELECT array(SELECT y.migration_id FROM {table} y
              ORDER BY y.applied_at_utc, y.migration_id),
       array(SELECT c.checksum FROM {table} y
              LEFT JOIN _mig_migrations c ON c.migration_id = y.migration_id
              ORDER BY y.applied_at_utc, y.migration_id),
       EXISTS (SELECT FROM _mig_progress) OR EXISTS (SELECT FROM _mig_partial)
"""


def read_head(conn: connection, migration_table: str
              ) -> tuple[list[tuple[str, str | None]], bool] | None:
    """In one round trip: the applied migrations (id and mig's checksum, in the order they
    were applied) and whether any non-transactional run is unfinished.

    It reads every tracking table without first checking that they exist: None when one is
    missing or this role may not read it (a database mig has not fully set up, an older
    layout, the application role); :func:`read_applied` and :func:`read_partial` then tell
    what is there. ``conn`` must be in autocommit (a failed read leaves no transaction).
    """
    query = sql.SQL(_READ_HEAD).format(table=sql.Identifier(migration_table))
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            ids, checksums, unfinished = fetch_row(cur)
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.InsufficientPrivilege,
            psycopg2.errors.UndefinedColumn):
        return None
    return list(zip(ids, checksums, strict=True)), bool(unfinished)


_RECORD_APPLY = """
INSERT INTO _mig_migrations (migration_id, checksum, duration_ms, transactional, rollback_kind,
                             rollback_sql)
SELECT * FROM unnest(%(id)s::text[], %(checksum)s::text[], %(duration)s::integer[],
                     %(transactional)s::boolean[], %(rollback_kind)s::text[],
                     %(rollback_sql)s::text[])
ON CONFLICT (migration_id) DO UPDATE
SET checksum = excluded.checksum, applied_at = now(), applied_by = current_user,
    duration_ms = excluded.duration_ms, transactional = excluded.transactional,
    rollback_kind = excluded.rollback_kind, rollback_sql = excluded.rollback_sql;
DELETE FROM _mig_progress WHERE migration_id = ANY (%(id)s::text[]);
DELETE FROM _mig_partial WHERE migration_id = ANY (%(id)s::text[])
"""


def record_apply(backend: Backend, script: Script, duration_ms: int | None) -> None:
    """Insert the rows that say ``script`` is applied (inside the caller's transaction)."""
    record_applies(backend, [script], [duration_ms])


def record_applies(backend: Backend, scripts: list[Script], durations: list[int | None], *,
                   operation: str = "apply", at: datetime | None = None) -> None:
    """Insert the rows that say ``scripts`` are applied (inside the caller's transaction).

    yoyo's rows (:func:`mig.yoyo.rows.record_applies`) and mig's go in one round trip
    however many migrations. Each migration's rollback is stored with its record (see
    :func:`stored_rollbacks`); their times follow their order, a microsecond apart, so that
    the order they were applied in stays readable. ``operation`` is yoyo's log word
    (``mark``: recorded without running, as by a baseline); ``at`` the time of the first (by
    default now).
    """
    now = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(tzinfo=None)
    ids = [script.id for script in scripts]
    yoyo_sql, params = yoyo_rows.record_applies(
        backend.migration_table, ids, [now + timedelta(microseconds=i) for i in range(len(ids))],
        operation)
    rollbacks = [rollback_of(script) for script in scripts]
    with backend.connection.cursor() as cur:
        cur.execute(yoyo_sql + sql.SQL(_RECORD_APPLY), {
            **params,
            "id": ids,
            "checksum": [script.checksum for script in scripts],
            "duration": durations,
            "transactional": [script.transactional for script in scripts],
            "rollback_kind": [kind for kind, _ in rollbacks],
            "rollback_sql": [text for _, text in rollbacks],
        })


#: What ``_mig_migrations.rollback_kind`` says: the SQL of the rollback file is stored; the
#: rollback is Python code (only in the file); there is no rollback at all; the migration ran
#: nothing and its rollback runs nothing (an empty migration: undone by forgetting it). NULL:
#: applied before mig stored rollbacks.
ROLLBACK_SQL, ROLLBACK_PYTHON, ROLLBACK_NONE, ROLLBACK_EMPTY = "sql", "python", "none", "empty"


def rollback_of(script: Script) -> tuple[str, str | None]:
    """``(rollback_kind, rollback_sql)`` of ``script`` as it is on disk now."""
    if script.empty and script.rollback_empty:
        return ROLLBACK_EMPTY, None
    if not script.is_sql:
        return ROLLBACK_PYTHON, None
    path = script.rollback_path
    if path is None:
        return ROLLBACK_NONE, None
    return ROLLBACK_SQL, path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class StoredRollback:
    """A migration's rollback as stored when it was applied."""

    id: str
    kind: str | None  # ROLLBACK_SQL, _PYTHON, _NONE, _EMPTY; None: not stored
    sql: str | None
    transactional: bool


def stored_rollbacks(conn: connection, ids: list[str]) -> dict[str, StoredRollback]:
    """The stored rollbacks of the migrations ``ids`` (those with a record)."""
    with conn.cursor() as cur:
        if not ids or not table_exists(cur, "_mig_migrations"):
            return {}
        cur.execute("SELECT FROM pg_attribute WHERE attrelid = to_regclass('_mig_migrations')"
                    " AND attname = 'rollback_sql' AND NOT attisdropped")
        if cur.fetchone() is None:  # a table from before rollbacks were stored
            return {}
        cur.execute("SELECT migration_id, rollback_kind, rollback_sql,"
                    " coalesce(transactional, true) FROM _mig_migrations"
                    " WHERE migration_id = ANY(%s)", (list(ids),))
        return {row[0]: StoredRollback(*row) for row in cur.fetchall()}


def record_rollback(backend: Backend, migration_id: str, *, forced: str | None = None) -> None:
    """Remove the records of ``migration_id``, yoyo's and mig's; ``_mig_log`` gets a
    ``rollback`` row, or with ``forced`` (why the rollback could not undo everything) a
    ``rollback-forced`` row saying what stayed, with how long the rollback took: since its
    transaction began, or for a non-transactional one since its run started
    (``_mig_partial``), the commit not included."""
    yoyo_rows.record_rollback(backend, migration_id)
    detail = f"forced (--force): {forced}; what it changed stays in the database" if forced \
        else None
    with backend.connection.cursor() as cur:
        cur.execute(
            "INSERT INTO _mig_log (migration_id, operation, detail, os_user, host, duration_ms)"
            " SELECT %(id)s, %(operation)s, %(detail)s, %(os_user)s, %(host)s,"
            " (extract(epoch FROM clock_timestamp() - coalesce((SELECT started_at"
            " FROM _mig_partial WHERE migration_id = %(id)s AND direction = 'rollback'),"
            " now())) * 1000)::integer",
            {"id": migration_id, "operation": "rollback-forced" if forced else "rollback",
             "detail": detail, "os_user": os_user(), "host": socket.gethostname()})
        cur.execute("DELETE FROM _mig_migrations WHERE migration_id = %s", (migration_id,))
        cur.execute("DELETE FROM _mig_progress WHERE migration_id = %s", (migration_id,))
        cur.execute("DELETE FROM _mig_partial WHERE migration_id = %s", (migration_id,))


def log_event(conn: connection, migration_id: str | None, operation: str,
              detail: str | None) -> None:
    """Append one of mig's own events to ``_mig_log``."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO _mig_log (migration_id, operation, detail, os_user, host)"
            " VALUES (%s, %s, %s, %s, %s)",
            (migration_id, operation, detail, os_user(), socket.gethostname()),
        )


def set_checksum(conn: connection, migration_id: str, value: str) -> None:
    """Record ``value`` as the checksum of an applied migration."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO _mig_migrations (migration_id, checksum) VALUES (%s, %s)"
            " ON CONFLICT (migration_id) DO UPDATE SET checksum = excluded.checksum",
            (migration_id, value),
        )


@dataclass(frozen=True)
class Recorded:
    """An applied migration recorded without mig running it: ``how`` is ``baseline`` (``mig
    baseline`` marked it applied), ``adopt`` (plain yoyo applied it; mig recorded its
    checksum later) or ``squash`` (the migrations it replaced were applied: see
    :func:`record_squash`); ``at`` and ``by`` (OS user@host of the mig run) are the event's."""

    id: str
    how: str
    at: datetime | None
    by: str | None


def read_recorded(conn: connection) -> dict[str, Recorded]:
    """The applied migrations that a baseline, an adoption or a squash recorded, by id, from
    ``_mig_log``: those whose newest baseline, adopt, squash or rollback event is not the
    rollback (one rolled back since, and applied again, was run by mig). Empty without the
    log, or for a role that may not read it (the application role)."""
    with conn.cursor() as cur:
        # the application role may read the records but not mig's log: nothing to mark then
        cur.execute("SELECT to_regclass('_mig_log') IS NOT NULL"
                    " AND has_table_privilege('_mig_log', 'SELECT')")
        row = cur.fetchone()
        if row is None or not row[0]:
            return {}
        cur.execute(
            "SELECT DISTINCT ON (migration_id) migration_id, operation, at,"
            " coalesce(os_user, by_user) || coalesce('@' || host, '')"
            " FROM _mig_log WHERE migration_id IS NOT NULL"
            " AND operation IN ('baseline', 'adopt', 'squash', 'rollback', 'rollback-forced')"
            " ORDER BY migration_id, id DESC")
        rows = cur.fetchall()
    return {mid: Recorded(mid, op, at, by) for mid, op, at, by in rows
            if op in ("baseline", "adopt", "squash")}


@dataclass(frozen=True)
class Squashed:
    """A squash on disk (``-- replaces:``, written by ``mig squash``) not applied on a
    database where migrations it replaced are: ``applied``, their records (oldest first), and
    ``missing``, those it replaced that the database has not applied. With none missing, the
    database holds what the squash builds: it is recorded as applied without running it
    (:func:`record_squash`); with some, the database is part way through the old history."""

    script: Script
    applied: list[Applied]
    missing: list[str]


def squashed(scripts: list[Script], applied: list[Applied]) -> list[Squashed]:
    """The squashes of ``scripts`` whose replaced migrations (some or all) are ``applied``,
    the squash itself not."""
    applied_ids = {a.id for a in applied}
    if applied_ids <= {s.id for s in scripts}:
        return []  # a replaced migration's file is gone: no file is read at head
    found = []
    for script in scripts:
        if not script.replaces or script.id in applied_ids:
            continue
        rows = [a for a in applied if a.id in set(script.replaces)]
        if rows:
            found.append(Squashed(script, rows, [mid for mid in script.replaces
                                                 if mid not in applied_ids]))
    return found


def as_squashed(applied: list[Applied], found: list[Squashed]) -> list[Applied]:
    """``applied`` as :func:`record_squash` leaves it: for each squash of ``found`` whose
    replaced migrations are all applied, their records replaced by one of the squash (in the
    place of the first, ``recorded`` ``squash`` with no time yet)."""
    view = list(applied)
    for squash in found:
        if squash.missing:
            continue
        first = squash.applied[0]
        replaced = {a.id for a in squash.applied}
        at = view.index(first)
        view = [a for a in view[:at] if a.id not in replaced] + [Applied(
            squash.script.id, first.applied_at, first.applied_by, squash.script.checksum,
            recorded="squash")] + [a for a in view[at:] if a.id not in replaced]
    return view


def record_squash(backend: Backend, squash: Squashed) -> None:
    """The records of a database that applied every migration ``squash`` replaced, made those
    of one built from the squashed history (inside the caller's transaction): the replaced
    migrations' records go (their applies stay in the logs, for ``mig history``), the squash
    is recorded as applied (yoyo's ``mark``) at the time the first of them was, and a
    ``squash`` event in ``_mig_log`` lists what it replaced."""
    ids = [a.id for a in squash.applied]
    for mid in ids:
        yoyo_rows.forget(backend, mid)
    with backend.connection.cursor() as cur:
        cur.execute("DELETE FROM _mig_migrations WHERE migration_id = ANY(%s)", (ids,))
    first = min((a.applied_at for a in squash.applied if a.applied_at is not None),
                default=None)
    record_applies(backend, [squash.script], [None], operation="mark", at=first)
    detail = {"replaces": [{"id": a.id, "checksum": a.checksum,
                            "applied_at": a.applied_at.isoformat() if a.applied_at else None}
                           for a in squash.applied]}
    log_event(backend.connection, squash.script.id, "squash", json.dumps(detail))


def edited(scripts: list[Script], applied: list[Applied],
           partial: Sequence[Partial] = ()) -> list[Edited]:
    """Applied migrations whose file changed, disappeared or was renamed, and unfinished
    non-transactional runs whose file changed since they started (``edited-partial``).

    The records of migrations a squash on disk replaced, all of them applied, are none: the
    squash stands for them (see :func:`squashed`)."""
    stood_for = {a.id for found in squashed(scripts, applied) if not found.missing
                 for a in found.applied}
    applied = [a for a in applied if a.id not in stood_for]
    on_disk = {s.id: s for s in scripts}
    problems: list[Edited] = []
    for run in partial:
        script = on_disk.get(run.id)
        if script is not None and run.checksum is not None and run.checksum != script.checksum:
            problems.append(Edited(run.id, "edited-partial", run.checksum, script.checksum,
                                   path=str(script.path), summary=run.summary))
    for row in applied:
        script = on_disk.get(row.id)
        if script is None:
            problems.append(Edited(row.id, "missing", row.checksum, None))
        elif row.checksum is not None and row.checksum != script.checksum:
            problems.append(Edited(row.id, "edited", row.checksum, script.checksum,
                                   path=str(script.path)))
    return problems


def record_baseline(backend: Backend, script: Script, detail: str) -> None:
    """The rows that say ``script`` is applied by a baseline, not by running it: yoyo's
    ``mark`` (what ``yoyo mark`` writes), no duration, and a ``baseline`` event in ``_mig_log``
    whose ``detail`` says what was verified and which foreign entries it replaced."""
    record_applies(backend, [script], [None], operation="mark")
    log_event(backend.connection, script.id, "baseline", detail)


def forget(backend: Backend, migration_id: str) -> None:
    """Remove another yoyo project's record of ``migration_id`` (a baseline replaced it)."""
    yoyo_rows.forget(backend, migration_id)
    with backend.connection.cursor() as cur:
        cur.execute("DELETE FROM _mig_migrations WHERE migration_id = %s", (migration_id,))


def rename(backend: Backend, old_id: str, script: Script) -> None:
    """Move the records of applied migration ``old_id`` to ``script``, its file renamed: the
    checksum recorded is the file's as it is now."""
    yoyo_rows.rename(backend, old_id, script.id)
    with backend.connection.cursor() as cur:
        cur.execute("UPDATE _mig_migrations SET migration_id = %s, checksum = %s"
                    " WHERE migration_id = %s", (script.id, script.checksum, old_id))
