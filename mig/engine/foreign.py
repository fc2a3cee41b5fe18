"""Migration histories that other tools left in a database, and the user's map from their
entries to mig's migrations.

Read from their own tables, never written: sequelize-cli's ``SequelizeMeta`` (one ``name`` per
applied ``.js`` file), Flyway's ``flyway_schema_history`` (versioned and repeatable scripts,
failed ones included), Alembic's ``alembic_version`` (the current head revisions only: Alembic
keeps no list of what ran) and yoyo's tables (mig's own ``migration_table``: entries whose ids
are not migrations on disk came from another yoyo project).

Which mig migration replaces which foreign entry is the user's to say, in a small YAML map
(:func:`read_map`); nothing is guessed from names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from ..errors import MigError
from .connect import fetch_row

#: The tables of other migration tools, by the tool that writes them.
TABLES = {
    "SequelizeMeta": "sequelize-cli",
    "flyway_schema_history": "Flyway",
    "alembic_version": "Alembic",
}


@dataclass(frozen=True)
class Entry:
    """One applied entry of a foreign history: ``name`` is what the map refers to."""

    table: str
    tool: str
    name: str
    applied_at: datetime | None = None
    note: str | None = None  # e.g. Flyway's description, or "failed"

    def to_json(self) -> dict:
        """The history as --json prints it."""
        return {"table": self.table, "tool": self.tool, "name": self.name,
                "applied_at": self.applied_at.isoformat() if self.applied_at else None,
                "note": self.note}


def _table_exists(cur: cursor, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(name).as_string(cur),))
    return bool(fetch_row(cur)[0])


def read(conn: connection, *, migration_table: str, known_ids: Iterable[str]) -> list[Entry]:
    """Every foreign entry in the database ``conn`` is connected to, table by table.

    :param migration_table: yoyo's table as configured; its entries whose ids are not in
        ``known_ids`` (the migrations on disk) count as another yoyo project's.
    """
    known = set(known_ids)
    found: list[Entry] = []
    with conn.cursor() as cur:
        if _table_exists(cur, "SequelizeMeta"):
            cur.execute('SELECT name FROM "SequelizeMeta" ORDER BY name')
            found += [Entry("SequelizeMeta", "sequelize-cli", name) for (name,) in cur.fetchall()]
        if _table_exists(cur, "flyway_schema_history"):
            cur.execute(
                "SELECT coalesce(version, script), description, installed_on, success"
                " FROM flyway_schema_history WHERE type <> 'BASELINE' AND type <> 'SCHEMA'"
                " ORDER BY installed_rank")
            for name, description, at, success in cur.fetchall():
                note = description if success else f"{description} (failed)"
                found.append(Entry("flyway_schema_history", "Flyway", name, at, note))
        if _table_exists(cur, "alembic_version"):
            cur.execute("SELECT version_num FROM alembic_version ORDER BY version_num")
            found += [Entry("alembic_version", "Alembic", name, None, "head revision")
                      for (name,) in cur.fetchall()]
        if _table_exists(cur, migration_table):
            cur.execute(sql.SQL("SELECT migration_id, applied_at_utc FROM {} ORDER BY"
                                " applied_at_utc, migration_id")
                        .format(sql.Identifier(migration_table)))
            found += [Entry(migration_table, "yoyo", mid, at, None)
                      for mid, at in cur.fetchall() if mid not in known]
    return found


def read_map(path: Path) -> dict[str, dict[str, str | None]]:
    """The user's map: ``{table: {foreign entry name: mig migration id, or null}}``.

    ``null`` says the entry has no counterpart in mig (a seed script, a fix folded into an
    earlier migration): the baseline retires it. The YAML looks like::

        SequelizeMeta:
          20260128104444-add_initial_users_table.js: 20260128_104444_users
          20260205093000-fix-users-email-unique.js: 20260128_104444_users

    :raises MigError: the file cannot be read, or is not a mapping of mappings of names.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MigError(f"cannot read the map {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise MigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}",
                       hint="see docs/adopt.md for the map's format") from None
    if not isinstance(data, dict):
        raise MigError(f"{path}: expected a mapping of history tables (e.g. SequelizeMeta:) to "
                       "their entries", hint="see docs/adopt.md for the map's format")
    result: dict[str, dict[str, str | None]] = {}
    for table, entries in data.items():
        if not isinstance(entries, dict):
            raise MigError(f"{path}: {table}: expected a mapping of entry names to mig "
                           "migration ids (or null)", hint="see docs/adopt.md")
        result[str(table)] = {}
        for name, target in entries.items():
            if target is not None and not isinstance(target, str):
                raise MigError(f"{path}: {table}: {name}: expected a mig migration id or null,"
                               f" not {target!r}")
            result[str(table)][str(name)] = target
    return result


def apply_map(entries: list[Entry], mapping: dict[str, dict[str, str | None]], *, path: str,
              known_ids: list[str], target: str) -> dict[Entry, str | None]:
    """Each foreign entry with the mig migration that replaces it (None: retired).

    :param known_ids: the migrations on disk, in order; every id the map names must be one of
        them, at or before ``target``.
    :raises MigError: an entry the map does not name (listing all of them), a name in the map
        that the table lacks, a table in the map that the database lacks, or a mig id that does
        not exist or lies after ``target``.
    """
    problems: list[str] = []
    tables = {e.table for e in entries}
    for table in sorted(set(mapping) - tables):
        problems.append(f"{table}: in the map, but the database has no such history table"
                        " (or it is empty)")
    unknown = [e for e in entries if e.name not in mapping.get(e.table, {})]
    for e in unknown:
        problems.append(f"{e.table}: {e.name}: applied in the database, but not in the map")
    for table, names in mapping.items():
        present = {e.name for e in entries if e.table == table}
        if table not in tables:
            continue
        for name in sorted(set(names) - present):
            problems.append(f"{table}: {name}: in the map, but not in {table}")
    position = {mid: index for index, mid in enumerate(known_ids)}
    for table, names in mapping.items():
        for name, mid in names.items():
            if mid is None:
                continue
            if mid not in position:
                problems.append(f"{table}: {name}: maps to {mid}, which is no migration on disk")
            elif position[mid] > position[target]:
                problems.append(f"{table}: {name}: maps to {mid}, which comes after the "
                                f"baseline target {target}")
    if problems:
        raise MigError(
            f"the map {path} does not fit the database's foreign history:\n"
            + "\n".join(f"  {p}" for p in problems),
            hint="name every applied entry once, mapped to the mig migration that replaces it "
            "(or null when none does); 'mig foreign' lists the entries",
        )
    return {e: mapping[e.table][e.name] for e in entries}
