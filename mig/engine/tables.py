"""mig's tracking tables: their layout, created (or brought up to date) where missing,
with yoyo's beside them.

- ``_mig_migrations``: the content checksum of each applied migration, who applied it, how
  long it took, and its rollback as it was when applied (the rollback file's SQL; for a Python
  migration only the fact that its rollback is code), so that a migration whose file is gone
  (another branch's) can still be rolled back (:mod:`mig.engine.tracking`);
- ``_mig_log``: mig's own events (checksums accepted by ``repair``, migrations adopted from
  plain yoyo, rollbacks, baselines);
- ``_mig_partial`` and ``_mig_progress``: the unfinished runs of non-transactional migrations
  and their completed steps (:mod:`mig.engine.partial`).

Reads never create anything: a database mig has never touched simply has nothing applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg2.extensions import cursor

from ..yoyo import rows as yoyo_rows
from .connect import fetch_row

if TYPE_CHECKING:
    from ..yoyo.backend import Backend

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


def table_exists(cur: cursor, name: str) -> bool:
    """Whether table ``name`` exists (on the search path)."""
    return tables_exist(cur, name)[0]


def tables_exist(cur: cursor, *names: str) -> tuple[bool, ...]:
    """Whether each table of ``names`` exists (on the search path): one round trip."""
    cur.execute("SELECT " + ", ".join(["to_regclass(%s) IS NOT NULL"] * len(names)), names)
    return tuple(bool(found) for found in fetch_row(cur))


def ensure(backend: Backend) -> None:
    """Create yoyo's and mig's tracking tables where missing (the caller holds the lock)."""
    yoyo_rows.ensure_tables(backend)
    with backend.connection.cursor() as cur:
        cur.execute(_CREATE)
