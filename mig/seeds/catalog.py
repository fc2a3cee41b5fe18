"""What the database says about the seeded tables: columns, types, defaults and foreign keys.

Everything the seed layer knows about a table comes from ``pg_catalog`` here; no table of the
product schema is named in code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from psycopg2 import sql

SOFT_DELETE_COLUMN = "deleted_at"


@dataclass(frozen=True)
class Column:
    """A column of a seeded table, as the catalogs describe it."""

    name: str
    type: str  # as format_type() spells it, usable in a column definition list
    category: str  # pg_type.typcategory of the (domain's base) type
    typname: str
    not_null: bool
    has_default: bool
    identity: str  # '' | 'a' (ALWAYS) | 'd' (BY DEFAULT)
    generated: str  # '' | 's' (stored) | 'v' (virtual)
    elem_type: str | None = None  # for arrays: the element's type, category and name
    elem_category: str | None = None
    elem_typname: str | None = None
    labels: tuple[str, ...] = ()  # enum labels (of the element for enum arrays)

    @property
    def required(self) -> bool:
        """A row to insert must give a value: NOT NULL and nothing fills it in."""
        return self.not_null and not self.has_default and not self.identity and not self.generated

    @property
    def max_length(self) -> int | None:
        """The length limit of a ``varchar(n)``/``char(n)`` column, else None."""
        return _max_length(self.type)


@functools.lru_cache(maxsize=256)
def _max_length(type_name: str) -> int | None:
    match = re.fullmatch(r"(?:character varying|character)\((\d+)\)", type_name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ForeignKey:
    """A single-column foreign key: the column and the table and column it refers to."""

    column: str
    table_oid: int
    target: str  # referenced column


@dataclass
class Table:
    """A seeded table: its columns, unique keys and foreign keys."""

    oid: int
    schema: str
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    # Unique indexes on plain columns: (columns, predicate or None).
    unique_keys: list[tuple[tuple[str, ...], str | None]] = field(default_factory=list)
    # Rules or row-level security: COPY would bypass the one and is refused by the other.
    copy_differs: bool = False

    @property
    def ident(self) -> sql.Identifier:
        """The table's schema-qualified name as SQL."""
        return sql.Identifier(self.schema, self.name)

    @property
    def soft_delete(self) -> bool:
        """Whether the table has ``deleted_at`` (prune soft-deletes its rows)."""
        return SOFT_DELETE_COLUMN in self.columns

    def live(self, alias: str) -> sql.Composable:
        """A condition true for rows that are not soft-deleted."""
        if not self.soft_delete:
            return sql.SQL("true")
        return sql.SQL("{} IS NULL").format(sql.Identifier(alias, SOFT_DELETE_COLUMN))

    def unique_on(self, columns: tuple[str, ...]) -> bool:
        """Whether a unique index makes live rows with these (non-NULL) values one at most."""
        live_predicate = f"({SOFT_DELETE_COLUMN} IS NULL)"
        return any(
            set(cols) <= set(columns) and (pred is None or pred == live_predicate)
            for cols, pred in self.unique_keys
        )


_TABLES = """
SELECT name, c.oid, n.nspname, c.relname, c.relhasrules OR c.relrowsecurity
FROM unnest(%s::text[]) AS name
JOIN pg_class c ON c.oid = to_regclass(name) AND c.relkind IN ('r', 'p')
JOIN pg_namespace n ON n.oid = c.relnamespace
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), bt.typcategory, bt.typname,
       a.attnotnull, a.atthasdef, a.attidentity::text, a.attgenerated::text,
       CASE WHEN bt.typcategory = 'A' THEN format_type(bt.typelem, a.atttypmod) END,
       et.typcategory, et.typname,
       ARRAY(SELECT e.enumlabel FROM pg_enum e
             WHERE e.enumtypid = COALESCE(et.oid, bt.oid) ORDER BY e.enumsortorder)
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.contype::text, con.confrelid,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint con
WHERE con.conrelid = ANY(%s::oid[]) AND con.contype IN ('f', 'p')
"""

_UNIQUE = """
SELECT i.indrelid,
       ARRAY(SELECT a.attname FROM unnest(i.indkey) k(n)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n),
       pg_get_expr(i.indpred, i.indrelid)
FROM pg_index i
WHERE i.indrelid = ANY(%s::oid[]) AND i.indisunique AND i.indexprs IS NULL
"""


def read_tables(cur: Any, names: list[str]) -> dict[str, Table]:
    """The tables that ``names`` (as fixtures spell them) resolve to; unknown names are absent."""
    cur.execute(_TABLES, (names,))
    by_name: dict[str, Table] = {}
    by_oid: dict[int, Table] = {}
    for name, oid, schema, relname, copy_differs in cur.fetchall():
        by_name[name] = by_oid.setdefault(oid, Table(oid, schema, relname,
                                                     copy_differs=copy_differs))
    if not by_oid:
        return by_name
    oids = list(by_oid)
    cur.execute(_COLUMNS, (oids,))
    for (oid, name, typ, cat, typname, not_null, has_def, ident, gen,
         elem_type, elem_cat, elem_typname, labels) in cur.fetchall():
        by_oid[oid].columns[name] = Column(
            name, typ, cat, typname, not_null, has_def, ident, gen,
            elem_type, elem_cat, elem_typname, tuple(labels),
        )
    cur.execute(_CONSTRAINTS, (oids,))
    for oid, kind, ref_oid, cols, ref_cols in cur.fetchall():
        if kind == "p":
            by_oid[oid].primary_key = tuple(cols)
        elif len(cols) == 1:
            by_oid[oid].foreign_keys.append(ForeignKey(cols[0], ref_oid, ref_cols[0]))
    cur.execute(_UNIQUE, (oids,))
    for oid, cols, predicate in cur.fetchall():
        by_oid[oid].unique_keys.append((tuple(cols), predicate))
    return by_name


def before_insert_trigger(cur: Any, table: Table) -> bool:
    """Whether a BEFORE INSERT row trigger may change what is stored from what was inserted."""
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal"
                " AND tgtype & 7 = 7)", (table.oid,))  # ROW | BEFORE | INSERT
    return bool(cur.fetchone()[0])


def visible_tables(cur: Any) -> list[str]:
    """Names of the tables on the search path, for 'did you mean' hints."""
    cur.execute(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND pg_table_is_visible(oid)"
    )
    return [name for (name,) in cur.fetchall()]
