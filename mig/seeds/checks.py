"""Does a YAML value fit a column? Checked in Python where the type is plain, on the server else.

YAML gives str, int, float, bool, None, date/datetime, lists and mappings. Each column type
accepts the YAML shapes that say the same thing; a string for a type Python cannot judge
(inet, interval, a timestamp spelled as text, ...) is handed to ``pg_input_is_valid`` in one
query for all rows (PostgreSQL 16+; older servers report such a value when the row is written).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from .catalog import Column
from .model import plain
from .reader import Secret, has_secret

_PLAIN = {str, int, float, bool}
INT_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
FLOATS = {"float4", "float8", "numeric", "money"}
JSON_TYPES = {"json", "jsonb"}
YAML_BOOL_HINT = (
    " (YAML reads unquoted yes/no/on/off/true/false as booleans: quote the value)"
)


def describe(value: Any, *, secret: bool = False) -> str:
    """A value for a message: its kind and, unless secret, the value itself."""
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "mapping", dt.date: "date", dt.datetime: "timestamp"}.get(type(value), "value")
    if secret or value is None or isinstance(value, (list, dict)):
        return "null" if value is None and not secret else f"a {kind}"
    return f"{value!r} ({kind})"


NUL_PROBLEM = "the value holds a NUL character (\\0), which PostgreSQL cannot store"


def has_nul(value: Any) -> bool:
    """Whether a string in ``value`` (a mapping's keys too) holds the NUL character, which
    neither text nor json(b) can store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def check_value(column: Column, value: Any, server: list[tuple[str, str]]) -> str | None:
    """Why ``value`` cannot go into ``column`` (None: it can, or the server will tell).

    Strings only the server can judge are appended to ``server`` as (text, type). A value
    holding a NUL character gets :data:`NUL_PROBLEM`, whatever the column.
    """
    if value is None:
        return None
    secret = False
    if type(value) not in _PLAIN:
        secret = has_secret(value)
        value = plain(value)
        if value is None:
            return None
        if has_nul(value):
            return NUL_PROBLEM
    elif type(value) is str and "\x00" in value:
        return NUL_PROBLEM
    if column.typname in JSON_TYPES:
        return None
    if column.category == "A":
        if not isinstance(value, list):
            return f"expected a list, got {describe(value, secret=secret)}"
        elem = Column(column.name, column.elem_type or "text", column.elem_category or "S",
                      column.elem_typname or "text", not_null=False, has_default=False,
                      identity="", generated="", labels=column.labels)
        for item in value:
            problem = check_value(elem, item, server)
            if problem:
                return f"list item: {problem}"
        return None
    problem = _scalar(column, value, server)
    if problem and secret:
        return f"the value from the environment does not fit {column.type}"
    return problem


def _scalar(column: Column, value: Any, server: list[tuple[str, str]]) -> str | None:
    cat, name = column.category, column.typname
    if cat == "S" and type(value) is str:  # the common case first
        limit = column.max_length
        if limit is not None and len(value) > limit:
            return f"{len(value)} characters do not fit {column.type}"
        return None
    got = describe(value)
    if isinstance(value, (list, dict)):
        return f"expected a single {column.type} value, got {got}"
    if cat == "B":
        return None if isinstance(value, bool) else f"expected true or false, got {got}"
    if name in INT_RANGES:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"expected a whole number, got {got}"
        bound = INT_RANGES[name]
        ok = -bound <= value < bound
        return None if ok else f"{value} is out of range for {column.type}"
    if name in FLOATS:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        return f"expected a number, got {got}"
    if cat == "S":
        if not isinstance(value, str):
            hint = YAML_BOOL_HINT if isinstance(value, bool) else " (quote the value)"
            return f"expected a string, got {got}{hint}"
        limit = column.max_length
        if limit is not None and len(value) > limit:
            return f"{len(value)} characters do not fit {column.type}"
        return None
    if cat == "E":
        if isinstance(value, str) and value in column.labels:
            return None
        return f"expected one of {', '.join(column.labels)}, got {got}"
    if name == "uuid":
        return None if _is_uuid(value) else f"expected a UUID, got {got}"
    if cat == "D":
        if isinstance(value, (dt.date, dt.datetime)):
            return None
        if isinstance(value, str):
            server.append((value, column.type))
            return None
        return f"expected a date or timestamp, got {got}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return f"expected a {column.type} value written as a string, got {got}"
    server.append((str(value), column.type))
    return None


_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_NUMBERS = {int, float}


def quick_check(column: Column, values: list[Any]) -> bool | None:
    """All of one column's values judged at once, as :func:`check_value` would judge each.

    None: some value needs a closer look (it may be wrong: check each with check_value);
    True: every value is fine but the non-null ones go to the server (``str(value)``);
    False: every value is fine.
    """
    kinds = set(map(type, values))
    if type(None) in kinds:
        if column.not_null:
            return None
        kinds.discard(type(None))
        values = [v for v in values if v is not None]
    if not kinds:
        return False
    cat, name = column.category, column.typname
    if name in JSON_TYPES:
        return None if Secret in kinds else False
    if cat == "A" or not kinds <= _PLAIN | {dt.date, dt.datetime}:
        return None
    if kinds == {str}:
        if cat == "S":
            limit = column.max_length
            return None if limit is not None and max(map(len, values)) > limit else False
        if cat == "E":
            return False if set(values) <= set(column.labels) else None
        if name == "uuid":
            return False if all(map(_UUID.fullmatch, values)) else None
        if cat == "B" or name in INT_RANGES or name in FLOATS:
            return None
        return True  # dates and timestamps as text, inet, interval, ...: the server decides
    if kinds == {int} and name in INT_RANGES:
        bound = INT_RANGES[name]
        return False if -bound <= min(values) and max(values) < bound else None
    if kinds <= _NUMBERS and name in FLOATS:
        return False
    if kinds == {bool}:
        return False if cat == "B" else None
    if kinds <= {dt.date, dt.datetime}:
        return False if cat == "D" else None
    return None


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def key_form(column: Column | None, value: Any) -> Any:
    """A hashable stand-in for a natural-key value as ``column`` stores it, for duplicate checks.

    Secrets are resolved; values the column stores alike compare equal where Python can tell:
    a YAML date and its ISO text in a date column, 1 and 1.0 in a numeric one, a UUID in either
    case, trailing blanks of ``char(n)``. Anything else keeps its YAML spelling (1 and True
    differ); the database names the rows it reads as equal when it refuses them.
    """
    value = plain(value)
    if column is not None and value is not None and not isinstance(value, bool):
        converted = _stored(column, value)
        if converted is not None:
            return converted
    if value is None or type(value) in _PLAIN:
        return (type(value).__name__, value)
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _stored(column: Column, value: Any) -> tuple[str, Any] | None:
    name = column.typname
    if name in JSON_TYPES:
        return ("json", json.dumps(value, sort_keys=True, default=str))
    if name == "bpchar" and isinstance(value, str):
        return ("str", value.rstrip(" "))
    if (name in INT_RANGES or name in FLOATS) and isinstance(value, (int, float)):
        return ("number", value)  # 1 == 1.0, with the same hash
    if name == "uuid" and isinstance(value, str) and _is_uuid(value):
        return ("uuid", uuid.UUID(value))
    if name in ("date", "timestamp", "timestamptz"):
        moment = _moment(value)
        if moment is None:
            return None
        if name == "date":
            return ("date", moment.date())
        if name == "timestamp" or moment.tzinfo is None:
            return (name, moment.replace(tzinfo=None))  # timestamp ignores a time zone
        return (name, moment.astimezone(dt.timezone.utc))
    return None


def _moment(value: Any) -> dt.datetime | None:
    """A YAML date or timestamp, or ISO 8601 text, as a datetime (None: something else)."""
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def exact_key(column: Column | None, kinds: set[type]) -> bool:
    """Whether values of these Python types, all of one type, are equal in ``column`` exactly
    when they are equal in Python. Else only the database can tell every equal pair (two
    spellings of a date, numbers rounded to a ``numeric(p,s)``): it is asked before writing."""
    kinds = kinds - {type(None)}
    if len(kinds) > 1 or not kinds <= _PLAIN:
        return False
    if column is None or not kinds or kinds == {bool}:
        return True
    if kinds == {str}:
        return column.typname in ("text", "varchar") or column.category == "E"
    if column.category == "N":
        return column.typname in INT_RANGES or column.type in ("numeric", "double precision")
    return True  # a number in a column of another kind: a wrong type, reported


def server_invalid(cur: Any, values: list[tuple[str, str]]) -> set[int]:
    """Indexes into ``values`` that the server's input functions reject (none before PG 16)."""
    if not values or cur.connection.server_version < 160000:
        return set()
    cur.execute(
        "SELECT i - 1 FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS v(val, typ, i) "
        "WHERE NOT pg_input_is_valid(val, typ)",
        ([v for v, _ in values], [t for _, t in values]),
    )
    return {i for (i,) in cur.fetchall()}
