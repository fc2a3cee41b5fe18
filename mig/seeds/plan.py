"""Fixtures compared with the database's catalogue: one :class:`TablePlan` per seeded table.

Every check that can fail is made here, before anything is written: unknown tables and
columns, values of the wrong type, missing required columns, duplicate natural keys,
references that resolve neither to a fixture row nor to a database row, and cycles among
references. Problems are collected, never raised one by one.
"""

from __future__ import annotations

from typing import Any

from ..errors import SeedError, did_you_mean
from ..ordering import Cycle, stable_order
from .catalog import Column, Table, read_tables, visible_tables
from .checks import check_value, server_invalid
from .model import Fixture, Reference
from .refs import check_references, link_reference
from .rowchecks import check_duplicates, check_rows
from .tableplan import Entry, TablePlan


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
                f"unknown table {fixture.table!r}{did_you_mean(fixture.table, known)}",
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
        check_rows(plan, problems, server, server_at)
    for i in sorted(server_invalid(cur, server)):
        entry, name, secret = server_at[i]
        shown = "the value from the environment" if secret else repr(server[i][0])
        problems.append(entry.problem(
            f"wrong type for {name!r}: {shown} is not a valid {server[i][1]}", name))
        entry.refs.pop(name, None)  # not looked up in the database below
    check_duplicates(ordered, problems)
    check_references(cur, ordered, problems)
    return ordered, problems



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
                f"{did_you_mean(name, list(table.columns))}",
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
            message = f"owned: where names unknown column {name!r}" + did_you_mean(
                name, list(table.columns))
        elif any(_bad_scope_value(table.columns[name], v) for v in values):
            message = f"owned: where {name!r}: a value does not fit {table.columns[name].type}"
        else:
            continue
        problems.append(SeedError(message, file=fixture.file, line=fixture.lines.get("owned")))
    plan.fixtures.append(fixture)
    for name in fixture.fields:
        if name not in plan.fields:
            plan.fields.append(name)




def _bad_scope_value(column: Column, value: Any) -> bool:
    return check_value(column, value, []) is not None


def _same(a: Reference, b: Reference) -> bool:
    return (a.table, a.key, a.where, a.column) == (b.table, b.key, b.where, b.column)


def _load_order(plans: list[TablePlan], problems: list[SeedError]) -> list[TablePlan]:
    """Referenced tables before the tables that refer to them; ties keep file order."""
    try:
        return stable_order(plans, lambda p: p.table.oid,
                            lambda p: (lk.table.oid for lk in p.links.values()))
    except Cycle as cycle:
        names = " -> ".join(p.name for p in cycle.items)
        for p in cycle.items[:-1]:
            problems.append(SeedError(
                f"references form a cycle among tables {names}; a fixture cannot depend "
                f"on rows that depend on it", file=p.fixtures[0].file,
                line=p.fixtures[0].lines.get("references")))
        return plans
