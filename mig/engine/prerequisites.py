"""What a history expects to exist before its first migration runs.

Some histories start in a schema their deployments create outside the migrations (supabase's
auth history expects ``auth``). ``create_schemas`` names them: mig creates each missing one
before it applies anything, and on every scratch database it builds the history on
(``mig status --check``, ``mig diff``, ``mig verify``, ``mig baseline``), so that a history
builds there as it did on the live database.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg2 import sql
from psycopg2.extensions import connection


def create_schemas(conn: connection, names: Iterable[str]) -> list[str]:
    """Create each schema of ``names`` that does not exist yet on ``conn`` (autocommit, or
    inside the caller's transaction); the names created, in order."""
    created: list[str] = []
    with conn.cursor() as cur:
        for name in dict.fromkeys(names):
            cur.execute("SELECT to_regnamespace(quote_ident(%s)) IS NULL", (name,))
            row = cur.fetchone()
            if row is not None and row[0]:
                cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(name)))
                created.append(name)
    return created
