"""Fixtures compared with the database's catalogue: one :class:`TablePlan` per seeded table.

Every check that can fail is made here, before anything is written: unknown tables and
columns, values of the wrong type, missing required columns, duplicate natural keys,
references that resolve neither to a fixture row nor to a database row, and cycles among
references. Problems are collected, never raised one by one.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import SeedError
from .catalog import SOFT_DELETE_COLUMN, Column, Table, read_tables, visible_tables
from .checks import check_value, server_invalid
from .files import Fixture, Reference, Row, plain
from .refs import Link, check_references, link_reference


@dataclass
class Entry:
    """One fixture row, numbered across the whole run."""

    idx: int
    fixture: Fixture
    row: Row
    refs: dict[str, tuple[Any, ...] | None] = field(default_factory=dict)  # link field -> key

    def problem(self, message: str, field_name: str | None = None) -> SeedError:
        line = self.row.lines.get(field_name, self.row.line) if field_name else self.row.line
        return SeedError(message, file=self.fixture.file, line=line,
                         key=self.fixture.key_of(self.row))


@dataclass
class TablePlan:
    table: Table
    name: str  # as the first fixture spells it; the report's name for the table
    key: tuple[str, ...]  # fields
    fixtures: list[Fixture] = field(default_factory=list)
    links: dict[str, Link] = field(default_factory=dict)  # reference field -> link
    fields: list[str] = field(default_factory=list)  # every field some row sets, in order
    entries: list[Entry] = field(default_factory=list)

    def column(self, name: str) -> str:
        return self.links[name].column if name in self.links else name

    @property
    def key_columns(self) -> tuple[str, ...]:
        return tuple(self.column(f) for f in self.key)

    def nullable_key_columns(self) -> set[str]:
        """Key columns that some row sets to NULL: matched with IS NOT DISTINCT FROM."""
        return {
            self.column(f) for f in self.key for e in self.entries
            if (e.refs.get(f) if f in self.links else e.row.values.get(f)) is None
        }

    def shape(self, entry: Entry) -> tuple[str, ...]:
        return tuple(f for f in self.fields if f in entry.row.values)

    @property
    def owners(self) -> list[Fixture]:
        return [f for f in self.fixtures if f.owned]


def build_plans(cur: Any, fixtures: list[Fixture]) -> tuple[list[TablePlan], list[SeedError]]:
    """The plans in load order (references first), and every problem found."""
    names = sorted({f.table for f in fixtures}
                   | {r.table for f in fixtures for r in f.references.values()})
    tables = read_tables(cur, names) if names else {}
    problems: list[SeedError] = []
    plans: dict[int, TablePlan] = {}
    known: list[str] | None = None
    for fixture in fixtures:
        table = tables.get(fixture.table)
        if table is None:
            known = visible_tables(cur) if known is None else known
            problems.append(SeedError(
                f"unknown table {fixture.table!r}{_suggest(fixture.table, known)}",
                file=fixture.file, line=fixture.lines.get("table")))
            continue
        plan = plans.setdefault(table.oid, TablePlan(table, fixture.table, fixture.key))
        if plan.key != fixture.key:
            first = plan.fixtures[0] if plan.fixtures else fixture
            problems.append(SeedError(
                f"key {list(fixture.key)} differs from key {list(plan.key)} of the same table "
                f"in {first.file}", file=fixture.file, line=fixture.lines.get("key")))
            continue
        _add_fixture(plan, fixture, tables, problems)
    ordered = _load_order(list(plans.values()), problems)
    server: list[tuple[str, str]] = []
    server_at: list[tuple[Entry, str, bool]] = []
    for plan in ordered:
        _check_rows(plan, problems, server, server_at)
    for i in sorted(server_invalid(cur, server)):
        entry, name, secret = server_at[i]
        shown = "the value from the environment" if secret else repr(server[i][0])
        problems.append(entry.problem(
            f"wrong type for {name!r}: {shown} is not a valid {server[i][1]}", name))
        entry.refs.pop(name, None)  # not looked up in the database below
    _check_duplicates(ordered, problems)
    check_references(cur, ordered, problems)
    return ordered, problems


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _add_fixture(plan: TablePlan, fixture: Fixture, tables: dict[str, Table],
                 problems: list[SeedError]) -> None:
    table = plan.table
    for ref in fixture.references.values():
        link = link_reference(table, ref, tables, fixture, problems)
        if link is None:
            fixture.broken.add(ref.name)
            continue
        earlier = plan.links.get(ref.name)
        if earlier is not None and _same(earlier.ref, ref) is False:
            problems.append(SeedError(
                f"reference {ref.name!r} differs from the one of the same table in "
                f"{plan.fixtures[0].file}", file=fixture.file, line=ref.line))
        plan.links.setdefault(ref.name, link)
    for name in fixture.key:
        if name not in table.columns and name not in {*fixture.references, *fixture.broken}:
            problems.append(SeedError(
                f"key field {name!r} is neither a column of {plan.name} nor a reference"
                f"{_suggest(name, list(table.columns))}",
                file=fixture.file, line=fixture.lines.get("key")))
    for name, value in fixture.owned_where.items():
        values = value if isinstance(value, list) else [value]
        if name in fixture.broken:
            continue
        if name in fixture.references:
            if len(fixture.references[name].key) == 1:
                continue
            message = f"owned: where on reference {name!r} needs a one-column reference key"
        elif name not in table.columns:
            message = f"owned: where names unknown column {name!r}" + _suggest(
                name, list(table.columns))
        elif any(_bad_scope_value(table.columns[name], v) for v in values):
            message = f"owned: where {name!r}: a value does not fit {table.columns[name].type}"
        else:
            continue
        problems.append(SeedError(message, file=fixture.file, line=fixture.lines.get("owned")))
    plan.fixtures.append(fixture)
    for row in fixture.rows:
        plan.entries.append(Entry(len(plan.entries), fixture, row))
        for name in row.values:
            if name not in plan.fields:
                plan.fields.append(name)


def _bad_scope_value(column: Column, value: Any) -> bool:
    return check_value(column, value, []) is not None


def _same(a: Reference, b: Reference) -> bool:
    return (a.table, a.key, a.where, a.column) == (b.table, b.key, b.where, b.column)


def _check_rows(plan: TablePlan, problems: list[SeedError], server: list[tuple[str, str]],
                server_at: list[tuple[Entry, str, bool]]) -> None:
    table = plan.table
    required = [c for c in table.columns.values() if c.required]
    key_columns = set(plan.key_columns)  # a row without its key is reported when read
    for entry in plan.entries:
        links = {n: plan.links[n] for n in entry.fixture.references if n in plan.links}
        covered: dict[str, str] = {}
        for name, value in entry.row.values.items():
            secret = name in entry.row.secret_fields
            if name in entry.fixture.broken:
                continue
            if name in entry.fixture.references:
                if name in links:
                    _check_link_value(entry, name, links[name], value, problems, server,
                                      server_at)
                column_name = entry.fixture.references[name].column or (
                    links[name].column if name in links else name)
            elif name in table.columns:
                column_name = name
                column = table.columns[name]
                start = len(server)
                message = _column_problem(table, column, value, server)
                if message:
                    problems.append(entry.problem(f"{message}", name))
                server_at += [(entry, name, secret)] * (len(server) - start)
            else:
                hint = _suggest(name, [*table.columns, *entry.fixture.references])
                if not hint and (" " in name or value is None):
                    hint = " (an unquoted comma inside {...} splits a value: quote the value)"
                problems.append(entry.problem(
                    f"unknown column {name!r} in table {plan.name}{hint}", name))
                continue
            if column_name in covered:
                problems.append(entry.problem(
                    f"fields {covered[column_name]!r} and {name!r} both set column "
                    f"{column_name!r}", name))
            covered[column_name] = name
        for column in required if not entry.fixture.broken else []:
            if column.name not in covered and column.name not in key_columns:
                problems.append(entry.problem(
                    f"missing required column {column.name!r} ({column.type} NOT NULL, "
                    f"no default) in table {plan.name}"))


def _column_problem(table: Table, column: Column, value: Any,
                    server: list[tuple[str, str]]) -> str | None:
    if column.generated:
        return f"column {column.name!r} is generated by the database and cannot be seeded"
    if column.identity == "a":
        return f"column {column.name!r} is GENERATED ALWAYS AS IDENTITY and cannot be seeded"
    if column.name == SOFT_DELETE_COLUMN:
        return f"column {column.name!r} is set by --prune, not by fixtures"
    if plain(value) is None:
        return f"column {column.name!r} cannot be null" if column.not_null else None
    message = check_value(column, value, server)
    return f"wrong type for column {column.name!r} ({column.type}): {message}" if message else None


def _check_link_value(entry: Entry, name: str, link: Link, value: Any,
                      problems: list[SeedError], server: list[tuple[str, str]],
                      server_at: list[tuple[Entry, str, bool]]) -> None:
    value = plain(value)
    if value is None:
        entry.refs[name] = None
        if link.column_info.not_null:
            problems.append(entry.problem(f"reference {name!r} cannot be null", name))
        return
    key = link.key
    if len(key) == 1 and not isinstance(value, (list, dict)):
        parts: list[Any] = [value]
    elif isinstance(value, dict) and set(value) == {c.name for c in key}:
        parts = [value[c.name] for c in key]
    elif isinstance(value, list) and len(value) == len(key):
        parts = list(value)
    else:
        cols = ", ".join(c.name for c in key)
        problems.append(entry.problem(
            f"reference {name!r} takes {'a value' if len(key) == 1 else 'a mapping'} of "
            f"{link.table.name}.({cols})", name))
        return
    for column, part in zip(key, parts, strict=True):
        start = len(server)
        message = check_value(column, part, server) if part is not None else None
        if message:
            problems.append(entry.problem(
                f"wrong type for reference {name!r} ({link.table.name}.{column.name}, "
                f"{column.type}): {message}", name))
            return
        server_at += [(entry, name, False)] * (len(server) - start)
    entry.refs[name] = tuple(parts)


def canonical(value: Any) -> Any:
    """A hashable stand-in for a value: equal for equal YAML values (1 and True differ)."""
    if value is None or type(value) in (str, int, float, bool):
        return (type(value).__name__, value)
    return json.dumps(plain(value), sort_keys=True, default=str)


def _check_duplicates(plans: list[TablePlan], problems: list[SeedError]) -> None:
    for plan in plans:
        seen: dict[tuple[Any, ...], Entry] = {}
        for entry in plan.entries:
            if any(f not in entry.row.values for f in plan.key):
                continue
            natural = tuple(canonical(entry.row.values[f]) for f in plan.key)
            first = seen.setdefault(natural, entry)
            if first is not entry:
                problems.append(entry.problem(
                    f"duplicate key in table {plan.name}: the same row is at "
                    f"{first.fixture.file}:{first.row.line}"))


def _load_order(plans: list[TablePlan], problems: list[SeedError]) -> list[TablePlan]:
    """Referenced tables before the tables that refer to them; ties keep file order."""
    by_oid = {p.table.oid: p for p in plans}
    needs = {p.table.oid: {lk.table.oid for lk in p.links.values()
                           if lk.table.oid in by_oid and lk.table.oid != p.table.oid}
             for p in plans}
    ordered: list[TablePlan] = []
    while len(ordered) < len(plans):
        done = {p.table.oid for p in ordered}
        ready = [p for p in plans if p.table.oid not in done and needs[p.table.oid] <= done]
        if not ready:
            stuck = [p for p in plans if p.table.oid not in done]
            cycle = " -> ".join(p.name for p in stuck)
            for p in stuck:
                problems.append(SeedError(
                    f"references form a cycle among tables {cycle}; a fixture cannot depend "
                    f"on rows that depend on it", file=p.fixtures[0].file,
                    line=p.fixtures[0].lines.get("references")))
            return ordered + stuck
        ordered.append(ready[0])
    return ordered
