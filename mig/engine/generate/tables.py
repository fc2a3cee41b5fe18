"""Tables and columns rendered: made, dropped, renamed, changed, and ``SET NOT NULL`` through
a validated check on a table in use."""

from __future__ import annotations

import dataclasses
import re

from ...reports import DestructiveChange
from ..snapshot import Snapshot
from .definitions import Column, Table
from .model import AFTER, Statement, Unit
from .quoting import ident, parent, qname, qualified, short, split
from .safe import not_valid_again
from .schemas import SchemaPlanner

_INTEGERS = ("smallint", "integer", "bigint")


def _widens(old: str, new: str) -> bool:
    """Whether every value of type ``old`` fits ``new`` unchanged (as ``mig lint``'s
    ``destructive`` rule reads a type change): a longer or unbounded ``varchar``, ``text``, a
    wider integer, ``real`` to ``double precision``."""
    if new in ("text", "character varying") and re.fullmatch(
            r"character varying(\(\d+\))?|text", old):
        return True
    bounded = re.fullmatch(r"character varying\((\d+)\)", old), re.fullmatch(
        r"character varying\((\d+)\)", new)
    if bounded[0] and bounded[1]:
        return int(bounded[1].group(1)) >= int(bounded[0].group(1))
    if old in _INTEGERS and new in _INTEGERS:
        return _INTEGERS.index(new) >= _INTEGERS.index(old)
    return (old, new) == ("real", "double precision")


def _kept_as_is(old: str, new: str) -> bool:
    """Whether PostgreSQL changes a column from ``old`` to ``new`` without rewriting its table
    or indexes (the values are binary coercible and fit): ``varchar`` to ``text``, to an
    unbounded or longer ``varchar``, and ``text`` to an unbounded ``varchar``."""
    return _widens(old, new) and bool(re.fullmatch(r"character varying(\(\d+\))?|text", old))


def _identity_set(options: str) -> str:
    """An identity column's sequence options (``start with 100 increment by 10``) as
    ``ALTER COLUMN`` actions (``SET START WITH 100 SET INCREMENT BY 10``)."""
    words = re.findall(r"(start with|increment by|minvalue|maxvalue|cache|cycle)( -?\d+)?",
                       options)
    return " ".join(f"SET {w.upper()}{n}" for w, n in words)


class TablePlanner(SchemaPlanner):
    """The tables and their columns, renamed columns, and ``SET NOT NULL``."""

    # renames ---------------------------------------------------------------------------------
    def renamed_columns(self) -> None:
        """The columns renamed (as the caller says), and their keys mapped old to new."""
        self.rename_of: dict[str, str] = {}  # old column key -> new column key
        for r in self.renames:
            old_key, new_key = f"{r.table}.{r.old}", f"{r.table}.{r.new}"
            if old_key not in self.old.get("columns", {}) or \
                    new_key not in self.new.get("columns", {}):
                self.problems.append(
                    f"--rename {r.table}.{r.old}={r.new}: the history's schema has no column "
                    f"{old_key}, or the database's has no column {new_key}")
                continue
            if old_key in self.new.get("columns", {}) or new_key in self.old.get("columns", {}):
                self.problems.append(
                    f"--rename {r.table}.{r.old}={r.new}: both columns exist on one side")
                continue
            self.rename_of[old_key] = new_key
            schema = self.schema_of("tables", r.table)
            self.add("alter", ("columns", new_key),
                     [self.stmt(f"ALTER TABLE {qname(r.table)} RENAME COLUMN {ident(r.old)} "
                                f"TO {ident(r.new)}", schema,
                                note=f"renamed as --rename {r.table}.{r.old}={r.new} says: "
                                "what reads the old name fails\nsquawk-ignore renaming-column")],
                     [self.stmt(f"ALTER TABLE {qname(r.table)} RENAME COLUMN {ident(r.new)} "
                                f"TO {ident(r.old)}", schema)],
                     rank="tables", covers=[("columns", old_key)])

    # tables and columns ---------------------------------------------------------------------
    def table_statements(self, name: str, side: Snapshot) -> tuple[list[Statement], list[str]]:
        """The statements that make table ``name`` as ``side`` has it, and the ``ALTER TABLE``
        actions that must wait for its indexes (replica identity, clustering)."""
        table = Table.parse(side["tables"][name])
        schema = self.schema_of("tables", name)
        q = qname(name)
        columns, settings = [], []
        for c in table.columns:
            col = Column.parse(side["columns"][f"{name}.{c}"])
            columns.append(col.sql(c))
            settings += [f"ALTER COLUMN {ident(c)} {a}" for a in col.settings()]
        out = [self.stmt(table.create(name, columns), schema)]
        if table.partition_of:
            settings = []  # a partition's columns are its parent's
        alters = table.alters()
        later = [a for a in alters if a.startswith(("REPLICA IDENTITY", "CLUSTER ON"))]
        out += [self.stmt(f"ALTER TABLE {q} {a}", schema)
                for a in settings + [a for a in alters if a not in later]]
        return out, later

    def tables_and_columns(self) -> None:
        """The tables and columns made, dropped and changed."""
        for name in self.names("tables"):
            text = self.get(self.new, "tables", name) or self.get(self.old, "tables", name)
            assert text is not None
            rest = Table.parse(text).rest
            if rest:
                self.problems.append(f"table {name}: {rest}: the generator does not render "
                                     "this kind of table yet")
        for name in self.names("tables", "extra"):
            table = Table.parse(self.new["tables"][name])
            schema = self.schema_of("tables", name)
            up, later = self.table_statements(name, self.new)
            covers = [("columns", f"{name}.{c}") for c in table.columns]
            self.add("create", ("tables", name), up,
                     [self.stmt(f"DROP TABLE {qname(name)}", schema)], covers=covers)
            if table.partition_of:
                self.attach.append((self.units[-1], ("tables", parent(table.partition_of))))
            if later:
                self.add("create", ("table-indexes", name),
                         [self.stmt(f"ALTER TABLE {qname(name)} {a}", schema) for a in later],
                         [], rank="owned")
                self.attach.append((self.units[-1], ("tables", name)))
                for index in table.needs_indexes():
                    self.attach.append((self.units[-1], ("indexes", qualified(schema, index))))
        for name in self.names("tables", "missing"):
            table = Table.parse(self.old["tables"][name])
            schema = self.schema_of("tables", name)
            self.destructive.append(DestructiveChange("table", name,
                                                      "drops the table and its rows"))
            down, later = self.table_statements(name, self.old)
            self.add("drop", ("tables", name), [self.stmt(f"DROP TABLE {qname(name)}",
                                                          schema)], down,
                     covers=[("columns", f"{name}.{c}") for c in table.columns])
            if later:
                self.add("drop", ("table-indexes", name), [],
                         [self.stmt(f"ALTER TABLE {qname(name)} {a}", schema) for a in later],
                         rank="owned")
                self.before_drop.append((self.units[-1], ("tables", name)))
                for index in table.needs_indexes():
                    self.before_drop.append((self.units[-1],
                                             ("indexes", qualified(schema, index))))
        for name in self.names("tables", "changed"):
            self.table_change(name)
        for name in sorted(set(self.old.get("tables", {})) & set(self.new.get("tables", {}))):
            self.column_order(name)
        old_columns = self.old.get("columns", {})
        new_columns = self.new.get("columns", {})
        def position(item: tuple[str, str]) -> tuple[str, int]:
            owner, column = self.tables.split(item[0])
            text = self.get(self.new, "tables", owner)
            columns = Table.parse(text).columns if text else ()
            return owner, columns.index(column) if column in columns else -1

        previous: dict[str, Unit] = {}  # columns added to a table: in the table's order
        for key, change in sorted(self.changed.get("columns", {}).items(), key=position):
            owner, column = self.tables.split(key)
            if change == "extra" and self.existing_table(owner) and \
                    key not in self.rename_of.values():
                self.column_change(key, owner, column, change)
                if owner in previous:
                    self.units[-1].extra_needs.add(self.units.index(previous[owner]))
                previous[owner] = self.units[-1]
                continue
            if change != "changed" and not self.existing_table(owner):
                continue  # made or dropped with its table
            if change == "changed" and not self.existing_table(owner):
                continue  # the table is made again
            if key in self.rename_of or key in self.rename_of.values():
                continue
            self.column_change(key, owner, column, change)
        for old_key, new_key in self.rename_of.items():
            if old_columns[old_key] != new_columns[new_key]:
                owner, column = self.tables.split(new_key)
                self.column_change(new_key, owner, column, "changed", was=old_columns[old_key])

    def column_order(self, name: str) -> None:
        """A table's columns kept must keep their order, and the columns added come after
        them: a column is only ever added at the end."""
        was, now = Table.parse(self.old["tables"][name]), Table.parse(self.new["tables"][name])
        if now.partition_of:
            return  # a partition's columns are its parent's
        renamed = {self.tables.split(o)[1]: self.tables.split(n)[1]
                   for o, n in self.rename_of.items() if self.tables.split(o)[0] == name}
        kept = [renamed.get(c, c) for c in was.columns
                if f"{name}.{renamed.get(c, c)}" in self.new.get("columns", {})]
        if list(now.columns[:len(kept)]) != kept:
            moved = [c for c, d in zip(kept, now.columns) if c != d]
            added = [c for c in now.columns if c not in kept]
            gone = [c for c in was.columns if renamed.get(c, c) not in now.columns]
            self.problems.append(
                f"table {name}: its columns are in another order (from {moved[0]} on); a "
                "column is only ever added at the end: rebuild the table by hand" + (
                    f" (or, if {gone[0]} was renamed {added[0]}: --rename "
                    f"{name}.{gone[0]}={added[0]})" if gone and added else ""))

    def table_change(self, name: str) -> None:
        """A table's own options changed; those the generator does not change are problems."""
        was, now = Table.parse(self.old["tables"][name]), Table.parse(self.new["tables"][name])
        schema = self.schema_of("tables", name)
        q = qname(name)
        for what in ("partition_key", "partition_of", "inherits", "method"):
            if getattr(was, what) != getattr(now, what):
                self.problems.append(
                    f"table {name}: {what.replace('_', ' ')} {getattr(was, what) or 'none'} -> "
                    f"{getattr(now, what) or 'none'}: the generator does not change this yet")
        up, down = now.alters(was), was.alters(now)
        if up:
            self.add("alter", ("tables", name), [self.stmt(f"ALTER TABLE {q} {a}", schema)
                                                 for a in up],
                     [self.stmt(f"ALTER TABLE {q} {a}", schema) for a in down])
            for index in now.needs_indexes():
                self.attach.append((self.units[-1], ("indexes", qualified(schema, index))))
            for index in was.needs_indexes():
                self.before_drop.append((self.units[-1], ("indexes", qualified(schema, index))))

    def column_change(self, key: str, table: str, column: str, change: str, *,
                      was: str | None = None) -> None:
        """A column added, dropped or changed: its type, default, nullability, identity."""
        schema = self.schema_of("tables", table)
        alter = f"ALTER TABLE {qname(table)}"
        was = was if was is not None else self.get(self.old, "columns", key)
        now = self.get(self.new, "columns", key)
        if change == "extra":
            assert now is not None
            col = Column.parse(now)
            required = col.notnull and col.default is None and not col.identity and \
                not col.generated
            if required:
                self.warnings.append(
                    f"column {key}: added NOT NULL without a default: "
                    + ("its rows need a value before the second migration validates it"
                       if self.safe else f"adding it fails while {table} has rows"))
                if self.safe:  # added nullable, then SET NOT NULL through a validated check
                    col = dataclasses.replace(col, notnull=False)
            note = None
            if col.generated and col.generated.endswith(" stored"):
                note = (f"adds a generated column: this rewrites {table} under an ACCESS "
                        "EXCLUSIVE lock\nsquawk-ignore adding-field-with-default")
                self.warnings.append(f"column {key}: {note.splitlines()[0]}")
            self.add("create", ("columns", key),
                     [self.stmt(f"{alter} ADD COLUMN {col.sql(column)}", schema, note=note),
                      *(self.stmt(f"{alter} ALTER COLUMN {ident(column)} {a}", schema)
                        for a in col.settings())],
                     [self.stmt(f"{alter} DROP COLUMN {ident(column)}", schema)],
                     rank="columns")
            if required and self.safe:
                added = len(self.units) - 1
                self.set_not_null(key, table, column, schema)
                self.units[added + 1].extra_needs.add(added)
            return
        if change == "missing":
            assert was is not None
            col = Column.parse(was)
            if Table.parse(self.old["tables"][table]).columns[-1] != column:
                self.reordered.add(table)
                self.warnings.append(
                    f"column {key}: the rollback adds it back at the end of {table}, not where "
                    "it was (and without its data)")
            self.destructive.append(DestructiveChange("column", key,
                                                      "drops the column and its data"))
            self.add("drop", ("columns", key),
                     [self.stmt(f"{alter} DROP COLUMN {ident(column)}", schema)],
                     [self.stmt(f"{alter} ADD COLUMN {col.sql(column)}", schema),
                      *(self.stmt(f"{alter} ALTER COLUMN {ident(column)} {a}", schema)
                        for a in col.settings())],
                     rank="columns")
            return
        assert was is not None and now is not None
        old, new = Column.parse(was), Column.parse(now)
        target = f"{alter} ALTER COLUMN {ident(column)}"
        up: list[Statement] = []
        down: list[Statement] = []
        if old.generated != new.generated:
            self.problems.append(f"column {key}: generated {old.generated} -> {new.generated}:"
                                 " the generator does not alter a generated column yet")
        if old.type != new.type or old.collate != new.collate:
            collate = f" COLLATE {new.collate}" if new.collate else ""
            back = f" COLLATE {old.collate}" if old.collate else ""
            note = (f"changes the type of {key} from {old.type} to {new.type}: this rewrites "
                    f"{table} (and its indexes) under an ACCESS EXCLUSIVE lock"
                    if old.type != new.type else None)
            if note and old.collate == new.collate and _kept_as_is(old.type, new.type):
                note = (f"changes the type of {key} from {old.type} to {new.type}: its values "
                        f"are kept as they are, no rewrite of {table} (a short ACCESS "
                        "EXCLUSIVE lock)")
            elif note:
                self.warnings.append(note)
            fits = _widens(old.type, new.type) or self.enum_as_text(old.type, new.type)
            if note and not fits:
                self.destructive.append(DestructiveChange(
                    "column", key, f"type {old.type} -> {new.type} may not hold every "
                    "value"))
            if old.default is not None:
                up.append(self.stmt(f"{target} DROP DEFAULT", schema))
            # squawk's changing-column-type says what the note says: the warning is given
            ignore = "squawk-ignore changing-column-type"
            up.append(self.stmt(f"{target} TYPE {new.type}{collate} USING "
                                f"{ident(column)}::{new.type}", schema,
                                note=f"{note}\n{ignore}" if note else ignore))
            if new.default is not None:
                up.append(self.stmt(f"{target} SET DEFAULT {new.default}", schema))
            # (down is run backwards: these run as DROP DEFAULT, TYPE, SET DEFAULT)
            if old.default is not None:
                down.append(self.stmt(f"{target} SET DEFAULT {old.default}", schema))
            down.append(self.stmt(f"{target} TYPE {old.type}{back} USING "
                                  f"{ident(column)}::{old.type}", schema, note=ignore))
            if new.default is not None:
                down.append(self.stmt(f"{target} DROP DEFAULT", schema))
        elif old.default != new.default and not any(
                new.type.removesuffix("[]") in self.enum_names(t) for t in self.rebuilt_types):
            up.append(self.stmt(f"{target} SET DEFAULT {new.default}" if new.default is not None
                                else f"{target} DROP DEFAULT", schema))
            down.append(self.stmt(f"{target} SET DEFAULT {old.default}" if old.default
                                  is not None else f"{target} DROP DEFAULT", schema))
        if old.identity and new.identity and old.identity_options != new.identity_options:
            ignore_identity = "squawk-ignore ban-alter-identity"
            if new.identity_options:
                up.append(self.stmt(f"{target} {_identity_set(new.identity_options)}", schema,
                                    note=ignore_identity))
            if old.identity_options:
                down.append(self.stmt(f"{target} {_identity_set(old.identity_options)}",
                                      schema, note=ignore_identity))
            if not (new.identity_options and old.identity_options):
                shown = (old.identity_options or "default", new.identity_options or "default")
                self.problems.append(f"column {key}: identity options {shown[0]} -> "
                                     f"{shown[1]}: the generator does not reset them to their "
                                     "defaults")
        settings_up, settings_down = new.settings(old), old.settings(new)
        up += [self.stmt(f"{target} {a}", schema) for a in settings_up]
        down += [self.stmt(f"{target} {a}", schema) for a in reversed(settings_down)]
        if old.identity != new.identity:
            said = (f"the identity of {key}: {old.identity or 'none'} -> "
                    f"{new.identity or 'none'}, as the database has it\n"
                    "squawk-ignore ban-alter-identity")
            self.warnings.append(f"column {key}: identity {old.identity or 'none'} -> "
                                 f"{new.identity or 'none'}")
            if old.identity and new.identity:
                up.append(self.stmt(f"{target} SET GENERATED {new.identity.upper()}", schema,
                                    note=said))
                down.append(self.stmt(f"{target} SET GENERATED {old.identity.upper()}", schema,
                                      note="squawk-ignore ban-alter-identity"))
            elif new.identity:
                up.append(self.stmt(f"{target} ADD GENERATED {new.identity.upper()} AS IDENTITY",
                                    schema, note=said))
                down.append(self.stmt(f"{target} DROP IDENTITY", schema,
                                      note="squawk-ignore ban-alter-identity"))
            else:
                assert old.identity is not None
                self.destructive.append(DestructiveChange(
                    "column", key, "drops its identity (and the sequence's position)"))
                up.append(self.stmt(f"{target} DROP IDENTITY", schema, note=said))
                down.append(self.stmt(f"{target} ADD GENERATED {old.identity.upper()} AS "
                                      "IDENTITY", schema,
                                      note="squawk-ignore ban-alter-identity"))
        if old.notnull and not new.notnull and not (old.identity and not new.identity):
            self.destructive.append(DestructiveChange(
                "column", key, "drops NOT NULL: readers that rely on a value get nulls"))
            up.append(self.stmt(f"{target} DROP NOT NULL", schema))
            down.append(self.stmt(f"{target} SET NOT NULL", schema))
        if up or down:
            self.add("alter", ("columns", key), up, list(reversed(down)), rank="columns")
        if new.notnull and not old.notnull and not (new.identity and not old.identity):
            self.set_not_null(key, table, column, schema)

    def set_not_null(self, key: str, table: str, column: str, schema: str) -> None:
        """``SET NOT NULL`` on a table in use: a check ``NOT VALID``, validated, then
        ``SET NOT NULL`` (which the validated check spares a scan of the table) and the check
        dropped."""
        q = qname(table)
        target = f"ALTER TABLE {q} ALTER COLUMN {ident(column)}"
        if not self.safe:
            self.add("alter", ("columns", key), [self.stmt(f"{target} SET NOT NULL", schema)],
                     [self.stmt(f"{target} DROP NOT NULL", schema)], rank="columns")
            return
        check_name = short(f"{split(table)[1]}_{column}_not_null_check")
        check = ident(check_name)
        condition = f"CHECK ({ident(column)} IS NOT NULL)"
        self.add("alter", ("columns", key),
                 [self.stmt(f"ALTER TABLE {q} ADD CONSTRAINT {check} {condition} NOT VALID",
                            schema)],
                 [self.stmt(f"ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {check}", schema)],
                 rank="columns")
        self.add("alter", ("not-null", key),
                 [self.stmt(f"ALTER TABLE {q} VALIDATE CONSTRAINT {check}", schema,
                            note="squawk-ignore prefer-robust-stmts", transactional=False),
                  self.stmt(f"{target} SET NOT NULL", schema,
                            note="squawk-ignore prefer-robust-stmts", transactional=False),
                  self.stmt(f"ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {check}", schema,
                            note="squawk-ignore ban-drop-constraint", transactional=False)],
                 [self.stmt(not_valid_again(table, check_name, condition),
                            schema, transactional=False),
                  self.stmt(f"{target} DROP NOT NULL", schema, transactional=False,
                            note="squawk-ignore prefer-robust-stmts")],
                 rank="foreign_keys", phase=AFTER)
        self.units[-1].extra_needs = {len(self.units) - 2}
