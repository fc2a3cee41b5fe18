"""What the database records about its migrations.

yoyo's own tables stay the source of truth for *which* migrations are applied
(``_yoyo_migration``, ``_yoyo_log``), so ``yoyo list`` keeps working. mig adds:

- ``_mig_migrations``: the content checksum of each applied migration, who applied it, how long
  it took, and its rollback as it was when applied (the rollback file's SQL; for a Python
  migration only the fact that its rollback is code), so that a migration whose file is gone
  (another branch's) can still be rolled back;
- ``_mig_log``: mig's own events (checksums accepted by ``repair``, migrations adopted from plain
  yoyo, rollbacks);
- ``_mig_partial``: a non-transactional migration whose apply or rollback started and has not
  finished: the direction, the checksum of the file it started from and its number of steps
  (written before its first step, removed in the transaction that records the end);
- ``_mig_progress``: the steps of such a run that already completed, each with the checksum of
  its statement, so a re-run resumes after them by content, not by position.

Reads never create anything: a database mig has never touched simply has nothing applied.
"""

from __future__ import annotations

import getpass
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from ..disk import steps as yoyo_steps
from ..disk.scripts import Script
from ..reports import HistoryEvent
from .connect import fetch_row

if TYPE_CHECKING:
    from .runner import Backend
    from .stored import StoredScript

_CREATE = """
CREATE TABLE IF NOT EXISTS _mig_migrations (
    migration_id text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    duration_ms integer,
    transactional boolean,
    rollback_kind text,
    rollback_sql text
);
DO $mig$ BEGIN
    -- Tables made before rollbacks were stored gain the columns in place (their existing
    -- rows keep NULL: nothing is known about their rollbacks).
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('_mig_migrations')
                   AND attname = 'rollback_sql' AND NOT attisdropped) THEN
        ALTER TABLE _mig_migrations ADD COLUMN IF NOT EXISTS transactional boolean,
            ADD COLUMN IF NOT EXISTS rollback_kind text,
            ADD COLUMN IF NOT EXISTS rollback_sql text;
    END IF;
END $mig$;
CREATE TABLE IF NOT EXISTS _mig_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    migration_id text,
    operation text NOT NULL,
    detail text,
    by_user text NOT NULL DEFAULT current_user,
    os_user text,
    host text,
    duration_ms integer
);
DO $mig$ BEGIN
    -- a log made before it recorded how long a rollback took gains the column in place
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('_mig_log')
                   AND attname = 'duration_ms' AND NOT attisdropped) THEN
        ALTER TABLE _mig_log ADD COLUMN IF NOT EXISTS duration_ms integer;
    END IF;
END $mig$;
CREATE TABLE IF NOT EXISTS _mig_progress (
    migration_id text NOT NULL,
    direction text NOT NULL DEFAULT 'apply',
    step integer NOT NULL,
    checksum text,
    done_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (migration_id, direction, step)
);
CREATE TABLE IF NOT EXISTS _mig_partial (
    migration_id text PRIMARY KEY,
    direction text NOT NULL CHECK (direction IN ('apply', 'rollback')),
    checksum text NOT NULL,
    steps integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    started_by text NOT NULL DEFAULT current_user
);
DO $$
BEGIN
    -- _mig_progress of mig before resumes by content: one direction, no step checksums
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '_mig_progress'::regclass
                   AND attname = 'direction' AND NOT attisdropped) THEN
        ALTER TABLE _mig_progress
            ADD COLUMN direction text NOT NULL DEFAULT 'apply',
            ADD COLUMN checksum text,
            DROP CONSTRAINT _mig_progress_pkey,
            ADD PRIMARY KEY (migration_id, direction, step);
    END IF;
END
$$;
"""


@dataclass(frozen=True)
class Applied:
    """One applied migration as recorded: id, checksum (None: applied by plain yoyo), when and
    by whom."""

    id: str
    applied_at: datetime | None
    applied_by: str | None
    checksum: str | None


def os_user() -> str:
    """The operating-system user running mig, for the records."""
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def table_exists(cur: cursor, name: str) -> bool:
    """Whether table ``name`` exists (on the search path)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
    return bool(fetch_row(cur)[0])


def ensure_tables(backend: Backend) -> None:
    """Create yoyo's and mig's tracking tables where missing (the caller holds the lock)."""
    backend.ensure_internal_schema_updated()
    yoyo_steps.mark_internal_schema_updated(backend)
    with backend.connection.cursor() as cur:
        cur.execute(_CREATE)


def read_applied(conn: connection, migration_table: str) -> list[Applied]:
    """Applied migrations in the order they were applied, with mig's checksum where known."""
    with conn.cursor() as cur:
        if not table_exists(cur, migration_table):
            return []
        has_mig = table_exists(cur, "_mig_migrations")
        has_log = table_exists(cur, "_yoyo_log")
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
INSERT INTO {migrations} (migration_hash, migration_id, applied_at_utc)
SELECT * FROM unnest(%(hash)s::text[], %(id)s::text[], %(when)s::timestamp[]);
INSERT INTO _yoyo_log (id, migration_hash, migration_id, operation, username, hostname,
                       created_at_utc)
SELECT l, h, i, %(operation)s, %(user)s, %(host)s, w
  FROM unnest(%(log_id)s::text[], %(hash)s::text[], %(id)s::text[], %(when)s::timestamp[])
       AS r(l, h, i, w);
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
                   operation: str = "apply") -> None:
    """Insert the rows that say ``scripts`` are applied (inside the caller's transaction).

    yoyo's rows are written in yoyo's own format (what ``mark_one`` and ``log_migration``
    write), all four statements in one round trip however many migrations. Each migration's
    rollback is stored with its record (see :func:`stored_rollbacks`); their times follow
    their order, a microsecond apart, so that the order they were applied in stays readable.
    ``operation`` is yoyo's log word (``mark``: recorded without running, as by a baseline).
    """
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rollbacks = [rollback_of(script) for script in scripts]
    query = sql.SQL(_RECORD_APPLY).format(migrations=sql.Identifier(backend.migration_table))
    with backend.connection.cursor() as cur:
        cur.execute(query, {
            "hash": [script.migration.hash for script in scripts],
            "id": [script.id for script in scripts],
            "when": [now + timedelta(microseconds=i) for i in range(len(scripts))],
            "log_id": [str(uuid.uuid1()) for _ in scripts],
            "user": os_user(),
            "host": socket.gethostname(),
            "checksum": [script.checksum for script in scripts],
            "duration": durations,
            "transactional": [script.transactional for script in scripts],
            "rollback_kind": [kind for kind, _ in rollbacks],
            "rollback_sql": [text for _, text in rollbacks],
            "operation": operation,
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


def record_rollback(backend: Backend, script: Script | StoredScript, *,
                    forced: str | None = None) -> None:
    """Remove ``script``'s records; ``_mig_log`` gets a ``rollback`` row, or with ``forced``
    (why the rollback could not undo everything) a ``rollback-forced`` row saying what stayed,
    with how long the rollback took: since its transaction began, or for a non-transactional
    one since its run started (``_mig_partial``), the commit not included."""
    backend.unmark_one(script.migration, log=False)
    log_yoyo(backend, script.migration, "rollback")
    detail = f"forced (--force): {forced}; what it changed stays in the database" if forced \
        else None
    with backend.connection.cursor() as cur:
        cur.execute(
            "INSERT INTO _mig_log (migration_id, operation, detail, os_user, host, duration_ms)"
            " SELECT %(id)s, %(operation)s, %(detail)s, %(os_user)s, %(host)s,"
            " (extract(epoch FROM clock_timestamp() - coalesce((SELECT started_at"
            " FROM _mig_partial WHERE migration_id = %(id)s AND direction = 'rollback'),"
            " now())) * 1000)::integer",
            {"id": script.id, "operation": "rollback-forced" if forced else "rollback",
             "detail": detail, "os_user": os_user(), "host": socket.gethostname()})
        cur.execute("DELETE FROM _mig_migrations WHERE migration_id = %s", (script.id,))
        cur.execute("DELETE FROM _mig_progress WHERE migration_id = %s", (script.id,))
        cur.execute("DELETE FROM _mig_partial WHERE migration_id = %s", (script.id,))


def log_yoyo(backend: Backend, migration: Any, operation: str) -> None:
    """A ``_yoyo_log`` row in yoyo's own format (host name without a DNS lookup)."""
    sql_text = backend.format_sql(backend.log_migration_sql)
    backend.execute(
        sql_text,
        {
            "id": str(uuid.uuid1()),
            "migration_id": migration.id,
            "migration_hash": migration.hash,
            "username": os_user(),
            "hostname": socket.gethostname(),
            "created_at_utc": datetime.now(timezone.utc).replace(tzinfo=None),
            "operation": operation,
        },
    )


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
    baseline`` marked it applied) or ``adopt`` (plain yoyo applied it; mig recorded its
    checksum later); ``at`` and ``by`` (OS user@host of the mig run) are the event's."""

    id: str
    how: str
    at: datetime | None
    by: str | None


def read_recorded(conn: connection) -> dict[str, Recorded]:
    """The applied migrations that a baseline or an adoption recorded, by id, from
    ``_mig_log``: those whose newest baseline, adopt or rollback event is a baseline or an
    adoption (one rolled back since, and applied again, was run by mig). Empty without the
    log."""
    with conn.cursor() as cur:
        if not table_exists(cur, "_mig_log"):
            return {}
        cur.execute(
            "SELECT DISTINCT ON (migration_id) migration_id, operation, at,"
            " coalesce(os_user, by_user) || coalesce('@' || host, '')"
            " FROM _mig_log WHERE migration_id IS NOT NULL"
            " AND operation IN ('baseline', 'adopt', 'rollback', 'rollback-forced')"
            " ORDER BY migration_id, id DESC")
        rows = cur.fetchall()
    return {mid: Recorded(mid, op, at, by) for mid, op, at, by in rows
            if op in ("baseline", "adopt")}

@dataclass(frozen=True)
class Partial:
    """A non-transactional migration whose apply or rollback started and did not finish."""

    id: str
    direction: str  # "apply" or "rollback"
    checksum: str | None  # of the file the run started from (None: recorded by an older mig)
    steps: int | None  # how many steps the run has
    done: int  # how many of them completed
    started_at: datetime | None
    started_by: str | None

    @property
    def summary(self) -> str:
        """``partial: k of n steps applied`` / ``rolling back: k of n steps undone``."""
        total = "?" if self.steps is None else str(self.steps)
        if self.direction == "apply":
            return f"partial: {self.done} of {total} steps applied"
        return f"rolling back: {self.done} of {total} steps undone"


_READ_PARTIAL = """
SELECT p.migration_id, p.direction, p.checksum, p.steps,
       (SELECT count(*) FROM _mig_progress g
         WHERE g.migration_id = p.migration_id AND g.direction = p.direction),
       p.started_at, p.started_by
  FROM _mig_partial p
UNION ALL
SELECT g.migration_id, g.direction, NULL, NULL, count(*), min(g.done_at), NULL
  FROM _mig_progress g
 WHERE NOT EXISTS (SELECT 1 FROM _mig_partial p WHERE p.migration_id = g.migration_id)
 GROUP BY g.migration_id, g.direction
 ORDER BY 1
"""


def read_partial(conn: connection) -> list[Partial]:
    """Every unfinished non-transactional apply or rollback (progress an older mig wrote, with
    no ``_mig_partial`` row, counts too)."""
    with conn.cursor() as cur:
        if not table_exists(cur, "_mig_progress"):
            return []
        has_partial = table_exists(cur, "_mig_partial")
        cur.execute("SELECT has_table_privilege('_mig_progress', 'SELECT') AND (NOT %s OR"
                    " has_table_privilege('_mig_partial', 'SELECT'))", (has_partial,))
        if not fetch_row(cur)[0]:
            # A role granted only the migration records (the application role, see the
            # privileges migration) sees a partial apply as pending, not as partial.
            return []
        if not has_partial:
            cur.execute("SELECT migration_id, 'apply', NULL, NULL, count(*), min(done_at), NULL"
                        " FROM _mig_progress GROUP BY migration_id ORDER BY 1")
        else:
            cur.execute(_READ_PARTIAL)
        return [Partial(*row) for row in cur.fetchall()]


def partial_of(conn: connection, migration_id: str) -> Partial | None:
    """The unfinished run of ``migration_id`` recorded in ``_mig_partial``, if any."""
    with conn.cursor() as cur:
        if not table_exists(cur, "_mig_partial"):
            return None
        cur.execute("SELECT migration_id, direction, checksum, steps, 0, started_at, started_by"
                    " FROM _mig_partial WHERE migration_id = %s", (migration_id,))
        row = cur.fetchone()
    return Partial(*row) if row else None


def start_partial(conn: connection, migration_id: str, direction: str, checksum: str,
                  steps: int) -> None:
    """Record (in autocommit, before the first step) that a run of ``migration_id`` started."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO _mig_partial (migration_id, direction, checksum, steps)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (migration_id) DO NOTHING",
            (migration_id, direction, checksum, steps),
        )


def accept_partial(conn: connection, migration_id: str, checksum: str) -> None:
    """Take ``checksum`` as the file an unfinished run resumes from (``mig repair``)."""
    with conn.cursor() as cur:
        cur.execute("UPDATE _mig_partial SET checksum = %s WHERE migration_id = %s",
                    (checksum, migration_id))


def completed_steps(conn: connection, migration_id: str, direction: str = "apply"
                    ) -> dict[int, str | None]:
    """The completed steps of an unfinished run: position -> checksum of its statement."""
    with conn.cursor() as cur:
        if not table_exists(cur, "_mig_progress"):
            return {}
        cur.execute("SELECT step, checksum FROM _mig_progress"
                    " WHERE migration_id = %s AND direction = %s", (migration_id, direction))
        return dict(cur.fetchall())


def mark_step(conn: connection, migration_id: str, checksum: str, direction: str = "apply") -> None:
    """Record one more completed step (numbered in the order the steps completed)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO _mig_progress (migration_id, direction, step, checksum)"
            " SELECT %(id)s, %(direction)s, coalesce(max(step) + 1, 0), %(checksum)s"
            " FROM _mig_progress WHERE migration_id = %(id)s AND direction = %(direction)s",
            {"id": migration_id, "direction": direction, "checksum": checksum},
        )


def edited(scripts: list[Script], applied: list[Applied],
           partial: Sequence[Partial] = ()) -> list[dict]:
    """Applied migrations whose file changed, disappeared or was renamed, and unfinished
    non-transactional runs whose file changed since they started (``edited-partial``)."""
    on_disk = {s.id: s for s in scripts}
    problems: list[dict] = []
    for run in partial:
        script = on_disk.get(run.id)
        if script is not None and run.checksum is not None and run.checksum != script.checksum:
            problems.append({"id": run.id, "problem": "edited-partial", "recorded": run.checksum,
                             "current": script.checksum, "path": str(script.path),
                             "summary": run.summary})
    for row in applied:
        script = on_disk.get(row.id)
        if script is None:
            problems.append({"id": row.id, "problem": "missing", "recorded": row.checksum,
                             "current": None})
        elif row.checksum is not None and row.checksum != script.checksum:
            problems.append({"id": row.id, "problem": "edited", "recorded": row.checksum,
                             "current": script.checksum, "path": str(script.path)})
    return problems


def record_baseline(backend: Backend, script: Script, detail: str) -> None:
    """The rows that say ``script`` is applied by a baseline, not by running it: yoyo's
    ``mark`` (what ``yoyo mark`` writes), no duration, and a ``baseline`` event in ``_mig_log``
    whose ``detail`` says what was verified and which foreign entries it replaced."""
    record_applies(backend, [script], [None], operation="mark")
    log_event(backend.connection, script.id, "baseline", detail)


def forget(backend: Backend, migration_id: str) -> None:
    """Remove another yoyo project's record of ``migration_id`` (a baseline replaced it)."""
    with backend.connection.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE migration_id = %s")
                    .format(sql.Identifier(backend.migration_table)), (migration_id,))
        cur.execute("DELETE FROM _mig_migrations WHERE migration_id = %s", (migration_id,))


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
