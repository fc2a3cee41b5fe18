"""The seed layer's picture of a fixture file: its fields, references and rows."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .reader import Rows, Secret

NO_LINES: dict[str, int] = {}  # shared, never written to


@dataclass(frozen=True)
class Reference:
    """A field whose row value is another seeded row's natural key, e.g. ``role: owner``."""

    name: str  # the field as rows spell it
    table: str  # the referenced table
    key: tuple[str, ...]  # its columns that the value matches
    where: dict[str, Any]  # fixed conditions on the referenced row
    column: str | None  # the column of this table that is filled; None: from the foreign key
    line: int


class Row:
    """One fixture row: field (a column or a reference name) -> value, defaults merged in."""

    __slots__ = ("line", "lines", "secret_fields", "values")

    def __init__(self, values: dict[str, Any], line: int, lines: dict[str, int] = NO_LINES,
                 secret_fields: frozenset[str] = frozenset()) -> None:
        self.values = values
        self.line = line
        self.lines = lines  # the fields whose value is on another line than ``line``
        self.secret_fields = secret_fields

    def line_of(self, name: str) -> int:
        """The line of field ``name`` (the row's own line when it has none)."""
        return self.lines.get(name, self.line)


@dataclass(eq=False)
class Fixture:
    """One fixture file. Its rows are kept as they were read (``values``: one mapping per row,
    defaults merged in); :class:`Row` objects, with their lines, are made when first asked
    for, which checks that run column by column never do."""

    path: Path
    file: str  # as shown in messages
    table: str
    key: tuple[str, ...]
    row_values: list[dict[str, Any]] | None  # None: made from ``columns`` when asked for
    references: dict[str, Reference] = field(default_factory=dict)
    owned: bool = False
    owned_where: dict[str, Any] = field(default_factory=dict)
    update: bool = True
    lines: dict[str, int] = field(default_factory=dict)  # top-level field -> line
    # Reference fields whose declaration is unusable: rows are not checked against them.
    broken: set[str] = field(default_factory=set)
    source: Rows | None = None  # the rows as read: their lines
    positions: list[int] | None = None  # each row's item in ``source`` (None: the same)
    default_lines: dict[str, int] = field(default_factory=dict)
    made: dict[int, Row] = field(default_factory=dict)  # rows made while reading
    digest: str = ""  # of the file's content, with the seed cache
    # The file writes a NUL character (``\0``, ``\x00``, ... in a double-quoted string: YAML
    # has no other way); its values are then checked one by one.
    nul_escapes: bool = False
    # Where every row sets the same fields: one list of values per field, in field order.
    columns: dict[str, list[Any]] | None = None
    _rows: list[Row] | None = None

    @property
    def size(self) -> int:
        """How many rows the fixture has."""
        if self.row_values is not None:
            return len(self.row_values)
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def values(self) -> list[dict[str, Any]]:
        """Each row's values (defaults merged in)."""
        if self.row_values is None:
            assert self.columns is not None
            names = list(self.columns)
            self.row_values = [dict(zip(names, values, strict=True))
                               for values in zip(*self.columns.values(), strict=True)]
        return self.row_values

    def column(self, name: str, missing: Any = None) -> list[Any]:
        """Field ``name`` of every row (``missing`` where a row does not set it)."""
        if self.columns is not None:
            found = self.columns.get(name)
            return found if found is not None else [missing] * self.size
        return [v.get(name, missing) for v in self.values]

    def present(self, name: str) -> list[Any]:
        """The values of field ``name`` in the rows that set it."""
        if self.columns is not None:
            return self.columns.get(name, [])
        return [v[name] for v in self.values if name in v]

    @property
    def rows(self) -> list[Row]:
        """The rows, made on first use."""
        if self._rows is None:
            self._rows = [self.made.get(n) or self._row(n) for n in range(self.size)]
        return self._rows

    def _row(self, n: int) -> Row:
        assert self.source is not None
        i = n if self.positions is None else self.positions[n]
        return Row(self.values[n], self.source.lines[i],
                   row_lines(self.source.items[i], self.source.key_lines[i],
                             self.default_lines))

    @functools.cached_property
    def fields(self) -> list[str]:
        """Every field some row sets, in order of first use."""
        if self.columns is not None:
            return list(self.columns)
        return list(dict.fromkeys(itertools.chain.from_iterable(self.values)))

    @property
    def has_secrets(self) -> bool:
        """Whether any row holds a ``!secret``."""
        return any(row.secret_fields for row in self.made.values())

    def key_of(self, row: Row) -> dict[str, Any]:
        """The row's natural key, secrets masked, for messages and reports."""
        return {k: ("***" if k in row.secret_fields else row.values.get(k)) for k in self.key}


def row_lines(item: dict[Any, Any], key_lines: dict[Any, int] | None,
              default_lines: dict[str, int]) -> dict[Any, int]:
    """The lines of a row's fields that are not on the row's own line."""
    if not default_lines:
        return key_lines or NO_LINES
    lines = {k: line for k, line in default_lines.items() if k not in item}
    lines.update(key_lines or NO_LINES)
    return lines


def plain(value: Any) -> Any:
    """The value with every :class:`Secret` replaced by what it stands for."""
    if isinstance(value, Secret):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
