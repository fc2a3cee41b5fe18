"""The pieces seed statements are composed of: named query parameters, and the conditions
that match a column against a value or against references' keys."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql
from psycopg2.extras import Json


class Params(dict[str, Any]):
    """Named query parameters, added while a statement is composed."""

    def add(self, value: Any) -> sql.Placeholder:
        """Add ``value`` as a parameter (JSON for mappings and lists); returns its placeholder."""
        name = f"p{len(self)}"
        self[name] = Json(value) if isinstance(value, (dict, list)) else value
        return sql.Placeholder(name)


def condition(alias: str, column: str, value: Any, params: Params) -> sql.Composable:
    """``alias.column`` equals ``value`` (NULL-aware; a list means any of its values)."""
    ident = sql.Identifier(alias, column)
    values = value if isinstance(value, list) else [value]
    parts: list[sql.Composable] = []
    if None in values:
        parts.append(sql.SQL("{} IS NULL").format(ident))
    present = [v for v in values if v is not None]
    if present:
        items = sql.SQL(", ").join(params.add(v) for v in present)
        parts.append(sql.SQL("{} IN ({})").format(ident, items))
    return sql.SQL("({})").format(sql.SQL(" OR ").join(parts)) if parts else sql.SQL("false")


def equals(part: int, keys: list[tuple[Any, ...] | None]) -> str:
    """The operator matching part ``part`` of these reference keys: NULL-aware only if needed
    (``IS NOT DISTINCT FROM`` cannot use a hash join or an index)."""
    nulls = any(key is not None and key[part] is None for key in keys)
    return "IS NOT DISTINCT FROM" if nulls else "="
