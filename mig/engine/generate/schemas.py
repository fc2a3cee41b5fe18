"""Schemas, extensions, collations, types (enums, domains) and sequences, rendered."""

from __future__ import annotations

import re

from ...disk.sqltext import top_level
from ...reports import DestructiveChange
from ..snapshot import Snapshot
from .definitions import Column
from .model import BEFORE, Statement
from .quoting import ident, literal, qname, qualified, split
from .state import PlannerState

# A domain's text: base type, collation, NOT NULL, default, then its constraints.
_DOMAIN = re.compile(r"^(?P<base>.*?)(?P<collate> collate \S+)?(?P<notnull> not null)?"
                     r"(?: default (?P<default>.*?))?(?P<constraints>(?: (?:CHECK \(|NOT NULL)"
                     r".*)?)$", re.DOTALL)
_LABEL = re.compile(r"'((?:[^']|'')*)'")


def _collation(name: str, text: str) -> str:
    """``CREATE COLLATION`` from the snapshot's text (``provider icu locale 'und'
    nondeterministic``)."""
    options = [f"{word} = {value}" for word, value in re.findall(
        r"(provider|lc_collate|lc_ctype|locale|rules) ('(?:[^']|'')*'|\S+)", text)
        if value != "NULL"]
    if text.endswith(" nondeterministic"):
        options.append("deterministic = false")
    return f"CREATE COLLATION {qname(name)} ({', '.join(options)})"


def _extension(name: str, text: str) -> str:
    version, schema = _extension_parts(text)
    return (f"CREATE EXTENSION IF NOT EXISTS {ident(name)} WITH SCHEMA {ident(schema)} "
            f"VERSION {literal(version)}")


def _extension_parts(text: str) -> tuple[str, str]:
    found = re.match(r"version (.*) in schema (.*)$", text)
    assert found is not None
    return found.group(1), found.group(2)


def _type(name: str, text: str) -> str:
    kind, _, body = text.partition(" ")
    body = body[1:-1]  # the parentheses
    if kind == "enum":
        return f"CREATE TYPE {qname(name)} AS ENUM ({body})"
    if kind == "range":
        found = re.match(r"(?P<subtype>.*?)(?: collate (?P<collation>\S+))?"
                         r"(?: subtype_opclass (?P<subtype_opclass>\S+))?"
                         r"(?: canonical (?P<canonical>\S+))?"
                         r"(?: subtype_diff (?P<subtype_diff>\S+))?$", body)
        assert found is not None
        options = [f"{word.upper()} = {value}" for word, value in found.groupdict().items()
                   if value]
        return f"CREATE TYPE {qname(name)} AS RANGE ({', '.join(options)})"
    if kind == "composite":
        fields = []
        for item in top_level(body):
            field_name, _, field_type = item.partition(" ")
            fields.append(f"{ident(field_name)} {field_type}")
        return f"CREATE TYPE {qname(name)} AS ({', '.join(fields)})"
    # a domain: base type, ' collate X', ' not null', ' default X', its constraints
    if " NOT NULL" in body and " not null" in body:
        body = body.replace(" not null", "", 1)
    body = body.replace(" not null", " NOT NULL", 1)
    body = re.sub(r" default ", " DEFAULT ", body, count=1)
    body = re.sub(r"^(\S.*?) collate ", r"\1 COLLATE ", body, count=1)
    return f"CREATE DOMAIN {qname(name)} AS {body}"


_SEQUENCE = re.compile(r"^(?P<type>.*?) start (?P<start>-?\d+) increment (?P<inc>-?\d+) "
                       r"min (?P<min>-?\d+) max (?P<max>-?\d+) cache (?P<cache>\d+)"
                       r"(?P<cycle> cycle)?(?: owned by (?P<owner>.*))?$")


def _sequence(text: str) -> tuple[str, str | None]:
    """A sequence's options as SQL and the column that owns it (if the text says one)."""
    found = _SEQUENCE.match(text)
    assert found is not None, text
    options = (f"AS {found['type']} INCREMENT BY {found['inc']} MINVALUE {found['min']} "
               f"MAXVALUE {found['max']} START WITH {found['start']} CACHE {found['cache']} "
               + ("CYCLE" if found["cycle"] else "NO CYCLE"))
    return options, found["owner"]


class SchemaPlanner(PlannerState):
    """The schemas, extensions, collations, types and sequences."""

    # schemas, extensions --------------------------------------------------------------------
    def schemas_and_extensions(self) -> None:
        """The schemas and extensions made, dropped and changed."""
        for name in self.names("schemas", "extra"):
            self.add("create", ("schemas", name),
                     [self.stmt(f"CREATE SCHEMA {ident(name)}", "public")],
                     [self.stmt(f"DROP SCHEMA {ident(name)}", "public")])
        for name in self.names("schemas", "missing"):
            self.destructive.append(DestructiveChange("schema", name, "drops the schema"))
            self.add("drop", ("schemas", name),
                     [self.stmt(f"DROP SCHEMA {ident(name)}", "public")],
                     [self.stmt(f"CREATE SCHEMA {ident(name)}", "public")])
        for name, change in self.changed.get("extensions", {}).items():
            was = self.get(self.old, "extensions", name)
            now = self.get(self.new, "extensions", name)
            if change == "extra":
                assert now is not None
                self.add("create", ("extensions", name), [self.stmt(_extension(name, now),
                                                                    "public")],
                         [self.stmt(f"DROP EXTENSION {ident(name)}", "public")])
            elif change == "missing":
                assert was is not None
                self.add("drop", ("extensions", name),
                         [self.stmt(f"DROP EXTENSION {ident(name)}", "public")],
                         [self.stmt(_extension(name, was), "public")])
            else:
                assert was is not None and now is not None
                up, down = [], []
                (v1, s1), (v2, s2) = _extension_parts(was), _extension_parts(now)
                if v1 != v2:
                    up.append(f"ALTER EXTENSION {ident(name)} UPDATE TO {literal(v2)}")
                    down.append(f"ALTER EXTENSION {ident(name)} UPDATE TO {literal(v1)}")
                if s1 != s2:
                    up.append(f"ALTER EXTENSION {ident(name)} SET SCHEMA {ident(s2)}")
                    down.insert(0, f"ALTER EXTENSION {ident(name)} SET SCHEMA {ident(s1)}")
                self.add("alter", ("extensions", name), [self.stmt(s, "public") for s in up],
                         [self.stmt(s, "public") for s in down])

    # collations ------------------------------------------------------------------------------
    def collations(self) -> None:
        """The collations made, dropped and changed."""
        for name in self.changed.get("collations", {}):
            schema = self.schema_of("collations", name)
            was = self.get(self.old, "collations", name)
            now = self.get(self.new, "collations", name)
            drop = f"DROP COLLATION {qname(name)}"
            if was is not None:
                note = self.drop_note("collations", name, "ban-drop-collation",
                                      "drops the collation: what sorts by it fails")
                self.add("drop", ("collations", name), [self.stmt(drop, schema, note=note)],
                         [self.stmt(_collation(name, was), schema)])
            if now is not None:
                self.add("create", ("collations", name),
                         [self.stmt(_collation(name, now), schema)], [self.stmt(drop, schema)])

    # types ----------------------------------------------------------------------------------
    def types(self) -> None:
        """The types (enums, domains, composite and range types) made, dropped and changed."""
        for name, change in self.changed.get("types", {}).items():
            schema = self.schema_of("types", name)
            was = self.get(self.old, "types", name)
            now = self.get(self.new, "types", name)
            if change == "extra":
                assert now is not None
                self.add("create", ("types", name), [self.stmt(_type(name, now), schema)],
                         [self.stmt(f"DROP TYPE {qname(name)}", schema)])
            elif change == "missing":
                assert was is not None
                self.destructive.append(DestructiveChange("type", name, "drops the type"))
                self.add("drop", ("types", name),
                         [self.stmt(f"DROP {'DOMAIN' if was.startswith('domain') else 'TYPE'} "
                                    f"{qname(name)}", schema)],
                         [self.stmt(_type(name, was), schema)])
            else:
                assert was is not None and now is not None
                if was.startswith("enum (") and now.startswith("enum ("):
                    self.enum_change(name, schema, was, now)
                elif was.startswith("domain (") and now.startswith("domain (") and \
                        self.domain_change(name, schema, was[8:-1], now[8:-1]):
                    pass
                else:
                    self.problems.append(
                        f"type {name}: changed from {was} to {now}; the generator alters a "
                        "domain's default and NOT NULL, and an enum's values, not this: write "
                        "this change by hand")

    def domain_change(self, name: str, schema: str, was: str, now: str) -> bool:
        """A domain's default and ``NOT NULL`` changed with ``ALTER DOMAIN``; False when
        anything else changed (its base type, collation or checks)."""
        old, new = _DOMAIN.match(was), _DOMAIN.match(now)
        assert old is not None and new is not None
        def rest(found: re.Match) -> tuple[str, str | None, str]:
            return (found["base"], found["collate"],
                    found["constraints"].replace(" NOT NULL", ""))
        if rest(old) != rest(new):
            return False
        target = f"ALTER DOMAIN {qname(name)}"
        up, down = [], []
        if old["default"] != new["default"]:
            up.append(f"{target} SET DEFAULT {new['default']}" if new["default"] is not None
                      else f"{target} DROP DEFAULT")
            down.append(f"{target} SET DEFAULT {old['default']}" if old["default"] is not None
                        else f"{target} DROP DEFAULT")
        if bool(old["notnull"]) != bool(new["notnull"]):
            up.append(f"{target} {'SET' if new['notnull'] else 'DROP'} NOT NULL")
            down.append(f"{target} {'SET' if old['notnull'] else 'DROP'} NOT NULL")
            if old["notnull"]:
                self.destructive.append(DestructiveChange(
                    "type", name, "drops NOT NULL: readers that rely on a value get nulls"))
        self.add("alter", ("types", name), [self.stmt(t, schema) for t in up],
                 [self.stmt(t, schema) for t in reversed(down)])
        return True

    def enum_change(self, name: str, schema: str, was: str, now: str) -> None:
        """An enum changed: values added in place, or the type made again."""
        old = [v.replace("''", "'") for v in _LABEL.findall(was)]
        new = [v.replace("''", "'") for v in _LABEL.findall(now)]
        kept = [v for v in new if v in old]
        rebuild_down = self.enum_rebuild(name, schema, old, self.old, warn=False)
        if kept == old:  # values only added: ALTER TYPE ... ADD VALUE
            up = []
            for index, value in enumerate(new):
                if value in old:
                    continue
                later = next((v for v in new[index + 1:] if v in old), None)
                where = f" BEFORE {literal(later)}" if later is not None else (
                    f" AFTER {literal(new[index - 1])}" if index else "")
                up.append(self.stmt(f"ALTER TYPE {qname(name)} ADD VALUE IF NOT EXISTS "
                                    f"{literal(value)}{where}", schema))
            self.added_labels[name] = [v for v in new if v not in old]
            self.add("alter", ("types", name), up, rebuild_down)
            removed: list[str] = []
        else:
            removed = [v for v in old if v not in new]
            self.rebuilt_types.add(name)
            self.add("alter", ("types", name), self.enum_rebuild(name, schema, new, self.new),
                     rebuild_down)
        if removed:
            self.destructive.append(DestructiveChange(
                "type", name, f"removes enum value(s) {', '.join(map(literal, removed))}: the "
                "type is rebuilt, and rows holding them fail the cast"))

    def enum_values_first(self) -> None:
        """Enum values that a statement of the plan uses are added before it, in a migration of
        their own outside a transaction (a value added in a transaction cannot be used until
        it commits); its rollback rebuilds the type without them, in one re-runnable block."""
        added = self.added_labels
        for unit in self.units:
            if unit.key[0] != "types" or unit.key[1] not in added or unit.action != "alter":
                continue
            labels = [literal(v) for v in added[unit.key[1]]]
            others = [s.sql for u in self.units if u is not unit for s in u.up]
            if not any(label in text for label in labels for text in others):
                continue
            unit.phase = BEFORE
            schema = self.schema_of("types", unit.key[1])
            body = "\n".join("    " + s.sql.replace("\n", "\n    ") for s in unit.down)
            condition = " OR ".join(
                f"EXISTS (SELECT FROM pg_enum WHERE enumtypid = {literal(qname(unit.key[1]))}"
                f"::regtype AND enumlabel = {label})" for label in labels)
            unit.down = [self.stmt(f"DO $mig$\nBEGIN\n  IF {condition} THEN\n{body}\n"
                                   "  END IF;\nEND\n$mig$", schema)]

    def enum_as_text(self, old: str, new: str) -> bool:
        """Whether ``old`` is an enum of the history and ``new`` unbounded text, which holds
        every one of its values."""
        return new in ("text", "character varying") and any(
            old in self.enum_names(name) for name, text in self.old.get("types", {}).items()
            if text.startswith("enum ("))

    def enum_names(self, name: str) -> set[str]:
        """How a column's type text may name the type ``name``."""
        schema, base = split(name)
        return {base, qname(name), name, f"{schema}.{base}"}

    def enum_rebuild(self, name: str, schema: str, values: list[str], side: Snapshot, *,
                     warn: bool = True) -> list[Statement]:
        """The type made again with ``values``: renamed away, created, every column of it
        cast to the new one (with the default it has in ``side``), the old one dropped."""
        base = split(name)[1]
        spare = f"{base}__mig_old"
        qualified = qname(name)
        shown = self.enum_names(name)
        out = [self.stmt(f"ALTER TYPE {qualified} RENAME TO {ident(spare)}", schema,
                         note=f"the enum {name} made again: the old one is renamed away, its "
                         "columns cast to the new one, and it is dropped\n"
                         "squawk-ignore renaming-object"),
               self.stmt(f"CREATE TYPE {qualified} AS ENUM ("
                         + ", ".join(literal(v) for v in values) + ")", schema)]
        for key, text in sorted(self.old.get("columns", {}).items()):
            column = Column.parse(text)
            array = column.type.endswith("[]")
            if column.type.removesuffix("[]") not in shown or key not in side.get("columns", {}):
                continue
            default = Column.parse(side["columns"][key]).default
            table, col = self.tables.split(key)
            target = qualified + ("[]" if array else "")
            cast = f"{ident(col)}::text{'[]' if array else ''}::{target}"
            alter = f"ALTER TABLE {qname(table)} ALTER COLUMN {ident(col)}"
            if column.default is not None:
                out.append(self.stmt(f"{alter} DROP DEFAULT", schema))
            note = (f"rewrites {table} under an ACCESS EXCLUSIVE lock\n"
                    "squawk-ignore changing-column-type")
            out.append(self.stmt(f"{alter} TYPE {target} USING {cast}", schema, note=note))
            if warn:
                self.warnings.append(f"type {name}: made again with other values: casting "
                                     f"{key} to it rewrites {table} under an ACCESS EXCLUSIVE "
                                     "lock")
            if default is not None:
                out.append(self.stmt(f"{alter} SET DEFAULT {default}", schema))
        out.append(self.stmt(f"DROP TYPE {ident(split(name)[0])}.{ident(spare)}", schema))
        return out

    # sequences ------------------------------------------------------------------------------
    def sequences(self) -> None:
        """The sequences made, dropped and changed, and what owns them."""
        for name, change in self.changed.get("sequences", {}).items():
            if ("sequences", name) in self.made:
                continue
            schema = self.schema_of("sequences", name)
            was = self.get(self.old, "sequences", name)
            now = self.get(self.new, "sequences", name)
            if change == "extra":
                assert now is not None
                text, owner = _sequence(now)
                self.add("create", ("sequences", name),
                         [self.stmt(f"CREATE SEQUENCE {qname(name)} {text}", schema)],
                         [self.stmt(f"DROP SEQUENCE IF EXISTS {qname(name)}", schema)])
                if owner:
                    self.owned_by(name, schema, owner)
            elif change == "missing":
                assert was is not None
                text, owner = _sequence(was)
                column = self.owner_key(schema, owner)
                if column and self.tables.split(column)[0] not in self.new.get("tables", {}):
                    continue  # dropped with its table; made again by the table's rollback
                self.destructive.append(DestructiveChange("sequence", name,
                                                    "drops the sequence and its position"))
                self.add("drop", ("sequences", name),
                         [self.stmt(f"DROP SEQUENCE {qname(name)}", schema)],
                         [self.stmt(f"CREATE SEQUENCE {qname(name)} {text}", schema)])
            else:
                assert was is not None and now is not None
                (t1, o1), (t2, o2) = _sequence(was), _sequence(now)
                if t1 != t2:
                    self.add("alter", ("sequences", name),
                             [self.stmt(f"ALTER SEQUENCE {qname(name)} {t2}", schema)],
                             [self.stmt(f"ALTER SEQUENCE {qname(name)} {t1}", schema)])
                if o1 != o2:
                    self.owned_by(name, schema, o2, o1)

    def owner_key(self, schema: str, owner: str | None) -> str | None:
        """The snapshot key of the column a sequence's ``owned by`` text names (relative to the
        sequence's schema, quoted as SQL)."""
        if not owner:
            return None
        parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p
                 for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', owner)]
        if len(parts) == 2:
            parts.insert(0, schema)
        return f"{qualified(parts[0], parts[1])}.{parts[2]}"

    def owned_by(self, name: str, schema: str, owner: str | None, was: str | None = None
                 ) -> None:
        """``ALTER SEQUENCE ... OWNED BY``, the column as the snapshot writes it (SQL, relative
        to the sequence's schema), after the sequence and the column are made."""
        self.add("create", ("owned", name),
                 [self.stmt(f"ALTER SEQUENCE {qname(name)} OWNED BY {owner or 'NONE'}",
                            schema)],
                 [self.stmt(f"ALTER SEQUENCE {qname(name)} OWNED BY {was or 'NONE'}", schema)],
                 rank="owned")
        column = self.owner_key(schema, owner)
        self.owned_needs.append((self.units[-1], [("sequences", name)]
                                 + ([("columns", column)] if column else [])))
