"""Two shortcuts of one table's load; where neither applies, rows are staged and compared.

**A table without live rows** (a new database): every row is an insert, so the rows go in by
one ``COPY`` straight into the table, with no staging table and no matching. Not for rows
that refer to other rows (their ids are looked up while staging), nor for tables with rules
or row-level security (which ``COPY`` bypasses or refuses). The counts are ``COPY``'s own.

**A table whose live rows are exactly the seeded rows** (an unchanged re-run): one query
compares an aggregate fingerprint of the live rows — their count, and two 64-bit hash sums of
each row's fields as JSON, references shown as the referenced row's key — with the fingerprint
the table had when it last was exactly as seeded, which a run remembers in the seed cache
under a key made of the fixtures' content, the catalogue and the server's output settings.
Equal: every row is unchanged and nothing else is done. Different (a changed value, an extra
row, a new database): the rows are staged and compared as always, so a mismatch only costs
time. A fingerprint is remembered only after a run that left the rows as they were read:
nothing updated, and no insert through a ``BEFORE INSERT`` trigger (which may change values).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql

from . import copytext
from .catalog import before_insert_trigger
from .params import Params

if TYPE_CHECKING:
    from .cache import SeedCache
    from .statements import Statements
    from .tableplan import TablePlan

# Settings that shape how values are written as text, and so the fingerprint.
CONTEXT = ("concat_ws('|', " + ", ".join(
    f"current_setting('{name}')" for name in (
        "server_version_num", "server_encoding", "TimeZone", "DateStyle", "IntervalStyle",
        "extra_float_digits", "bytea_output", "lc_monetary")) + ")")
T = "t"


class Shortcuts:
    """The shortcuts for one plan; ``context`` is the value of :data:`CONTEXT`."""

    def __init__(self, cur: Any, plan: TablePlan, statements: Statements,
                 cache: SeedCache | None, context: str) -> None:
        self.cur, self.plan, self.cache, self.context = cur, plan, cache, context
        self.size = plan.size
        fixtures = plan.fixtures
        uniform = len({f.update for f in fixtures}) == 1 and not any(
            f.has_secrets for f in fixtures)
        # The fields every row sets: one shape (else rows are compared field by field).
        self.shape = statements.shapes[0] if uniform and len(statements.shapes) == 1 else None
        self.key: str | None = None
        self.expected: list[Any] | None = None
        if self.shape is not None and cache is not None and all(f.digest for f in fixtures):
            self.key = self._key()
            self.expected = cache.get(self.key)

    # -- a table without live rows ---------------------------------------------------------

    def live_rows(self) -> int:
        """How many live rows the table has, counted up to one more than the fixtures'."""
        self.cur.execute(sql.SQL(
            "SELECT count(*) FROM (SELECT 1 FROM {} AS t WHERE {} LIMIT {}) AS x").format(
            self.plan.table.ident, self.plan.table.live(T), sql.Literal(self.size + 1)))
        return int(self.cur.fetchone()[0])

    @property
    def can_copy(self) -> bool:
        """Whether the rows can go straight to the table with ``COPY`` (one shape, no
        references)."""
        return (self.shape is not None and not self.plan.links
                and not self.plan.table.copy_differs)

    def copy(self) -> int | None:
        """COPY the rows into the table; their number, or None if the database refused them
        (everything undone: the staged load then finds and names the rows)."""
        assert self.shape is not None
        text = self._copy_text()
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            self.plan.table.ident, sql.SQL(", ").join(sql.Identifier(n) for n in self.shape))
        self.cur.execute("SAVEPOINT mig_seed_copy")
        try:
            self.cur.copy_expert(statement.as_string(self.cur), io.StringIO(text),
                                 size=1 << 20)
        except psycopg2.Error:
            self.cur.execute("ROLLBACK TO SAVEPOINT mig_seed_copy")
            return None
        inserted = int(self.cur.rowcount)
        self.cur.execute("RELEASE SAVEPOINT mig_seed_copy")
        return inserted

    def _copy_text(self) -> str:
        """The rows as COPY text; kept in the seed cache (it depends on the files and the
        columns' types only), as the fingerprint is."""
        plan = self.plan
        assert self.shape is not None
        kinds = [(plan.table.columns[n].typname, plan.table.columns[n].category == "A")
                 for n in self.shape]
        key = None
        if self.cache is not None and all(f.digest for f in plan.fixtures):
            key = self.cache.key("copy", repr((self.shape, kinds)),
                                 *(f.digest for f in plan.fixtures))
            text = self.cache.get(key)
            if isinstance(text, str):
                return text
        columns = [copytext.column(plan.values(name, copytext.MISSING), typname=typname,
                                   array=array) for name, (typname, array) in
                   zip(self.shape, kinds, strict=True)]
        text = copytext.rows(columns)
        if key is not None and self.cache is not None:
            self.cache.put(key, text)
        return text

    # -- an unchanged table ----------------------------------------------------------------

    def unchanged(self, live: int) -> bool:
        """Whether the live rows are the seeded rows, by their fingerprint."""
        return live == self.size and self.expected is not None and (
            self.fingerprint() == self.expected)

    def remember(self, *, updated: int, inserted: int) -> None:
        """After the table was loaded: keep its fingerprint if its rows are as read."""
        if self.key is None or self.cache is None or updated:
            return
        if self.expected is not None and inserted:
            return  # the rows the fingerprint was taken of, added: nothing new to learn
        if inserted and before_insert_trigger(self.cur, self.plan.table):
            return
        found = self.fingerprint()
        if found[0] == self.size and found != self.expected:
            self.cache.put(self.key, found)
            self.expected = found

    def fingerprint(self) -> list[Any]:
        """The table's rows summed up (count and two hashes) to see whether they changed."""
        params = Params()
        self.cur.execute(self._fingerprint(params), params)
        count, first, second = self.cur.fetchone()
        return [int(count), str(first), str(second)]

    def _fields(self) -> tuple[str, ...]:
        assert self.shape is not None
        # update: false rows are unchanged whatever their other values: keys only.
        return self.shape if self.plan.fixtures[0].update else self.plan.key

    def _fingerprint(self, params: Params) -> sql.Composable:
        plan = self.plan
        items: list[sql.Composable] = []
        joins: list[sql.Composable] = []
        for n, name in enumerate(self._fields()):
            link = plan.links.get(name)
            if link is None:
                items.append(sql.Identifier(T, name))
                continue
            alias = f"r{n}"
            joins.append(sql.SQL(" LEFT JOIN {} AS {} ON {} = {} AND {}").format(
                link.table.ident, sql.Identifier(alias), sql.Identifier(alias, link.target),
                sql.Identifier(T, link.column), link.where(alias, params)))
            parts: list[sql.Composable] = [
                sql.SQL("{} IS NOT NULL").format(sql.Identifier(alias, link.target))]
            parts += [sql.Identifier(alias, c.name) for c in link.key]
            items.append(sql.SQL("CASE WHEN {} IS NULL THEN NULL ELSE json_build_array({}) END")
                         .format(sql.Identifier(T, link.column), sql.SQL(", ").join(parts)))
        return sql.SQL(
            "SELECT count(*), coalesce(sum(hashtextextended(p, 0)), 0), "
            "coalesce(sum(hashtextextended(p, 1)), 0) FROM (SELECT json_build_array({})::text "
            "AS p FROM {} AS t{} WHERE {}) AS x").format(
            sql.SQL(", ").join(items), plan.table.ident, sql.Composed(joins), plan.table.live(T))

    def _key(self) -> str:
        assert self.cache is not None
        params = Params()
        query = self.cur.mogrify(self._fingerprint(params), params)
        types = []
        for name in self._fields():
            link = self.plan.links.get(name)
            types += [c.type for c in link.key] if link else [
                self.plan.table.columns[name].type]
        return self.cache.key("fingerprint", query, self.context, "|".join(types),
                              *(f.digest for f in self.plan.fixtures))
