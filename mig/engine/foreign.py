"""Migration histories that other tools left in a database, and the user's map from their
entries to mig's migrations.

Read from their own tables, never written: sequelize-cli's ``SequelizeMeta`` (one ``name`` per
applied ``.js`` file) and ``SequelizeData`` (one per seeder run, when its ``seederStorage`` is
``sequelize``), Flyway's ``flyway_schema_history`` (versioned and repeatable scripts,
failed ones included), Alembic's ``alembic_version`` (the current head revisions only: Alembic
keeps no list of what ran), pop's ``schema_migration``, diesel's ``__diesel_schema_migrations``,
golang-migrate's ``schema_migrations`` (one row: the newest version, and whether it stopped
half-way) or dbmate's (one row per version), and yoyo's tables (mig's own ``migration_table``:
entries whose ids are not migrations on disk came from another yoyo project). A table of one
of those names without the tool's columns is refused by name, never half-read.

Which mig migration replaces which foreign entry is the user's to say, in a small YAML map
(:func:`read_map`); nothing is guessed from names. The one exception is exact: a tool whose
records are the versions its file names start with, imported with ``mig import``, which keeps
each version at the start of the id (:func:`imported_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from ..errors import ForeignHistoryUnreadable, MigError
from .connect import fetch_row

#: The tables of other migration tools, by the tool that writes them (``schema_migrations``
#: is golang-migrate's when it has a ``dirty`` column, dbmate's otherwise).
TABLES = {
    "SequelizeMeta": "sequelize-cli",
    "SequelizeData": "sequelize-cli",  # its seeders run, with seederStorage: sequelize
    "flyway_schema_history": "Flyway",
    "alembic_version": "Alembic",
    "schema_migration": "pop",
    "__diesel_schema_migrations": "diesel",
    "schema_migrations": "golang-migrate or dbmate",
}

#: The tools whose records are versions that ``mig import`` keeps at the start of the ids.
IMPORTED = {"pop", "diesel", "golang-migrate", "dbmate", "Flyway"}

#: The columns mig reads of each tool's table.
COLUMNS = {
    "sequelize-cli": ("name",),
    "Flyway": ("installed_rank", "version", "description", "type", "script", "installed_on",
               "success"),
    "Alembic": ("version_num",),
    "pop": ("version",),
    "diesel": ("version", "run_on"),
    "golang-migrate": ("version", "dirty"),
    "dbmate": ("version",),
}


@dataclass(frozen=True)
class Entry:
    """One applied entry of a foreign history: ``name`` is what the map refers to.

    ``imported_as``: for the tools whose records are the versions their file names start with
    (pop, diesel, golang-migrate, dbmate, Flyway), the migration on disk that ``mig import``
    wrote for that version, when there is one (never for a failed Flyway script).
    """

    table: str
    tool: str
    name: str
    applied_at: datetime | None = None
    note: str | None = None  # e.g. Flyway's description, or "failed"
    imported_as: str | None = None

    def to_json(self) -> dict:
        """The history as --json prints it."""
        return {"table": self.table, "tool": self.tool, "name": self.name,
                "applied_at": self.applied_at.isoformat() if self.applied_at else None,
                "note": self.note, "imported_as": self.imported_as}


def _table_exists(cur: cursor, name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(name).as_string(cur),))
    return bool(fetch_row(cur)[0])


def _columns(cur: cursor, name: str) -> dict[str, str]:
    """The columns of table ``name`` (as the search path finds it) with their types."""
    cur.execute("SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                " WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
                " ORDER BY attnum", (sql.Identifier(name).as_string(cur),))
    return {str(col): str(kind) for col, kind in cur.fetchall()}


def _tool_of(cur: cursor, table: str) -> str | None:
    """The tool whose history ``table`` holds, None when there is no such table.

    :raises ForeignHistoryUnreadable: a table of that name without the tool's columns.
    """
    if not _table_exists(cur, table):
        return None
    columns = _columns(cur, table)
    tool = TABLES[table]
    if table == "schema_migrations":
        tool = "golang-migrate" if "dirty" in columns else "dbmate"
    missing = [c for c in COLUMNS[tool] if c not in columns]
    if missing:
        expected = ("golang-migrate's (version bigint, dirty boolean) or dbmate's (version"
                    " varchar)" if table == "schema_migrations"
                    else f"{tool}'s ({', '.join(COLUMNS[tool])})")
        raise ForeignHistoryUnreadable(
            f"the table {table} is named like {expected} migration history, but it lacks the"
            f" column(s) {', '.join(missing)} (its columns: {', '.join(columns) or 'none'})",
            table=table, expected=list(COLUMNS[tool]), found=list(columns),
            hint=f"if it is no migration history, rename it (mig reads every table named"
            f" {table}); if it is one, restore the missing columns")
    return tool


def _version_key(tool: str, version: str) -> str:
    """A version as the tool compares it (golang-migrate: a number, so ``00`` is ``0``)."""
    if tool == "golang-migrate":
        return str(int(version)) if version.isdigit() else version
    return version


def _id_version(tool: str, mid: str) -> str | None:
    """The version ``mig import`` kept at the start of the id ``mid`` for ``tool``."""
    if tool == "Flyway":  # 1_1__add_column: version 1.1
        head, sep, _ = mid.partition("__")
        version = head.replace("_", ".")
        return version if sep and version.replace(".", "").isdigit() else None
    head = mid.split("_", 1)[0]
    if tool == "diesel":
        head = head.replace("-", "")
    return _version_key(tool, head) if head.isdigit() else None


def imported_ids(tool: str, versions: Iterable[str], known_ids: Iterable[str]
                 ) -> dict[str, str]:
    """Each of ``versions`` (records of ``tool``'s table) with the migration on disk that
    ``mig import`` wrote for it: the last one, in ``known_ids``' order, whose id starts with
    that version (pop may give several migrations one version). pop also counts a 14-digit
    version as the longer ones it starts with, as pop itself does for its old records."""
    by_version: dict[str, str] = {}
    legacy: dict[str, str] = {}
    for mid in known_ids:
        version = _id_version(tool, mid)
        if version is None:
            continue
        by_version[version] = mid
        if tool == "pop" and len(version) > 14:
            legacy[version[:14]] = mid
    found = {}
    for version in versions:
        key = _version_key(tool, version)
        match = by_version.get(key) or (legacy.get(key) if len(key) == 14 else None)
        if match is not None:
            found[version] = match
    return found


def read(conn: connection, *, migration_table: str, known_ids: Iterable[str]) -> list[Entry]:
    """Every foreign entry in the database ``conn`` is connected to, table by table.

    :param migration_table: yoyo's table as configured; its entries whose ids are not in
        ``known_ids`` (the migrations on disk) count as another yoyo project's.
    :raises ForeignHistoryUnreadable: a table named like a tool's history without its
        columns; golang-migrate's record of a migration that stopped half-way (``dirty``).
    """
    order = list(known_ids)
    known = set(order)
    found: list[Entry] = []
    with conn.cursor() as cur:
        if _tool_of(cur, "SequelizeMeta"):
            cur.execute('SELECT name FROM "SequelizeMeta" ORDER BY name')
            found += [Entry("SequelizeMeta", "sequelize-cli", name) for (name,) in cur.fetchall()]
        if _tool_of(cur, "SequelizeData"):
            cur.execute('SELECT name FROM "SequelizeData" ORDER BY name')
            found += [Entry("SequelizeData", "sequelize-cli", name, None, "seeder")
                      for (name,) in cur.fetchall()]
        if _tool_of(cur, "flyway_schema_history"):
            cur.execute(
                "SELECT coalesce(version, script), description, installed_on, success"
                " FROM flyway_schema_history WHERE type <> 'BASELINE' AND type <> 'SCHEMA'"
                " ORDER BY installed_rank")
            rows = cur.fetchall()
            ids = imported_ids("Flyway", [row[0] for row in rows], order)
            for name, description, at, success in rows:
                note = description if success else f"{description} (failed)"
                found.append(Entry("flyway_schema_history", "Flyway", name, at, note,
                                   ids.get(name) if success else None))
        if _tool_of(cur, "alembic_version"):
            cur.execute("SELECT version_num FROM alembic_version ORDER BY version_num")
            found += [Entry("alembic_version", "Alembic", name, None, "head revision")
                      for (name,) in cur.fetchall()]
        found += _versioned(cur, order)
        if _table_exists(cur, migration_table):
            cur.execute(sql.SQL("SELECT migration_id, applied_at_utc FROM {} ORDER BY"
                                " applied_at_utc, migration_id")
                        .format(sql.Identifier(migration_table)))
            found += [Entry(migration_table, "yoyo", mid, at, None)
                      for mid, at in cur.fetchall() if mid not in known]
    return found


def _versioned(cur: cursor, order: list[str]) -> list[Entry]:
    """The entries of pop's, diesel's, golang-migrate's and dbmate's tables, each with the
    migration imported for its version."""
    rows: list[tuple[str, str, str, datetime | None, str | None]] = []
    if _tool_of(cur, "schema_migration"):
        cur.execute("SELECT version::text FROM schema_migration")
        rows += [("schema_migration", "pop", v, None, None) for (v,) in cur.fetchall()]
    if _tool_of(cur, "__diesel_schema_migrations"):
        cur.execute("SELECT version::text, run_on FROM __diesel_schema_migrations")
        rows += [("__diesel_schema_migrations", "diesel", v, at, None)
                 for v, at in cur.fetchall()]
    tool = _tool_of(cur, "schema_migrations")
    if tool == "golang-migrate":
        cur.execute("SELECT version::text, dirty FROM schema_migrations")
        for version, dirty in cur.fetchall():
            if dirty:
                raise ForeignHistoryUnreadable(
                    f"golang-migrate's schema_migrations says version {version} is dirty: that"
                    " migration failed part-way, and golang-migrate stopped with the schema"
                    " somewhere between before and after it, so no mig migration can be said"
                    " to match it", table="schema_migrations", dirty=str(version),
                    hint=f"finish or undo migration {version} by hand, then clear the flag"
                    f" with golang-migrate ('migrate force {version}' when it is complete, or"
                    " force the version before it when undone) and run mig again")
            rows.append(("schema_migrations", tool, version, None,
                         "every version up to this one applied"))
    elif tool == "dbmate":
        cur.execute("SELECT version::text FROM schema_migrations")
        rows += [("schema_migrations", tool, v, None, None) for (v,) in cur.fetchall()]
    entries = []
    for table in dict.fromkeys(row[0] for row in rows):
        mine = [row for row in rows if row[0] == table]
        tool_name = mine[0][1]
        ids = imported_ids(tool_name, [row[2] for row in mine], order)
        mine.sort(key=lambda row: (_sort_key(tool_name, row[2]), row[2]))
        entries += [Entry(table, tool_name, version, at, note, ids.get(version))
                    for _, _, version, at, note in mine]
    return entries


def _sort_key(tool: str, version: str) -> tuple[int, str]:
    key = _version_key(tool, version)
    return (int(key), "") if tool == "golang-migrate" and key.isdigit() else (0, key)


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


def apply_map(entries: list[Entry], mapping: dict[str, dict[str, str | None]], *,
              path: str | None, known_ids: list[str], target: str) -> dict[Entry, str | None]:
    """Each foreign entry with the mig migration that replaces it (None: retired).

    An entry with an ``imported_as`` migration is replaced by it, unless the map names its
    table (the map then says it all for that table); every other entry must be in the map.

    :param path: the map file, None without one (``mapping`` is then empty).
    :param known_ids: the migrations on disk, in order; every id the map names must be one of
        them, at or before ``target``.
    :raises MigError: an entry the map does not name (listing all of them), a name in the map
        that the table lacks, a table in the map that the database lacks, or a mig id that does
        not exist or lies after ``target``.
    """
    problems: list[str] = []
    imported = {e: e.imported_as for e in entries if e.imported_as and e.table not in mapping}
    tables = {e.table for e in entries}
    for table in sorted(set(mapping) - tables):
        problems.append(f"{table}: in the map, but the database has no such history table"
                        " (or it is empty)")
    unknown = [e for e in entries if e not in imported and e.name not in mapping.get(e.table, {})]
    for e in unknown:
        where = ("not in the map" if path is not None else
                 f"no migration on disk was imported for it ({e.tool})" if e.imported_as is None
                 and e.tool in IMPORTED else "no map names it")
        problems.append(f"{e.table}: {e.name}: applied in the database, but {where}")
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
    for e, mid in imported.items():
        if mid is not None and mid in position and position[mid] > position[target]:
            problems.append(f"{e.table}: {e.name}: applied by {e.tool}, imported as {mid}, "
                            f"which comes after the baseline target {target}")
    if problems:
        where = (f"the map {path} does not fit" if path is not None
                 else "the migrations on disk do not cover")
        raise MigError(
            f"{where} the database's foreign history:\n"
            + "\n".join(f"  {p}" for p in problems),
            hint="name every applied entry once, mapped to the mig migration that replaces it "
            "(or null when none does); 'mig foreign' lists the entries; an imported history's"
            " target is the newest migration its records name",
        )
    return {e: imported[e] if e in imported else mapping[e.table][e.name] for e in entries}
