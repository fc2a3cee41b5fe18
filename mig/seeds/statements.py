"""The SQL of one table's load, composed from a :class:`TablePlan`; a few statements per table.

Rows travel as ``COPY`` text into a temporary table, from which the staging table is built
(typed values; a join per reference turns natural keys into the referenced ids); the same
SELECT over a JSON array (``jsonb_to_recordset``) re-reads one row when a write fails, to name
it. Rows are then matched to live table rows by natural key in SQL, rather than with
``ON CONFLICT``: conflict targets cannot express "built-in roles, i.e.
``organization_id IS NULL``" or case-folded indexes, and a NULL key column would never
conflict. A statement of data-modifying CTEs updates the rows whose values differ, inserts
the missing ones and prunes, and returns the counts; rows already as seeded are not touched,
so they keep their row version (``xmin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from . import copytext
from .catalog import SOFT_DELETE_COLUMN, Column
from .model import plain
from .params import Params, condition, equals
from .tableplan import Entry, TablePlan

S, T = "s", "t"  # aliases: staging row, table row


@dataclass
class Statements:
    """Composes the statements for one plan; ``staging`` is the temporary table's name."""

    plan: TablePlan
    staging: str

    def __post_init__(self) -> None:
        plan = self.plan
        self.fields = list(plan.fields)
        self.slot = {f: sql.Identifier(f"f{n}") for n, f in enumerate(self.fields)}
        shapes: dict[tuple[str, ...], int] = {}
        self.shape_runs = [(shapes.setdefault(shape, len(shapes)), count)
                           for shape, count in plan.shapes()]
        self.shapes = list(shapes)
        self._shape_of: list[int] | None = None
        self.nullable = plan.nullable_key_columns()

    @property
    def shape_of(self) -> list[int]:
        """The number of each row's shape in :attr:`shapes`, in entry order."""
        if self._shape_of is None:
            self._shape_of = [n for n, count in self.shape_runs for n in [n] * count]
        return self._shape_of

    # -- staging ---------------------------------------------------------------------------

    def columns(self) -> list[tuple[str, Column]]:
        """The staged columns of rows as they are sent: name and type (the reference key
        parts of a link field, not the referenced row's value)."""
        out = []
        for n, name in enumerate(self.fields):
            link = self.plan.links.get(name)
            if link is None:
                out.append((f"f{n}", self.column_info(name)))
            else:
                out += [(f"f{n}_{m}", c) for m, c in enumerate(link.key)]
        return out

    def _defs(self) -> sql.Composable:
        return sql.SQL(", ").join([sql.SQL("_i int, _s int, _u boolean")] + [
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(c.type))
            for name, c in self.columns()])

    def payload(self, entries: list[Entry]) -> str:
        """The rows as one JSON array (for ``jsonb_to_recordset``)."""
        rows = []
        for entry in entries:
            data: dict[str, Any] = {"_i": entry.idx, "_s": self.shape_of[entry.idx],
                                    "_u": entry.fixture.update}
            for n, name in enumerate(self.fields):
                if name in self.plan.links:
                    for m, part in enumerate(entry.refs.get(name) or ()):
                        data[f"f{n}_{m}"] = part
                elif name in entry.row.values:
                    data[f"f{n}"] = plain(entry.row.values[name])
            rows.append(data)
        return copytext.dump_json(rows)

    def copy_data(self) -> str:
        """The rows as the text of ``COPY``, columns as :meth:`create_sent` declares them."""
        plan = self.plan
        shapes = [str(n) for n in range(len(self.shapes))]
        columns = [list(map(str, range(plan.size))),
                   [text for n, count in self.shape_runs for text in [shapes[n]] * count],
                   [flag for f in plan.fixtures for flag in ["t" if f.update else "f"]
                    * f.size]]
        for name in self.fields:
            link = plan.links.get(name)
            if link is None:
                info = self.column_info(name)
                columns.append(copytext.column(plan.values(name, copytext.MISSING),
                                               typname=info.typname, array=info.category == "A"))
                continue
            keys = [e.refs.get(name) for e in plan.entries]
            for m, c in enumerate(link.key):
                parts = [None if key is None else key[m] for key in keys]
                columns.append(copytext.column(parts, typname=c.typname,
                                               array=c.category == "A"))
        return copytext.rows(columns)

    def create_sent(self, name: str) -> sql.Composable:
        """A temporary table for the rows as sent by ``COPY``."""
        return sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
            sql.Identifier(name), self._defs())

    def copy(self, name: str) -> sql.Composable:
        """``COPY name FROM STDIN``."""
        return sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(name))

    def staged(self, name: str) -> sql.Identifier:
        """The staging column of field ``name``."""
        return sql.Identifier(S, f"f{self.fields.index(name)}")

    def column_info(self, name: str) -> Column:
        """The column that field ``name`` fills."""
        return self.plan.table.columns[self.plan.column(name)]

    def select_staged(self, params: Params, entries: list[Entry] | None = None, *,
                      sent: str | None = None) -> sql.Composable:
        """The staged rows: typed values, references resolved, ``_ok`` false if one is not.

        The rows are ``entries`` as JSON, or the rows of the table ``sent``.
        """
        out: list[sql.Composable] = [sql.SQL("x._i, x._s, x._u")]
        joins: list[sql.Composable] = []
        resolved: list[sql.Composable] = []
        for n, name in enumerate(self.fields):
            link = self.plan.links.get(name)
            if link is None:
                out.append(sql.SQL("x.{}").format(self.slot[name]))
                continue
            alias = f"l{n}"
            parts = [sql.Identifier(f"f{n}_{m}") for m in range(len(link.key))]
            target = sql.Identifier(alias, link.target)
            out.append(sql.SQL("{} AS {}").format(target, self.slot[name]))
            keys = [e.refs.get(name) for e in self.plan.entries]
            match = sql.SQL(" AND ").join(
                sql.SQL("{} {} x.{}").format(sql.Identifier(alias, c.name),
                                             sql.SQL(equals(m, keys)), p)
                for m, (c, p) in enumerate(zip(link.key, parts, strict=True)))
            joins.append(sql.SQL(" LEFT JOIN {} AS {} ON {} AND {}").format(
                link.table.ident, sql.Identifier(alias), match, link.where(alias, params)))
            resolved.append(sql.SQL("(x.{} IS NULL OR {} IS NOT NULL)").format(parts[0], target))
        out.append(sql.SQL("{} AS _ok").format(
            sql.SQL(" AND ").join(resolved) if resolved else sql.SQL("true")))
        source = sql.SQL("{} AS x").format(sql.Identifier(sent)) if sent else sql.SQL(
            "jsonb_to_recordset({}) AS x({})").format(params.add(self.payload(entries or [])),
                                                      self._defs())
        return sql.SQL("SELECT {} FROM {}{}").format(sql.SQL(", ").join(out), source,
                                                     sql.Composed(joins))

    def create_staging(self, params: Params, sent: str) -> sql.Composable:
        """The staging table from the table of sent rows: references resolved."""
        return sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS {}").format(
            sql.Identifier(self.staging), self.select_staged(params, sent=sent))

    # -- matching --------------------------------------------------------------------------

    def match(self) -> sql.Composable:
        """A staged row and a table row have the same natural key."""
        parts = []
        for name in self.plan.key:
            column = self.plan.column(name)
            op = "IS NOT DISTINCT FROM" if column in self.nullable else "="
            parts.append(sql.SQL("{} {} {}").format(
                sql.Identifier(T, column), sql.SQL(op), self.staged(name)))
        return sql.SQL(" AND ").join(parts)

    def needs_guard(self, *, references: bool) -> bool:
        """Whether :meth:`guard` can find anything."""
        return ((references and bool(self.plan.links)) or self._ambiguous_possible()
                or not self.plan.keys_exact)

    def _ambiguous_possible(self) -> bool:
        return bool(self.nullable) or not self.plan.table.unique_on(self.plan.key_columns)

    def guard(self, *, references: bool) -> sql.Composable:
        """Staged rows that cannot be written, as (``_i``, why, ``_i`` of the other row): an
        unresolved reference; a key that matches several live rows of the table (where no
        unique index rules that out); a key that the database reads as an earlier row's
        (where the checks before writing could not tell every equal pair).

        A dry run leaves ``references`` out: there, rows a reference names may not exist yet.
        """
        queries = []
        if references and self.plan.links:
            queries.append("SELECT _i, 'reference', NULL::int FROM {s} WHERE NOT _ok")
        if self._ambiguous_possible():
            queries.append("SELECT s._i, 'ambiguous', NULL::int FROM {s} AS s JOIN {t} AS t"
                           " ON {match} AND {live} GROUP BY s._i HAVING count(*) > 1")
        if not self.plan.keys_exact:
            queries.append("SELECT unnest(ids[2:]), 'same key', ids[1] FROM ({same}) AS g(ids)")
        query = " UNION ALL ".join(queries) or "SELECT NULL::int, NULL, NULL::int WHERE false"
        return sql.SQL(query).format(
            s=sql.Identifier(self.staging), t=self.plan.table.ident, match=self.match(),
            live=self.plan.table.live(T), same=self.same_keys())

    def same_keys(self) -> sql.Composable:
        """The ``_i`` of staged rows whose natural keys the database reads as equal, one array
        per key (in row order), where there are several; rows with an unresolved reference
        are left out."""
        keys = [self._compare(S, n, self.column_info(n)) for n in self.plan.key]
        resolved = " WHERE s._ok" if self.plan.links else ""  # only staged rows with links
        return sql.SQL("SELECT array_agg(s._i ORDER BY s._i) FROM {} AS s" + resolved +
                       " GROUP BY {} HAVING count(*) > 1 ORDER BY min(s._i)").format(
            sql.Identifier(self.staging), sql.SQL(", ").join(keys))

    def _compare(self, alias: str, name: str, column: Column) -> sql.Composable:
        ident = sql.Identifier(T, column.name) if alias == T else self.staged(name)
        if column.typname == "json":  # json has no equality operator
            return sql.SQL("{}::jsonb").format(ident)
        return ident

    def _differs(self, names: list[str]) -> sql.Composable:
        return sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(
            sql.SQL(", ").join(self._compare(T, n, self.column_info(n)) for n in names),
            sql.SQL(", ").join(self._compare(S, n, self.column_info(n)) for n in names))

    # -- writing ---------------------------------------------------------------------------

    def write(self, params: Params, *, upsert: bool = True, prune: bool = False) -> sql.Composable:
        """One statement: update changed rows, insert missing ones, prune; returns 3 counts."""
        table, staging = self.plan.table.ident, sql.Identifier(self.staging)
        only = sql.SQL("({only}::int IS NULL OR s._i = {only}::int)").format(
            only=sql.Placeholder("only"))
        ctes: list[sql.Composable] = []
        counted: dict[str, list[str]] = {"u": [], "i": [], "p": []}
        for k, shape in enumerate(self.shapes if upsert else []):
            columns = [self.plan.column(f) for f in shape]
            changing = [f for f in shape if f not in self.plan.key]
            if changing:
                ctes.append(self._update(k, changing, only))
                counted["u"].append(f"u{k}")
            ctes.append(sql.SQL(
                "i{k} AS (INSERT INTO {t} ({cols}) SELECT {vals} FROM {s} AS s "
                "WHERE s._s = {k} AND {only} AND NOT EXISTS "
                "(SELECT 1 FROM {t} AS t WHERE {match} AND {live}) RETURNING 1)").format(
                k=sql.SQL(str(k)), t=table, s=staging, only=only, match=self.match(),
                live=self.plan.table.live(T),
                cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                vals=sql.SQL(", ").join(self.staged(f)
                                        for f in shape)))
            counted["i"].append(f"i{k}")
        if prune:
            ctes.append(sql.SQL("p AS ({} RETURNING 1)").format(self._prune(params)))
            counted["p"].append("p")

        def total(names: list[str]) -> sql.Composable:
            return sql.SQL(" + ").join(
                sql.SQL("(SELECT count(*) FROM {})").format(sql.Identifier(n)) for n in names
            ) if names else sql.SQL("0")

        return sql.SQL("WITH {} SELECT {}, {}, {}").format(
            sql.SQL(", ").join(ctes), total(counted["u"]), total(counted["i"]),
            total(counted["p"]))

    def _update(self, k: int, changing: list[str], only: sql.Composable) -> sql.Composable:
        return sql.SQL(
            "u{k} AS (UPDATE {t} AS t SET ({cols}) = ROW({vals}) FROM {s} AS s "
            "WHERE s._s = {k} AND s._u AND {only} AND {match} AND {live} AND {differs} "
            "RETURNING 1)").format(
            k=sql.SQL(str(k)), t=self.plan.table.ident, s=sql.Identifier(self.staging),
            only=only, match=self.match(), live=self.plan.table.live(T),
            differs=self._differs(changing),
            cols=sql.SQL(", ").join(sql.Identifier(self.plan.column(f)) for f in changing),
            vals=sql.SQL(", ").join(self.staged(f)
                                    for f in changing))

    # -- pruning ---------------------------------------------------------------------------

    def scope(self, fixture: Any, params: Params) -> sql.Composable:
        """The rows of the table that ``fixture`` owns (``owned: {where: ...}``)."""
        parts: list[sql.Composable] = []
        for name, value in fixture.owned_where.items():
            link = self.plan.links.get(name) if name in fixture.references else None
            if link is None:
                parts.append(condition(T, name, value, params))
                continue
            parts.append(sql.SQL("{} IN (SELECT r.{} FROM {} AS r WHERE {} AND {})").format(
                sql.Identifier(T, link.column), sql.Identifier(link.target), link.table.ident,
                condition("r", link.key[0].name, value, params), link.where("r", params)))
        return sql.SQL("({})").format(sql.SQL(" AND ").join(parts) if parts else sql.SQL("true"))

    def _unlisted(self, params: Params) -> sql.Composable:
        owners = sql.SQL(" OR ").join(self.scope(f, params) for f in self.plan.owners)
        return sql.SQL("{live} AND ({owners}) AND NOT EXISTS "
                       "(SELECT 1 FROM {s} AS s WHERE {match})").format(
            live=self.plan.table.live(T), owners=owners, s=sql.Identifier(self.staging),
            match=self.match())

    def _prune(self, params: Params) -> sql.Composable:
        if self.plan.table.soft_delete:
            return sql.SQL("UPDATE {} AS t SET {} = now() WHERE {}").format(
                self.plan.table.ident, sql.Identifier(SOFT_DELETE_COLUMN), self._unlisted(params))
        return sql.SQL("DELETE FROM {} AS t WHERE {}").format(
            self.plan.table.ident, self._unlisted(params))

    # -- dry run ---------------------------------------------------------------------------

    def _shown(self, name: str) -> sql.Composable:
        """A table row's value of field ``name`` as the fixtures write it."""
        link = self.plan.links.get(name)
        if link is None:
            return sql.Identifier(T, name)
        query = "(SELECT jsonb_build_array({}) FROM {} AS r WHERE r.{} = {} LIMIT 1)"
        return sql.SQL(query).format(
            sql.SQL(", ").join(sql.Identifier("r", c.name) for c in link.key), link.table.ident,
            sql.Identifier(link.target), sql.Identifier(T, link.column))

    def diff(self) -> sql.Composable:
        """Per staged row: whether it matches a live row, then per field (old, differs)."""
        items: list[sql.Composable] = [sql.SQL("s._i"), sql.SQL("t.ctid IS NOT NULL")]
        for name in self.fields:
            items.append(self._shown(name))
            items.append(self._differs([name]))
        return sql.SQL("SELECT {} FROM {} AS s LEFT JOIN {} AS t ON {} AND {}").format(
            sql.SQL(", ").join(items), sql.Identifier(self.staging), self.plan.table.ident,
            self.match(), self.plan.table.live(T))

    def doomed(self, params: Params) -> sql.Composable:
        """Rows a prune would remove: their key fields, then which owner's scope holds each."""
        items = [self._shown(f) for f in self.plan.key]
        items += [self.scope(f, params) for f in self.plan.owners]
        return sql.SQL("SELECT {} FROM {} AS t WHERE {}").format(
            sql.SQL(", ").join(items), self.plan.table.ident, self._unlisted(params))
