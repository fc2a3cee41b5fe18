"""Rows as ``COPY ... FROM STDIN`` text: one tab-separated line per row, built column by column.

Values are written as the column's input function reads them, which is how
``jsonb_to_recordset`` read the same values: text as is, numbers in Python's notation,
booleans as ``t``/``f``, dates in ISO 8601, lists as array literals for array columns and any
value as JSON for ``json``/``jsonb`` columns; ``\\N`` is NULL (and a field the row does not set).
A column whose values are all plain strings or whole numbers costs one pass in C.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .model import plain
from .reader import Secret

NULL = "\\N"
MISSING = object()  # the row does not set the field
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SPECIAL = re.compile(r"[\\\n\r\t]")
_JSON_TYPES = {"json", "jsonb"}


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to the database")


def dump_json(value: Any) -> str:
    """``value`` as JSON the server reads the same (dates as ISO text)."""
    return json.dumps(value, default=_json_default)


def escape(text: str) -> str:
    """``text`` escaped for ``COPY``'s text format."""
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], text)


def column(values: list[Any], *, typname: str, array: bool) -> list[str]:
    """Each value of one column as COPY text (escaped)."""
    as_json = typname in _JSON_TYPES
    if not as_json and not array:
        kinds = set(map(type, values))
        if kinds == {str}:
            return [escape(v) for v in values] if _SPECIAL.search("".join(values)) else values
        if kinds == {int}:
            return list(map(str, values))
    return [_field(v, as_json=as_json, array=array) for v in values]


def _field(value: Any, *, as_json: bool, array: bool) -> str:
    if value is MISSING:
        return NULL
    if type(value) is Secret:
        value = value.value
    if value is None:
        return NULL
    if as_json:
        return escape(dump_json(plain(value)))
    if array and isinstance(value, list):
        return escape(_array(plain(value)))
    return escape(_scalar(plain(value)))


def _scalar(value: Any) -> str:
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    if isinstance(value, (dict, list)):
        return dump_json(value)
    return str(value)


def _array(items: list[Any]) -> str:
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(_array(item))
        else:
            text = _scalar(item)
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def rows(columns: list[list[str]]) -> str:
    """The COPY text of rows given as columns of escaped fields."""
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n" if columns[0] else ""
