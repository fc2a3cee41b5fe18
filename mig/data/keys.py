"""The key a data step walks a table by, and the SQL of one batch's key range.

Batches are ranges of a unique, NOT NULL key (the primary key unless the step names another
unique index's columns), walked in key order: each batch starts after the last key of the one
before (keyset pagination), so finding the next batch costs one short index scan however far
the step has got, where ``OFFSET`` would rescan everything before it.

Key values travel as text (``key::text``) and go back into SQL as ``'value'::type`` literals,
so a checkpoint stored as JSON restores any key type exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from ..engine.connect import fetch_row
from ..errors import DataMigrationError

_PLACEHOLDER = re.compile(r"\{(range|where)(?::([A-Za-z_][A-Za-z0-9_]*))?\}")


@dataclass(frozen=True)
class KeyedTable:
    """A table resolved in the database, with the columns and types of its batch key."""

    name: str  # as PostgreSQL prints the regclass: quoted where needed, schema where needed
    oid: int
    columns: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def ident(self) -> sql.Composable:
        """The table's name as SQL (quoted by the server)."""
        # regclass::text is quoted by the server itself (quote_ident), so it is safe as SQL
        return sql.SQL(self.name)

    def column_list(self, alias: str | None = None) -> sql.Composable:
        """The key columns as an SQL list, qualified by ``alias`` if given."""
        return sql.SQL(", ").join(_column(c, alias) for c in self.columns)

    def _values(self, key: list[str]) -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(t)) for v, t in zip(key, self.types)
        )

    def after(self, key: list[str] | None, alias: str | None = None) -> sql.Composable:
        """``key_columns > key`` (row comparison for a composite key); TRUE when ``key`` is None."""
        if key is None:
            return sql.SQL("TRUE")
        return sql.SQL("({}) > ({})").format(self.column_list(alias), self._values(key))

    def range(self, lo: list[str] | None, hi: list[str], alias: str | None = None
              ) -> sql.Composable:
        """The predicate of one batch: keys after ``lo`` up to and including ``hi``."""
        upper = sql.SQL("({}) <= ({})").format(self.column_list(alias), self._values(hi))
        if lo is None:
            return upper
        return sql.SQL("{} AND {}").format(self.after(lo, alias), upper)

    def next_batch(self, lo: list[str] | None, size: int) -> sql.Composable:
        """One row: the last key (as text) of the next ``size`` rows after ``lo``, and their count.

        Every row counts, whatever the step's ``where``: a plain ``ORDER BY key LIMIT n`` is an
        index range scan the planner always picks, while a filter it misjudges (a column added
        for the backfill has no statistics yet) can turn each batch into a scan of the rest of
        the table. Rows the statement's condition skips cost one index entry each.
        """
        inner = sql.SQL("SELECT {cols} FROM {table} WHERE {after} ORDER BY {cols} LIMIT {size}"
                        ).format(cols=self.column_list(), table=self.ident, after=self.after(lo),
                                 size=sql.Literal(size))
        as_text = sql.SQL(", ").join(sql.SQL("{}::text").format(_column(c, "b"))
                                     for c in self.columns)
        descending = sql.SQL(", ").join(sql.SQL("{} DESC").format(_column(c, "b"))
                                        for c in self.columns)
        return sql.SQL("SELECT {text}, count(*) OVER () FROM ({inner}) b"
                       " ORDER BY {desc} LIMIT 1").format(
            text=as_text, inner=inner, desc=descending)

    def count(self, lo: list[str] | None, where: str | None = None) -> sql.Composable:
        """SQL counting the rows after key ``lo`` that match ``where``."""
        return sql.SQL("SELECT count(*) FROM {} WHERE {} AND ({})").format(
            self.ident, self.after(lo), sql.SQL(where or "TRUE"))


def _column(name: str, alias: str | None) -> sql.Composable:
    return sql.Identifier(alias, name) if alias else sql.Identifier(name)


def expand(query: str, table: KeyedTable, lo: list[str] | None, hi: list[str],
           conn: connection, *,
           where: str | None = None, params: bool = False) -> str:
    """``query`` with ``{range}`` (or ``{range:alias}``) replaced by the batch's key range and
    ``{where}`` by the step's condition (``TRUE`` without one).

    Only these placeholders are replaced, so other braces (``'{}'::jsonb``) stay as written.
    With ``params`` (the query has parameters), a ``%`` inside a key value is doubled so that
    it does not read as a parameter marker.
    :raises DataMigrationError: the statement does not mention ``{range}``, or the step has a
        condition and the statement does not mention ``{where}``.
    """
    used = {m.group(1) for m in _PLACEHOLDER.finditer(query)}
    if "range" not in used:
        raise DataMigrationError(
            "a batch statement must be limited to the batch's key range, and this one does not"
            f" mention {{range}}: {' '.join(query.split())[:160]}",
            hint="add 'WHERE {range}' (or '{range:alias}' in a join), e.g. "
            "UPDATE users SET email = lower(email) WHERE {range} AND email <> lower(email)",
        )
    if where and "where" not in used:
        # The condition is what dry runs count and what makes a re-run skip done rows; a
        # statement that ignores it changes rows the count never saw.
        raise DataMigrationError(
            f"the step's condition ({where}) must limit its statements too, and this one does"
            f" not mention {{where}}: {' '.join(query.split())[:160]}",
            hint="add 'AND {where}' after '{range}'; read other rows through batch.cursor",
        )

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "where":
            if not where:
                return "TRUE"
            return f"({where.replace('%', '%%')})" if params else f"({where})"
        text = table.range(lo, hi, match.group(2)).as_string(conn)
        return text.replace("%", "%%") if params else text

    return _PLACEHOLDER.sub(replace, query)


def resolve(cur: cursor, table: str, key: tuple[str, ...] | None) -> KeyedTable:
    """Find ``table`` and the key to walk it by.

    :param key: columns of a unique index to use instead of the primary key.
    :raises DataMigrationError: no such table, no primary key (and no ``key``), or ``key`` is
        not the column list of a unique, non-partial index over NOT NULL columns.
    """
    cur.execute("SELECT to_regclass(%s)::oid, to_regclass(%s)::text", (table, table))
    oid, name = fetch_row(cur)
    if oid is None:
        raise DataMigrationError(
            f"data step table {table!r} does not exist",
            hint="create it in an earlier migration (or an earlier step of this one)",
        )
    cur.execute(
        "SELECT i.indisprimary, array_agg(a.attname ORDER BY k.ord),"
        " array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord),"
        " bool_and(a.attnotnull)"
        " FROM pg_index i"
        " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
        " WHERE i.indrelid = %s AND i.indisunique AND i.indisvalid AND i.indpred IS NULL"
        " AND 0 <> ALL (i.indkey::int2[])"
        " GROUP BY i.indexrelid, i.indisprimary ORDER BY i.indisprimary DESC",
        (oid,),
    )
    candidates = [(primary, tuple(cols), tuple(types), notnull)
                  for primary, cols, types, notnull in cur.fetchall()]
    if key is None:
        primary = [c for c in candidates if c[0]]
        if not primary:
            raise DataMigrationError(
                f"data step table {name} has no primary key, so it cannot be walked in key"
                " ranges",
                hint="give it a primary key, or name the columns of a unique index over NOT"
                " NULL columns with key=(...)",
            )
        return KeyedTable(name, oid, primary[0][1], primary[0][2])
    for _, cols, types, notnull in candidates:
        if cols == tuple(key) and notnull:
            return KeyedTable(name, oid, cols, types)
    raise DataMigrationError(
        f"key={tuple(key)!r} of data step table {name} is not the column list of a unique,"
        " non-partial index over NOT NULL columns",
        hint="batches need a key that orders every row exactly once: use the primary key"
        " (leave key out) or such an index's columns, in index order",
    )
