"""What a seed run did (or, with ``dry_run``, would do): counts per table and per-row actions."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..records import JsonRecord, only_if

MASK = "***"


@dataclass
class TableCounts(JsonRecord):
    """What a seed run did to one table (its JSON form: the four counts, in this order)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class RowAction:
    """One row of a dry run: ``insert``, ``update`` (with ``changes``), ``unchanged``, ``delete``.

    ``changes`` maps each changed field to ``(old, new)``; secret fields show ``***``.
    """

    table: str
    action: str
    key: dict[str, Any]
    file: str
    line: int | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The action as --json prints it."""
        return {
            "table": self.table, "action": self.action, "key": _jsonable(self.key),
            "file": self.file, "line": self.line,
            "changes": {k: {"old": _jsonable(o), "new": _jsonable(n)}
                        for k, (o, n) in self.changes.items()},
        }

    def describe(self) -> str:
        """The action as one line of a dry run: where, table, key, what."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.table} {format_key(self.key)}: {self.action}"
        if self.changes:
            text += " " + ", ".join(
                f"{k}: {_short(o)} -> {_short(n)}" for k, (o, n) in self.changes.items())
        return text


@dataclass
class SeedReport(JsonRecord):
    """Counts per table (in load order); ``rows`` holds per-row actions of a dry run. Its JSON
    form: ``{"tables": {name: {"inserted", "updated", "unchanged", "deleted"}}, "env",
    "dry_run", "prune", "changed", "files"}``, and a dry run's ``rows``."""

    tables: dict[str, TableCounts] = field(default_factory=dict)
    env: str | None = None
    dry_run: bool = False
    prune: bool = False
    files: list[str] = field(default_factory=list)
    rows: list[RowAction] = only_if("dry_run")

    JSON_DERIVED = {"changed": "prune"}

    @property
    def changed(self) -> bool:
        """Whether the run wrote (or a dry run would write) anything."""
        return any(c.inserted or c.updated or c.deleted for c in self.tables.values())

    def totals(self) -> TableCounts:
        """The counts of every table added up."""
        total = TableCounts()
        for counts in self.tables.values():
            total.inserted += counts.inserted
            total.updated += counts.updated
            total.unchanged += counts.unchanged
            total.deleted += counts.deleted
        return total

    def lines(self) -> list[str]:
        """The report as text: every row of a dry run with its action (unchanged rows too),
        then a line per table and a summary."""
        out = [r.describe() for r in self.rows]
        width = max((len(n) for n in self.tables), default=0)
        for name, c in self.tables.items():
            out.append(f"{name:<{width}}  {c.inserted:>6} inserted  {c.updated:>6} updated  "
                       f"{c.unchanged:>6} unchanged  {c.deleted:>6} deleted")
        t = self.totals()
        verb = "would write" if self.dry_run else "wrote"
        if not self.changed:
            summary = f"nothing to change: {t.unchanged} rows already as seeded"
        else:
            summary = (f"{verb} {t.inserted} inserted, {t.updated} updated, {t.deleted} deleted;"
                       f" {t.unchanged} unchanged")
        out.append(summary + (" (dry run: nothing was written)" if self.dry_run else ""))
        return out


def format_key(key: dict[str, Any]) -> str:
    """A natural key for messages: ``[name=value, ...]``."""
    return "[" + ", ".join(f"{k}={_short(v)}" for k, v in key.items()) + "]"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) and value == MASK else repr(_jsonable(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, dt.timedelta)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
