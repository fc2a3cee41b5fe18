"""The shipped migrations applied as plain SQL, without mig (to compare mig's result with)."""

from __future__ import annotations

from pathlib import Path

import psycopg2
from yoyo.migrations import read_sql_migration

from .project import REPO

MIGRATIONS = REPO / "migrations"


def apply_sql_files(url: str, directory: Path = MIGRATIONS) -> None:
    """Apply every ``*.sql`` migration of ``directory`` in id order, one transaction each."""
    conn = psycopg2.connect(url)
    try:
        for path in sorted(directory.glob("*.sql")):
            if path.name.endswith(".rollback.sql"):
                continue
            _, _, statements = read_sql_migration(str(path))
            with conn, conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
    finally:
        conn.close()
