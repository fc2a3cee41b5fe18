"""The types of a seed plan: one :class:`TablePlan` per seeded table, one :class:`Entry` per
fixture row, one :class:`Link` per reference field. Built by :mod:`mig.seeds.plan`, read by the
checks, the statements and the load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg2 import sql

from ..errors import SeedError
from .catalog import Column, Table
from .model import Fixture, Reference, Row
from .params import Params, condition

# the refs of every row of a fixture without references: one shared, never written mapping
NO_REFS: dict[str, tuple[Any, ...] | None] = {}


@dataclass(frozen=True)
class Link:
    """A :class:`Reference` resolved against the catalogue."""

    ref: Reference
    column: str  # the column of the seeded table that receives the referenced row's value
    column_info: Column
    table: Table  # the referenced table
    target: str  # its column whose value is stored (the foreign key's referenced column)
    key: tuple[Column, ...]  # its columns that a row's value matches

    def where(self, alias: str, params: Params) -> sql.Composable:
        """Conditions on the referenced row beyond its key: ``where`` and not soft-deleted."""
        parts = [condition(alias, col, v, params) for col, v in self.ref.where.items()]
        return sql.SQL(" AND ").join([*parts, self.table.live(alias)])


class Entry:
    """One fixture row, numbered across the whole run."""

    __slots__ = ("fixture", "idx", "refs", "row")

    def __init__(self, idx: int, fixture: Fixture, row: Row,
                 refs: dict[str, tuple[Any, ...] | None] | None = None) -> None:
        self.idx = idx
        self.fixture = fixture
        self.row = row
        self.refs = {} if refs is None else refs  # link field -> the referenced row's key

    def problem(self, message: str, field_name: str | None = None) -> SeedError:
        """A problem with this row, naming its file, line and key."""
        line = self.row.line_of(field_name) if field_name else self.row.line
        return SeedError(message, file=self.fixture.file, line=line,
                         key=self.fixture.key_of(self.row))


@dataclass(eq=False)
class TablePlan:
    """What is seeded into one table: its fixtures, their references and fields."""

    table: Table
    name: str  # as the first fixture spells it; the report's name for the table
    key: tuple[str, ...]  # fields
    fixtures: list[Fixture] = field(default_factory=list)
    links: dict[str, Link] = field(default_factory=dict)  # reference field -> link
    fields: list[str] = field(default_factory=list)  # every field some row sets, in order
    # Whether equal natural keys are equal in Python too (set by the duplicate check); if
    # not, the database compares the staged keys before writing.
    keys_exact: bool = False
    _entries: list[Entry] | None = None

    @property
    def entries(self) -> list[Entry]:
        """One per row, numbered in fixture order; made when first asked for (checks that run
        column by column use :meth:`values` instead)."""
        if self._entries is None:
            self._entries = []
            for fixture in self.fixtures:
                # Rows without references share one (empty, never written) refs mapping.
                shared = None if fixture.references else NO_REFS
                start = len(self._entries)
                self._entries += [Entry(start + n, fixture, row, shared)
                                  for n, row in enumerate(fixture.rows)]
        return self._entries

    @property
    def size(self) -> int:
        """How many rows all the fixtures have."""
        return sum(f.size for f in self.fixtures)

    def values(self, name: str, missing: Any = None) -> list[Any]:
        """Field ``name`` of every row, in entry order (``missing`` where a row has none)."""
        if len(self.fixtures) == 1:
            return self.fixtures[0].column(name, missing)
        return [v for f in self.fixtures for v in f.column(name, missing)]

    def entries_of(self, fixture: Fixture) -> list[Entry]:
        """The entries of one fixture."""
        start = 0
        for other in self.fixtures:
            if other is fixture:
                return self.entries[start:start + fixture.size]
            start += other.size
        return []

    def column(self, name: str) -> str:
        """The column field ``name`` fills (a reference's column for a reference field)."""
        return self.links[name].column if name in self.links else name

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The natural key's columns."""
        return tuple(self.column(f) for f in self.key)

    def nullable_key_columns(self) -> set[str]:
        """Key columns that some row sets to NULL: matched with IS NOT DISTINCT FROM."""
        nullable = set()
        for f in self.key:
            if f in self.links:
                found = any(e.refs.get(f) is None for e in self.entries)
            else:
                found = None in self.values(f)
            if found:
                nullable.add(self.column(f))
        return nullable

    def shape(self, entry: Entry) -> tuple[str, ...]:
        """The fields ``entry`` sets, in plan order."""
        return tuple(f for f in self.fields if f in entry.row.values)

    def shapes(self) -> list[tuple[tuple[str, ...], int]]:
        """Each row's shape (the fields it sets, in plan order), in entry order, as runs of
        (shape, number of rows)."""
        everywhere = tuple(self.fields)
        runs: list[tuple[tuple[str, ...], int]] = []
        for fixture in self.fixtures:
            if fixture.columns is not None:  # every row sets the same fields
                runs.append((tuple(f for f in self.fields if f in fixture.columns),
                             fixture.size))
                continue
            if all(f in fixture.fields for f in everywhere) and all(
                    len(v) == len(everywhere) for v in fixture.values):
                runs.append((everywhere, fixture.size))
                continue
            by_keys: dict[tuple[str, ...], tuple[str, ...]] = {}
            for values in fixture.values:
                keys = tuple(values)
                shape = by_keys.get(keys)
                if shape is None:
                    shape = by_keys[keys] = tuple(f for f in self.fields if f in values)
                runs.append((shape, 1))
        return runs

    @property
    def owners(self) -> list[Fixture]:
        """The fixtures that own their table's rows (prune removes the rest)."""
        return [f for f in self.fixtures if f.owned]
