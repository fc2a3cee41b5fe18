"""``_mig_data_checkpoints``: how far each data step got, written with each batch.

One row per (migration, step, direction). A batch's changes and its checkpoint row commit in
the same transaction, so after a crash the row names exactly the last batch whose changes are
in the database: a re-run continues after ``last_key`` and no batch is done twice or skipped.
The row stays after the step finishes (``finished_at``, ``rows_done``: what the step did) and
is removed when the migration is rolled back, so a later apply starts afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from psycopg2.extensions import cursor

from ..engine.connect import fetch_row

TABLE = "_mig_data_checkpoints"

_CREATE = """
CREATE TABLE IF NOT EXISTS _mig_data_checkpoints (
    migration_id text NOT NULL,
    step text NOT NULL,
    direction text NOT NULL DEFAULT 'forward',
    key_columns text[] NOT NULL,
    last_key jsonb,
    rows_done bigint NOT NULL DEFAULT 0,
    rows_changed bigint NOT NULL DEFAULT 0,
    batches bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (migration_id, step, direction),
    CONSTRAINT _mig_data_checkpoints_direction_check CHECK (direction IN ('forward', 'backward'))
)
"""


@dataclass(frozen=True)
class Checkpoint:
    """Where a data step stands: its key columns, the last key done and the counts so far."""

    key_columns: tuple[str, ...]
    last_key: list[str] | None
    rows_done: int
    rows_changed: int
    batches: int
    finished: bool


def ensure(cur: cursor) -> None:
    """Create the table where missing (mig's migration lock serialises concurrent runs)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    if not fetch_row(cur)[0]:
        cur.execute(_CREATE)


def read(cur: cursor, migration_id: str, step: str, direction: str) -> Checkpoint | None:
    """The checkpoint of a step in one direction; None when it has none (or no table yet)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    if not fetch_row(cur)[0]:
        return None
    cur.execute(
        "SELECT key_columns, last_key, rows_done, rows_changed, batches, finished_at IS NOT NULL"
        " FROM _mig_data_checkpoints WHERE migration_id = %s AND step = %s AND direction = %s",
        (migration_id, step, direction),
    )
    row = cur.fetchone()
    if row is None:
        return None
    columns, last_key, rows_done, rows_changed, batches, finished = row
    return Checkpoint(tuple(columns), last_key, rows_done, rows_changed, batches, finished)


def save(cur: cursor, migration_id: str, step: str, direction: str, columns: tuple[str, ...],
         last_key: list[str] | None, rows: int, changed: int, *, finished: bool = False
         ) -> None:
    """Record one more batch of ``rows`` (``changed`` of them changed) ending at ``last_key``,
    in the batch's own transaction."""
    cur.execute(
        "INSERT INTO _mig_data_checkpoints AS c (migration_id, step, direction, key_columns,"
        " last_key, rows_done, rows_changed, batches, finished_at)"
        " VALUES (%(m)s, %(s)s, %(d)s, %(cols)s, %(key)s, %(rows)s, %(changed)s, %(b)s,"
        " CASE WHEN %(fin)s THEN now() END)"
        " ON CONFLICT (migration_id, step, direction) DO UPDATE SET"
        " last_key = coalesce(excluded.last_key, c.last_key),"
        " rows_done = c.rows_done + excluded.rows_done,"
        " rows_changed = c.rows_changed + excluded.rows_changed,"
        " batches = c.batches + excluded.batches,"
        " updated_at = now(), finished_at = excluded.finished_at",
        {"m": migration_id, "s": step, "d": direction, "cols": list(columns),
         "key": json.dumps(last_key) if last_key is not None else None, "rows": rows,
         "changed": changed,
         "b": 0 if finished else 1, "fin": finished},
    )


def forget(cur: cursor, migration_id: str, step: str) -> None:
    """Remove both directions' rows of a step (its migration was rolled back)."""
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (TABLE,))
    if fetch_row(cur)[0]:
        cur.execute("DELETE FROM _mig_data_checkpoints WHERE migration_id = %s AND step = %s",
                    (migration_id, step))
