"""The read-only consistency check: the migration records compared with the catalog.

``mig status --check`` reports what a fault can leave behind where the records and the
database disagree or need a hand: unfinished non-transactional runs, indexes left ``INVALID``
by an interrupted ``CREATE INDEX CONCURRENTLY``, scratch databases a killed ``mig verify``
left, and objects the applied history builds that the catalog lacks. It only reads.

What the applied history builds is read from a scratch database the applied migrations were
applied to, in the order they were applied (the build itself is in :mod:`mig.commands.state`):
an object a later migration dropped or renamed is not expected, each object is looked for in
the schema it was built in, and what DO blocks, functions or Python steps create counts like
the rest. :class:`Expected` is that build's objects, by name; :func:`catalog_objects` reads
them from either side, :func:`missing_objects` compares. :class:`ExpectedCache` keeps a
build's objects on disk under a key made of the applied migrations' checksums, so that a
repeated check of the same history needs no scratch database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from psycopg2 import sql
from psycopg2.extensions import connection

from ..reports import InvalidIndex
from .snapshot import SECTIONS, snapshot, user_schemas

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


def invalid_indexes(conn: connection) -> list[InvalidIndex]:
    """Indexes the server marks INVALID, each with the SQL that clears it."""
    with conn.cursor() as cur:
        cur.execute(_INVALID)
        rows = cur.fetchall()
    found = []
    for schema, name, table, definition in rows:
        qualified = sql.Identifier(schema, name).as_string(conn)
        found.append(InvalidIndex(
            schema, name, table, definition, sql=f"DROP INDEX CONCURRENTLY IF EXISTS {qualified};",
            rebuild=f"REINDEX INDEX CONCURRENTLY {qualified};"))
    return found


def leftover_scratch_databases(conn: connection) -> list[str]:
    """Scratch databases no running ``mig verify`` holds (see :func:`mig.verify.sweep`)."""
    from .scratch import unheld_scratch

    return unheld_scratch(conn)


#: The sections of a snapshot whose objects the check looks for: their presence, not their
#: definitions (a changed definition is drift, which ``mig diff`` reports). Grants, comments
#: and default privileges are left out: they name roles, which differ between servers.
COMPARED = ("schemas", "extensions", "collations", "types", "sequences", "tables", "columns",
            "constraints", "indexes", "statistics", "views", "functions", "triggers", "rules",
            "policies")
# Sections whose names are qualified by their table: left out when their table is missing.
_OF_TABLE = ("columns", "constraints", "triggers", "rules", "policies")

_INDEX_TABLES = """
SELECT n.nspname, c.relname, t.relname FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = ANY(%s)
"""


@dataclass(frozen=True)
class Expected:
    """The objects a history builds: ``objects`` maps each section of :data:`COMPARED` to the
    names in it (schema-qualified, except schemas and extensions); ``definitions`` holds each
    index's definition (the fix of a missing one), ``index_tables`` each index's table."""

    objects: dict[str, frozenset[str]]
    definitions: dict[str, str] = field(default_factory=dict)
    index_tables: dict[str, str] = field(default_factory=dict)

    @property
    def schemas(self) -> list[str]:
        """The schemas the objects are in."""
        return sorted({name.split(".", 1)[0] for section, names in self.objects.items()
                       if section not in ("schemas", "extensions") for name in names}
                      | set(self.objects.get("schemas", ())))

    def without(self, other: Expected) -> Expected:
        """These objects less those of ``other`` (what a fresh database has already)."""
        return Expected({section: names - other.objects.get(section, frozenset())
                         for section, names in self.objects.items()},
                        self.definitions, self.index_tables)

    def to_json(self) -> dict:
        """The objects as the cache stores them."""
        return {"objects": {k: sorted(v) for k, v in self.objects.items()},
                "definitions": self.definitions, "index_tables": self.index_tables}

    @classmethod
    def from_json(cls, data: dict) -> Expected:
        """The objects :meth:`to_json` stored."""
        return cls({k: frozenset(v) for k, v in data["objects"].items()},
                   dict(data["definitions"]), dict(data["index_tables"]))


def catalog_objects(conn: connection, schemas: Iterable[str] | None = None, *,
                    ignore: tuple[str, ...] = ()) -> Expected:
    """The objects of ``schemas`` (default: every schema but the system's and those an
    extension owns) that the check compares, read with :func:`mig.engine.snapshot.snapshot`
    (tracking tables, tables matching ``ignore`` and extensions' members left out), each name
    qualified by its schema. A schema that does not exist has none."""
    wanted = user_schemas(conn) if schemas is None else list(schemas)
    objects: dict[str, set[str]] = {section: set() for section in COMPARED}
    definitions: dict[str, str] = {}
    for schema in wanted or ["public"]:
        snap = snapshot(conn, schema, ignore=ignore)
        objects["schemas"].update(snap["schemas"])
        objects["extensions"].update(snap["extensions"])
        if schema not in snap["schemas"]:
            continue
        # the snapshot keys public's objects bare, every other schema's qualified already
        prefix = "public." if schema == "public" else ""
        for section in COMPARED[2:]:
            objects[section].update(f"{prefix}{name}" for name in snap[section])
        definitions.update((f"{prefix}{name}", text.split(" -- inherited from ", 1)[0])
                           for name, text in snap["indexes"].items())
    with conn.cursor() as cur:
        cur.execute(_INDEX_TABLES, (wanted,))
        index_tables = {f"{schema}.{index}": f"{schema}.{table}"
                        for schema, index, table in cur.fetchall()}
    return Expected({k: frozenset(v) for k, v in objects.items()}, definitions,
                    {k: v for k, v in index_tables.items() if k in objects["indexes"]})


@dataclass(frozen=True)
class Missing:
    """An object the applied history builds that the catalog lacks."""

    kind: str  # a word of SECTIONS: table, column, index, ...
    name: str  # schema-qualified (a column: schema.table.column)
    definition: str | None  # an index's CREATE INDEX


def missing_objects(expected: Expected, found: Expected) -> list[Missing]:
    """What ``expected`` holds and ``found`` lacks, in the order of :data:`COMPARED`. An
    object inside a missing schema, or of a missing table (its columns, constraints, indexes,
    triggers, policies), is left out: the schema's or table's own entry says it."""
    gone: dict[str, set[str]] = {section: set(names - found.objects.get(section, frozenset()))
                                 for section, names in expected.objects.items()}
    schemas = gone.get("schemas", set())
    tables = gone.get("tables", set())
    result = []
    for section in COMPARED:
        for name in sorted(gone.get(section, ())):
            if section not in ("schemas", "extensions") and name.split(".", 1)[0] in schemas:
                continue
            if section in _OF_TABLE and name.rsplit(".", 1)[0] in tables:
                continue
            if section == "indexes" and expected.index_tables.get(name) in tables:
                continue
            result.append(Missing(SECTIONS[section], name,
                                  expected.definitions.get(name) if section == "indexes"
                                  else None))
    return result


CACHE_FORMAT = 2


class ExpectedCache:
    """What builds of applied histories gave, kept in ``folder`` (one JSON file a key, the
    newest few kept). Failing to read or write an entry never fails a check: the history is
    then built again."""

    KEEP = 16

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(*parts: str) -> str:
        """The key of a build made of ``parts`` (the migrations' ids and checksums, the hooks',
        the server built on, ...)."""
        digest = hashlib.sha256(f"mig-check:{CACHE_FORMAT}".encode())
        for part in parts:
            data = part.encode()
            digest.update(len(data).to_bytes(8, "big") + data)
        return digest.hexdigest()

    def get(self, key: str) -> Expected | None:
        """The objects stored under ``key``; None when absent, unreadable or damaged."""
        try:
            data = json.loads((self.folder / f"{key}.json").read_text())
            if data.get("key") != key:
                return None
            return Expected.from_json(data["expected"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, expected: Expected) -> None:
        """Store ``expected`` under ``key``, atomically; problems are ignored."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.folder)
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump({"key": key, "expected": expected.to_json()}, out)
                os.replace(tmp, self.folder / f"{key}.json")
            except BaseException:
                os.unlink(tmp)
                raise
            entries = sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for old in entries[: max(0, len(entries) - self.KEEP)]:
                with contextlib.suppress(OSError):
                    old.unlink()
        except (OSError, ValueError, TypeError):
            return
