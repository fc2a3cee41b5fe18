"""Row checks of one table's plan: fields, types, required columns and duplicate keys.

A fixture is first checked column by column: each field's values are judged at once (their
Python types, lengths, ranges; see :func:`~mig.seeds.checks.quick_check`), which is how
10,000 rows cost milliseconds. Only a fixture where that finds something to report (or a
value it cannot judge at once) is checked row by row, by the code that words the messages;
so every message, with its file and line, is the same either way.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any

from ..errors import SeedError, did_you_mean
from .catalog import SOFT_DELETE_COLUMN, Column, Table
from .checks import NUL_PROBLEM, check_value, exact_key, key_form, quick_check
from .model import Fixture, plain
from .reader import has_secret
from .tableplan import Entry, Link, TablePlan

_SIMPLE = {str, int, float, bool, type(None)}
Server = list[tuple[str, str]]  # (text, type) for the server's input functions
ServerAt = list[tuple[Entry, str, bool]]  # the entry, field and secrecy of each


def check_rows(plan: TablePlan, problems: list[SeedError], server: Server,
               server_at: ServerAt) -> None:
    """Check every row of ``plan``: fields, types, required columns (problems collected)."""
    for fixture in plan.fixtures:
        if not _quick(plan, fixture, problems, server, server_at):
            _row_by_row(plan, plan.entries_of(fixture), problems, server, server_at)


def _quick(plan: TablePlan, fixture: Fixture, problems: list[SeedError], server: Server,
           server_at: ServerAt) -> bool:
    """Check the fixture's rows column by column; False: nothing was recorded, go row by row."""
    if fixture.nul_escapes:
        return False  # a value may hold a NUL character: each is looked at
    table = plan.table
    if fixture.columns is not None:
        counts = collections.Counter(dict.fromkeys(fixture.columns, fixture.size))
    else:
        counts = collections.Counter(itertools.chain.from_iterable(fixture.values))
    covered: dict[str, str] = {}
    links: list[str] = []
    checks: list[tuple[str, bool]] = []  # (field, its values go to the server)
    for name in counts:
        if name in fixture.broken:
            continue
        if name in fixture.references:
            if name in plan.links:
                links.append(name)
            column_name = fixture.references[name].column or plan.column(name)
        elif name in table.columns:
            column = table.columns[name]
            if column.generated or column.identity == "a" or name == SOFT_DELETE_COLUMN:
                return False
            values = fixture.present(name)
            verdict = quick_check(column, values)
            if verdict is None:
                return False
            checks.append((name, verdict))
            column_name = name
        else:
            return False  # an unknown column
        if column_name in covered:
            return False
        covered[column_name] = name
    if not fixture.broken:
        key_columns = set(plan.key_columns)
        for column in table.columns.values():
            if column.required and column.name not in key_columns and (
                    counts[covered.get(column.name, "")] < fixture.size):
                return False
    entries = plan.entries_of(fixture) if links or any(s for _, s in checks) else []
    for name, to_server in checks:
        if to_server:
            for entry in entries:
                value = entry.row.values.get(name)
                if value is not None:
                    server.append((str(value), table.columns[name].type))
                    server_at.append((entry, name, False))
    if links:
        for entry in entries:
            for name in entry.row.values:
                if name in plan.links and name in fixture.references:
                    _check_link_value(entry, name, plan.links[name], entry.row.values[name],
                                      problems, server, server_at)
    return True


def _row_by_row(plan: TablePlan, entries: list[Entry], problems: list[SeedError],
                server: Server, server_at: ServerAt) -> None:
    table = plan.table
    required = [c for c in table.columns.values() if c.required]
    key_columns = set(plan.key_columns)  # a row without its key is reported when read
    for entry in entries:
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
                hint = did_you_mean(name, [*table.columns, *entry.fixture.references])
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



def _column_problem(table: Table, column: Column, value: Any, server: Server) -> str | None:
    if column.generated:
        return f"column {column.name!r} is generated by the database and cannot be seeded"
    if column.identity == "a":
        return f"column {column.name!r} is GENERATED ALWAYS AS IDENTITY and cannot be seeded"
    if column.name == SOFT_DELETE_COLUMN:
        return f"column {column.name!r} is set by --prune, not by fixtures"
    if plain(value) is None:
        return f"column {column.name!r} cannot be null" if column.not_null else None
    message = check_value(column, value, server)
    if message == NUL_PROBLEM:  # a character no column stores, not a wrong type
        return f"column {column.name!r} ({column.type}): {message}"
    return f"wrong type for column {column.name!r} ({column.type}): {message}" if message else None


def _check_link_value(entry: Entry, name: str, link: Link, value: Any,
                      problems: list[SeedError], server: Server, server_at: ServerAt) -> None:
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
        if message == NUL_PROBLEM:
            problems.append(entry.problem(f"reference {name!r}: {message}", name))
            return
        if message:
            problems.append(entry.problem(
                f"wrong type for reference {name!r} ({link.table.name}.{column.name}, "
                f"{column.type}): {message}", name))
            return
        server_at += [(entry, name, False)] * (len(server) - start)
    entry.refs[name] = tuple(parts)


def check_duplicates(plans: list[TablePlan], problems: list[SeedError]) -> None:
    """Rows of a table with the same natural key, compared as the key's columns store the
    values (:func:`~mig.seeds.checks.key_form`): a secret and the text it stands for, a YAML
    date and its ISO text are one key. A message never shows a secret's value.

    Sets each plan's ``keys_exact``: whether this comparison is the database's own; where it
    is not, the staged rows are compared by the database before writing.
    """
    for plan in plans:
        columns = {name: _key_column(plan, name) for name in plan.key}
        parts = [[v for f in plan.fixtures for v in f.present(name)] for name in plan.key]
        plan.keys_exact = all(exact_key(columns[name], set(map(type, values)))
                              for name, values in zip(plan.key, parts, strict=True))
        if plan.keys_exact and _distinct(plan, parts):
            continue
        seen: dict[tuple[Any, ...], Entry] = {}
        for entry in plan.entries:
            values = entry.row.values
            if any(f not in values or _unset_secret(values[f]) for f in plan.key):
                continue  # reported when read
            natural = tuple(_key_part(plan, entry, f, columns[f]) for f in plan.key)
            first = seen.setdefault(natural, entry)
            if first is not entry:
                problems.append(entry.problem(
                    f"duplicate key in table {plan.name}: the same row is at "
                    f"{first.fixture.file}:{first.row.line}"))


def _key_column(plan: TablePlan, name: str) -> Column | None:
    """The column a one-column key field's values are read as (None: unknown)."""
    link = plan.links.get(name)
    if link is not None:
        return link.key[0] if len(link.key) == 1 else None
    return plan.table.columns.get(name)


def _key_part(plan: TablePlan, entry: Entry, name: str, column: Column | None) -> Any:
    link = plan.links.get(name)
    parts = entry.refs.get(name) if link is not None else None
    if link is not None and parts is not None:
        return tuple(key_form(c, p) for c, p in zip(link.key, parts, strict=True))
    return key_form(column, entry.row.values[name])


def _unset_secret(value: Any) -> bool:
    return type(value) not in _SIMPLE and has_secret(value) and plain(value) is None


def _distinct(plan: TablePlan, parts: list[list[Any]]) -> bool:
    """True when no two rows share a key, given that every key field's values (``parts``)
    compare in Python as their columns compare them."""
    if not all(len(values) == plan.size for values in parts):
        return False  # a key field missing: reported when read
    keys: list[Any] = parts[0] if len(parts) == 1 else list(zip(*parts, strict=True))
    return len(set(keys)) == len(keys)
