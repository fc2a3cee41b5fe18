"""References between seeded rows: a field whose value is another row's natural key.

``role: owner`` in a ``role_permissions`` row, with ``references: {role: roles.key}``, fills
the foreign-key column (``role_id``, found in the catalogue) with the ``id`` of the live
``roles`` row whose ``key`` is ``owner``. The row may come from a fixture of this run or already
be in the database; anything else is a problem reported before writing.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import psycopg2
from psycopg2 import sql

from ..errors import SeedError
from .catalog import Table
from .checks import check_value
from .model import Fixture, Reference
from .params import Params, equals
from .tableplan import Entry, Link, TablePlan


def link_reference(table: Table, ref: Reference, tables: dict[str, Table], fixture: Fixture,
                   problems: list[SeedError]) -> Link | None:
    """``ref`` resolved against the catalogue as a :class:`Link`; None, with a problem, when it
    cannot be."""
    def fail(message: str) -> None:
        problems.append(SeedError(f"reference {ref.name!r}: {message}", file=fixture.file,
                                  line=ref.line))

    target_table = tables.get(ref.table)
    if target_table is None:
        fail(f"unknown table {ref.table!r}")
        return None
    if target_table.oid == table.oid:
        fail("a fixture cannot refer to rows of its own table; seed those in two fixtures "
             "of different tables or give the value itself")
        return None
    missing = [c for c in (*ref.key, *ref.where) if c not in target_table.columns]
    if missing:
        fail(f"table {ref.table!r} has no column {missing[0]!r}")
        return None
    for name, value in ref.where.items():
        if check_value(target_table.columns[name], value, []):
            fail(f"where {name!r}: {value!r} does not fit {target_table.columns[name].type}")
            return None
    column = ref.column or (ref.name if ref.name in table.columns else None)
    fks = [fk for fk in table.foreign_keys if fk.table_oid == target_table.oid]
    if column is None:
        if len(fks) != 1:
            found = ", ".join(fk.column for fk in fks) or "none"
            fail(f"cannot tell which column of {fixture.table!r} refers to {ref.table!r} "
                 f"(foreign keys: {found}); give it as {{table, key, column}}")
            return None
        column = fks[0].column
    if column not in table.columns:
        fail(f"table {fixture.table!r} has no column {column!r}")
        return None
    targets = [fk.target for fk in fks if fk.column == column]
    if targets:
        target = targets[0]
    elif len(target_table.primary_key) == 1:
        target = target_table.primary_key[0]
    else:
        fail(f"column {column!r} has no foreign key to {ref.table!r}, whose primary key "
             "is not a single column")
        return None
    key = tuple(target_table.columns[c] for c in ref.key)
    return Link(ref, column, table.columns[column], target_table, target, key)


def _matches(entry: Entry, link: Link) -> bool:
    values = entry.row.values
    return all(json.dumps(values.get(c), default=str) == json.dumps(v, default=str)
               for c, v in link.ref.where.items())


def check_references(cur: Any, plans: list[TablePlan], problems: list[SeedError]) -> None:
    """Each reference names exactly one row: of a fixture of this run or of the database."""
    by_oid = {p.table.oid: p for p in plans}
    for plan in plans:
        for name, link in plan.links.items():
            wanted = [e for e in plan.entries if e.refs.get(name) is not None]
            if not wanted:
                continue
            seeded: Counter[str] = Counter()
            target = by_oid.get(link.table.oid)
            for other in target.entries if target else []:
                if _matches(other, link):
                    parts = [other.row.values.get(c.name) for c in link.key]
                    seeded[json.dumps(parts, default=str)] += 1
            in_db = []
            for entry in wanted:
                found = seeded[json.dumps(list(entry.refs[name] or ()), default=str)]
                if found > 1:
                    problems.append(entry.problem(
                        f"reference {name!r} matches {found} rows of the fixtures of "
                        f"{link.table.name}; its key must name one row", name))
                elif not found:
                    in_db.append(entry)
            counts = _count_in_database(cur, link, [e.refs[name] or () for e in in_db])
            for entry, count in zip(in_db, counts, strict=True):
                shown = _shown(entry.refs[name] or ())
                if count < 0:
                    problems.append(entry.problem(
                        f"reference {name}: {shown} does not fit the key of "
                        f"{link.table.name} ({_key_names(link)})", name))
                elif count == 0:
                    problems.append(entry.problem(
                        f"unresolved reference {name}: {shown}: no {link.table.name} row with "
                        f"{_key_names(link)} = {shown} in the fixtures or the database", name))
                elif count > 1:
                    problems.append(entry.problem(
                        f"reference {name}: {shown} matches {count} rows of "
                        f"{link.table.name}; narrow it with 'where'", name))


def _shown(parts: tuple[Any, ...]) -> str:
    return repr(parts[0]) if len(parts) == 1 else repr(list(parts))


def _key_names(link: Link) -> str:
    names = [c.name for c in link.key]
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def _count_in_database(cur: Any, link: Link, keys: list[tuple[Any, ...]]) -> list[int]:
    """How many live rows of the referenced table match each key (-1: a value was refused)."""
    if not keys:
        return []
    params = Params()
    rows = [{"i": i, **{f"k{n}": v for n, v in enumerate(key)}} for i, key in enumerate(keys)]
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f"k{n}"), sql.SQL(c.type))
        for n, c in enumerate(link.key))
    match = sql.SQL(" AND ").join(
        sql.SQL("r.{} {} x.{}").format(sql.Identifier(c.name), sql.SQL(equals(n, list(keys))),
                                       sql.Identifier(f"k{n}"))
        for n, c in enumerate(link.key))
    query = sql.SQL(
        "SELECT x.i, count(r.*) FROM jsonb_to_recordset({rows}) AS x(i int, {columns}) "
        "LEFT JOIN {table} AS r ON {match} AND {where} GROUP BY x.i"
    ).format(rows=params.add(rows), columns=columns, table=link.table.ident, match=match,
             where=link.where("r", params))
    cur.execute("SAVEPOINT mig_seed_lookup")
    try:
        cur.execute(query, params)
    except psycopg2.DataError:
        # A value its type refuses (only possible before PostgreSQL 16, which checks first).
        cur.execute("ROLLBACK TO SAVEPOINT mig_seed_lookup")
        return [-1] * len(keys)
    counts = dict(cur.fetchall())
    cur.execute("RELEASE SAVEPOINT mig_seed_lookup")
    return [counts.get(i, 0) for i in range(len(keys))]
