"""SQL text: identifiers and literals quoted, snapshot names split and quoted, lists split."""

from __future__ import annotations

import re

# -- names ------------------------------------------------------------------------------------
# PostgreSQL's keywords that an identifier must be quoted to be (reserved, type and function,
# column name keywords).
_KEYWORDS = """
all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
boolean both case cast char character check coalesce collate collation column concurrently
constraint create cross current_catalog current_date current_role current_schema current_time
current_timestamp current_user dec decimal default deferrable desc distinct do else end except
exists extract false fetch float for foreign freeze from full grant greatest group grouping
having ilike in initially inner inout int integer intersect interval into is isnull join json
json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar
json_serialize json_table json_value lateral leading least left like limit localtime
localtimestamp merge_action national natural nchar none normalize not notnull null nullif
numeric offset on only or order out outer overlaps overlay placing position precision primary
real references returning right row select session_user setof similar smallint some substring
symmetric system_user table tablesample then time timestamp to trailing treat trim true union
unique user using values varchar variadic verbose when where window with xmlattributes
xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize
xmltable"""
_RESERVED = frozenset(_KEYWORDS.split())
_SIMPLE = re.compile(r"[a-z_][a-z0-9_$]*")


def ident(name: str) -> str:
    """An identifier as SQL: quoted where it must be (as ``quote_ident`` does)."""
    if _SIMPLE.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A string constant (standard_conforming_strings)."""
    return "'" + text.replace("'", "''") + "'"


def split(name: str) -> tuple[str, str]:
    """A schema-level key (``users``, ``billing.invoices``) as (schema, name)."""
    head = name.split("(", 1)[0]
    if "." in head:
        schema, rest = name.split(".", 1)
        return schema, rest
    return "public", name


def qname(name: str) -> str:
    """A snapshot name (``schema.name``, ``public`` when bare) quoted as SQL."""
    schema, rest = split(name)
    return f"{ident(schema)}.{ident(rest)}"


def function_name(name: str) -> str:
    """A function's snapshot name with its arguments, its schema and name quoted."""
    schema, rest = split(name)
    base, args = rest.split("(", 1)
    return f"{ident(schema)}.{ident(base)}({args}"


def qualified(schema: str, name: str) -> str:
    """The snapshot name of ``name`` in ``schema``: bare in ``public``."""
    return name if schema == "public" else f"{schema}.{name}"


def parent(partition_of: str) -> str:
    """The snapshot name of a partition's parent (``parent FOR VALUES ...``)."""
    head = partition_of.split(" ", 1)[0]
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p
             for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', head)]
    return ".".join(parts[1:] if parts[0] == "public" and len(parts) == 2 else parts)


def short(name: str) -> str:
    """``name`` cut to PostgreSQL's 63 characters of an identifier."""
    return name[:63]


def option_names(options: str | None) -> set[str]:
    """The names of a ``name=value, ...`` option list."""
    return {o.split("=", 1)[0].strip() for o in (options or "").split(",") if o.strip()}


def balanced(text: str, start: int) -> int:
    """The index just past the parenthesis closing the one at ``start``."""
    depth = 0
    quote = False
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(text)
