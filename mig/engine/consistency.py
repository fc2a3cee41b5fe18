"""The read-only consistency check: the migration records compared with the catalog.

``mig status --check`` reports what a fault can leave behind where the records and the
database disagree or need a hand: unfinished non-transactional runs, indexes left ``INVALID``
by an interrupted ``CREATE INDEX CONCURRENTLY``, scratch databases a killed ``mig verify``
left, and applied migrations whose tables, indexes, views or sequences the catalog lacks.
It only reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.extensions import connection

from ..disk import steps as yoyo_steps
from ..disk.scripts import Script, statement_text
from ..disk.sqltext import mask, statements

_INVALID = """
SELECT n.nspname, c.relname, t.relname, pg_get_indexdef(c.oid)
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%%'
 ORDER BY 1, 2
"""


def invalid_indexes(conn: connection) -> list[dict]:
    """Indexes the server marks INVALID, each with the SQL that clears it."""
    with conn.cursor() as cur:
        cur.execute(_INVALID)
        rows = cur.fetchall()
    found = []
    for schema, name, table, definition in rows:
        qualified = sql.Identifier(schema, name).as_string(conn)
        found.append({
            "schema": schema, "name": name, "table": table, "definition": definition,
            "sql": f"DROP INDEX CONCURRENTLY IF EXISTS {qualified};",
            "rebuild": f"REINDEX INDEX CONCURRENTLY {qualified};",
        })
    return found


def leftover_scratch_databases(conn: connection) -> list[str]:
    """Scratch databases no running ``mig verify`` holds (see :func:`mig.verify.sweep`)."""
    from .scratch import unheld_scratch

    return unheld_scratch(conn)


@dataclass(frozen=True)
class Problem:
    """One way the records and the catalog disagree, with its fix."""

    kind: str  # partial, invalid-index, scratch-database, missing-object
    subject: str  # the migration, index, database or object
    message: str
    fix: str  # SQL to run or a command

    def to_json(self) -> dict:
        """The problem as --json prints it."""
        return {"kind": self.kind, "subject": self.subject, "message": self.message,
                "fix": self.fix}


_NAME = r'((?:"[^"]+"|[\w$]+)(?:\.(?:"[^"]+"|[\w$]+))?)'
_CREATES = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+|TEMP(?:ORARY)?\s+)?(?:UNIQUE\s+)?"
    r"(?:MATERIALIZED\s+)?(TABLE|INDEX|VIEW|SEQUENCE)\s+(?:CONCURRENTLY\s+)?"
    r"(?:IF\s+NOT\s+EXISTS\s+)?" + _NAME, re.IGNORECASE)
_DROPS = re.compile(
    r"^DROP\s+(?:MATERIALIZED\s+)?(?:TABLE|INDEX|VIEW|SEQUENCE)\s+(?:CONCURRENTLY\s+)?"
    r"(?:IF\s+EXISTS\s+)?(.*?)(?:\s+(?:CASCADE|RESTRICT))?$", re.IGNORECASE | re.DOTALL)
_RENAMES = re.compile(
    r"^ALTER\s+(?:TABLE|INDEX|VIEW|SEQUENCE|MATERIALIZED\s+VIEW)\s+(?:IF\s+EXISTS\s+)?"
    + _NAME + r"\s+RENAME\s+TO\s", re.IGNORECASE)


def _norm(name: str) -> str:
    return ".".join(p[1:-1] if p.startswith('"') else p.lower() for p in
                    re.findall(r'"[^"]+"|[^.]+', name.strip()))


def _sql_of(script: Script) -> list[str]:
    if script.is_sql:
        return [part.text for part in statements(script.text)]
    return [text for _, inner in yoyo_steps.flatten(script.steps)
            if (text := statement_text(inner))]


def expected_relations(applied: list[Script]) -> dict[str, str]:
    """Relations the applied SQL creates and no later applied SQL drops or renames:
    normalised name -> the migration that creates it. Only what can be read from plain
    statements counts (a relation made by a function or a DO block is not seen)."""
    expected: dict[str, str] = {}
    for script in applied:
        for text in _sql_of(script):
            words = " ".join(mask(text).split())
            created = _CREATES.match(words)
            if created and not words.upper().startswith(("CREATE TEMP", "CREATE TEMPORARY")):
                expected[_norm(created.group(2))] = script.id
                continue
            dropped = _DROPS.match(words)
            if dropped:
                for name in dropped.group(1).split(","):
                    expected.pop(_norm(name), None)
                continue
            renamed = _RENAMES.match(words)
            if renamed:
                expected.pop(_norm(renamed.group(1)), None)
    return expected


def missing_relations(conn: connection, applied: list[Script]) -> list[tuple[str, str]]:
    """``(relation, migration)`` for each expected relation the catalog lacks."""
    expected = expected_relations(applied)
    if not expected:
        return []
    names = sorted(expected)
    with conn.cursor() as cur:
        cur.execute("SELECT n, to_regclass(n) IS NULL FROM unnest(%s::text[]) AS n",
                    ([".".join(sql.Identifier(p).as_string(conn) for p in n.split("."))
                      for n in names],))
        missing = {row[0] for row in cur.fetchall() if row[1]}
    quoted = {".".join(sql.Identifier(p).as_string(conn) for p in n.split(".")): n
              for n in names}
    return [(quoted[q], expected[quoted[q]]) for q in sorted(missing)]
