"""The unfinished runs of non-transactional migrations, as recorded.

A non-transactional migration (``CREATE INDEX CONCURRENTLY``) runs step by step in
autocommit. Before its first step, ``_mig_partial`` records the run: its direction, the
checksum of the file it started from and its number of steps; each completed step adds a
``_mig_progress`` row holding the checksum of its statement, so that a re-run resumes after
them by content, not by position (:mod:`mig.engine.resume`). Both go in the transaction that
records the end of the run (:mod:`mig.engine.tracking`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg2.extensions import connection

from .connect import fetch_row
from .tables import table_exists


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
        # in one round trip: whether the tables exist, and whether this role may read them
        cur.execute("SELECT to_regclass('_mig_progress') IS NOT NULL,"
                    " to_regclass('_mig_partial') IS NOT NULL,"
                    " CASE WHEN to_regclass('_mig_progress') IS NOT NULL"
                    " THEN has_table_privilege('_mig_progress', 'SELECT') AND"
                    " (to_regclass('_mig_partial') IS NULL"
                    "  OR has_table_privilege('_mig_partial', 'SELECT')) END")
        has_progress, has_partial, readable = fetch_row(cur)
        if not has_progress:
            return []
        if not readable:
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
