"""Two schema snapshots rendered as the SQL that takes one to the other, and back.

:func:`plan` is the generator's one entry point: the schema before (with its owner role and its
dependencies), the schema after (likewise), and it returns a :class:`Plan`: the statements that
take ``before`` to ``after`` in dependency order (``up``), those that take it back (``down``,
drops in the reverse order), each knowing whether it must run outside a transaction, plus the
destructive changes found and the warnings. Nothing here connects to a database: the snapshots
(:mod:`mig.engine.snapshot`) and the dependencies (:mod:`mig.engine.depends`) are read by the
caller; ``mig new --from`` and ``mig squash`` prove what it renders on a scratch database.

Statements are grouped in up to three migrations (:meth:`Plan.migrations`): enum values that
later statements use (added outside a transaction), the transactional body, and what is safe
under load only outside a transaction (``CREATE INDEX CONCURRENTLY``, ``VALIDATE CONSTRAINT``
of constraints added ``NOT VALID``, ``SET NOT NULL`` through a validated check).

Definitions come from the server's ``pg_get_*def`` functions, read with the search path set to
the object's own schema: each statement carries its schema, and the migration sets
``search_path`` to it (then ``pg_catalog``) before the statements of that schema.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..ordering import Cycle, stable_order
from ..reports import DestructiveChange
from .comparison import OWNER, OwnedSchema, differences
from .depends import Dependencies, Key
from .snapshot import SECTIONS as SECTION_WORDS
from .snapshot import Snapshot

#: Phases of a plan: each is a migration of its own.
BEFORE, MAIN, AFTER = 0, 1, 2


@dataclass(frozen=True)
class Statement:
    """One statement of a plan: its SQL (ending with ``;``), the schema whose search path it
    runs under, whether it can run inside a transaction, and a comment written above it."""

    sql: str
    schema: str = "public"
    transactional: bool = True
    note: str | None = None
    phase: int = MAIN


@dataclass(frozen=True)
class PlannedMigration:
    """One migration of a plan: its statements up and down, whether it runs in a transaction,
    and its phase (:data:`BEFORE`, :data:`MAIN`, :data:`AFTER`)."""

    phase: int
    transactional: bool
    up: tuple[Statement, ...]
    down: tuple[Statement, ...]


@dataclass(frozen=True)
class Plan:
    """What :func:`plan` renders: ``up`` in order, ``down`` in order (the reverse changes),
    the destructive changes, the warnings, and the tables whose rollback cannot put a dropped
    column back where it was (``reordered``: it is added at the end)."""

    up: tuple[Statement, ...]
    down: tuple[Statement, ...]
    destructive: tuple[DestructiveChange, ...] = ()
    warnings: tuple[str, ...] = ()
    reordered: tuple[str, ...] = ()  # tables whose rollback adds a dropped column at the end

    @property
    def empty(self) -> bool:
        """Whether there is nothing to do."""
        return not self.up

    def migrations(self) -> list[PlannedMigration]:
        """The plan split into the migrations that run it, in order: only the phases that
        have statements; each rollback holds the down statements of its phase."""
        result = []
        for phase in (BEFORE, MAIN, AFTER):
            up = tuple(s for s in self.up if s.phase == phase)
            if up:
                down = tuple(s for s in self.down if s.phase == phase)
                result.append(PlannedMigration(phase, phase == MAIN, up, down))
        return result


class CannotGenerate(Exception):
    """Changes the generator cannot render (yet): each a line naming the object and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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


def _split(name: str) -> tuple[str, str]:
    """A schema-level key (``users``, ``billing.invoices``) as (schema, name)."""
    head = name.split("(", 1)[0]
    if "." in head:
        schema, rest = name.split(".", 1)
        return schema, rest
    return "public", name


def _qname(name: str) -> str:
    schema, rest = _split(name)
    return f"{ident(schema)}.{ident(rest)}"


def _function_name(name: str) -> str:
    schema, rest = _split(name)
    base, args = rest.split("(", 1)
    return f"{ident(schema)}.{ident(base)}({args}"


class _Tables:
    """Which table a child key (``users.email``, ``billing.invoices.total``) belongs to."""

    def __init__(self, *snapshots: dict) -> None:
        self.names = set()
        for snap in snapshots:
            self.names |= set(snap.get("tables", {})) | set(snap.get("views", {}))

    def split(self, key: str) -> tuple[str, str]:
        parts = key.split(".")
        if len(parts) >= 3 and ".".join(parts[:2]) in self.names:
            return ".".join(parts[:2]), ".".join(parts[2:])
        if parts[0] in self.names or len(parts) < 3:
            return parts[0], ".".join(parts[1:])
        return ".".join(parts[:2]), ".".join(parts[2:])


# -- parsed definitions -----------------------------------------------------------------------
_COLUMN = re.compile(r'^(?P<type>.*?)(?P<collate> collate "[^"]*")?(?P<notnull> not null)?'
                     r"(?: default (?P<default>.*?))?(?P<rest> generated .*?)?"
                     r"(?: storage (?P<storage>\w+))?(?: compression (?P<compression>\w+))?"
                     r"(?: statistics (?P<statistics>-?\d+))?(?: with (?P<options>\(.*\)))?$",
                     re.DOTALL)  # an expression may span lines
# A domain's text: base type, collation, NOT NULL, default, then its constraints.
_DOMAIN = re.compile(r"^(?P<base>.*?)(?P<collate> collate \S+)?(?P<notnull> not null)?"
                     r"(?: default (?P<default>.*?))?(?P<constraints>(?: (?:CHECK \(|NOT NULL)"
                     r".*)?)$", re.DOTALL)
_INHERITED = re.compile(r" -- inherited from .*$")
_LABEL = re.compile(r"'((?:[^']|'')*)'")


@dataclass(frozen=True)
class _Column:
    type: str
    collate: str | None
    notnull: bool
    default: str | None
    generated: str | None  # "always as (expr) stored" (or "virtual")
    identity: str | None  # "always" | "by default"
    identity_options: str  # "start with 100 increment by 10", or ""
    storage: str | None = None
    compression: str | None = None
    statistics: str | None = None
    options: str | None = None  # "n_distinct=100"

    @classmethod
    def parse(cls, text: str) -> _Column:
        found = _COLUMN.match(text)
        assert found is not None, text
        rest = (found["rest"] or "").strip()
        identity = generated = None
        options = ""
        if " as identity" in rest:
            head, _, tail = rest.partition(" as identity")
            identity = head.removeprefix("generated ")
            options = tail.strip().removeprefix("(").removesuffix(")")
        elif rest:
            generated = rest.removeprefix("generated ")
        collate = found["collate"].strip().removeprefix("collate ") if found["collate"] else None
        column_options = found["options"][1:-1] if found["options"] else None
        return cls(found["type"], collate, bool(found["notnull"]), found["default"], generated,
                   identity, options, found["storage"], found["compression"],
                   found["statistics"], column_options)

    def sql(self, name: str) -> str:
        """The column as ``CREATE TABLE`` and ``ADD COLUMN`` write it (its storage settings
        are set by :meth:`settings`)."""
        words = [ident(name), self.type]
        if self.collate:
            words.append(f"COLLATE {self.collate}")
        if self.generated:
            words.append(f"GENERATED {self.generated}")
        elif self.default is not None:
            words.append(f"DEFAULT {self.default}")
        if self.identity:
            words.append(f"GENERATED {self.identity.upper()} AS IDENTITY"
                         + (f" ({self.identity_options})" if self.identity_options else ""))
        if self.notnull:
            words.append("NOT NULL")
        return " ".join(words)

    def settings(self, other: _Column | None = None) -> list[str]:
        """``ALTER COLUMN`` actions that give the column this one's storage, compression,
        statistics target and options (from ``other``'s, or from a new column's)."""
        was = other or _Column("", None, notnull=False, default=None, generated=None,
                               identity=None, identity_options="")
        out = []
        if self.storage != was.storage:
            out.append(f"SET STORAGE {(self.storage or 'default').upper()}")
        if self.compression != was.compression:
            out.append(f"SET COMPRESSION {self.compression or 'default'}")
        if self.statistics != was.statistics:
            out.append(f"SET STATISTICS {self.statistics or -1}")
        if self.options != was.options:
            gone = _option_names(was.options) - _option_names(self.options)
            if gone:
                out.append(f"RESET ({', '.join(sorted(gone))})")
            if self.options:
                out.append(f"SET ({self.options})")
        return out


# A table's words after its column list, in the order the snapshot writes them; each runs to
# the next one (a partition's bounds, a partition key, are free text).
_TABLE_WORDS = ("unlogged", "partitioned by", "partitioned", "foreign", "using",
                "partition of", "inherits", "row level security forced",
                "row level security", "with", "replica identity", "clustered on")


@dataclass(frozen=True)
class _Table:
    columns: tuple[str, ...]
    unlogged: bool = False
    partition_key: str | None = None  # RANGE (created)
    method: str | None = None  # a table access method other than heap
    partition_of: str | None = None  # "parent FOR VALUES ..."
    inherits: str | None = None  # "a, b"
    rls: bool = False
    force_rls: bool = False
    options: str | None = None
    replica: str | None = None  # "full", "nothing", "index name"
    clustered: str | None = None
    rest: str = ""  # words this generator does not know

    @classmethod
    def parse(cls, text: str) -> _Table:
        columns: tuple[str, ...] = ()
        if text.startswith("("):
            inside, text = text[1:].split(")", 1)
            columns = tuple(c for c in inside.split(", ") if c)
        words = " " + text.strip()
        marks = "|".join(re.escape(w) for w in _TABLE_WORDS)
        parts: dict[str, str] = {}
        rest = []
        for found in re.finditer(rf" ({marks})\b(.*?)(?= (?:{marks})\b|$)", words):
            word, value = found.group(1), found.group(2).strip()
            if word == "with" and not value.startswith("("):
                rest.append(found.group(0).strip())
                continue
            parts[word] = value
        unknown = re.sub(rf" ({marks})\b(.*?)(?= (?:{marks})\b|$)", "", words).strip()
        if unknown:
            rest.append(unknown)
        if "partitioned" in parts or "foreign" in parts:
            rest.append("foreign" if "foreign" in parts else "partitioned")
        options = parts.get("with")
        return cls(
            columns, "unlogged" in parts, parts.get("partitioned by"), parts.get("using"),
            parts.get("partition of"),
            parts["inherits"][1:-1] if "inherits" in parts else None,
            "row level security" in parts or "row level security forced" in parts,
            "row level security forced" in parts,
            options[1:-1] if options else None, parts.get("replica identity"),
            parts.get("clustered on"), " ".join(rest))

    def create(self, name: str, columns: list[str]) -> str:
        """``CREATE TABLE`` for this table with the columns' SQL ``columns``."""
        head = f"CREATE {'UNLOGGED ' if self.unlogged else ''}TABLE {_qname(name)}"
        if self.partition_of:
            text = f"{head} PARTITION OF {self.partition_of}"
        else:
            text = f"{head} (" + ("\n    " + ",\n    ".join(columns) + "\n" if columns
                                 else "") + ")"
            if self.inherits:
                text += f" INHERITS ({self.inherits})"
        if self.partition_key:
            text += f" PARTITION BY {self.partition_key}"
        if self.method:
            text += f" USING {self.method}"
        if self.options:
            text += f" WITH ({self.options})"
        return text

    def alters(self, other: _Table | None = None) -> list[str]:
        """``ALTER TABLE`` actions that give a table made as ``other`` (or as :meth:`create`
        makes it) this one's row level security, replica identity and clustering."""
        was = other or _Table(self.columns, options=self.options, unlogged=self.unlogged)
        out = []
        if self.unlogged != was.unlogged:
            out.append("SET UNLOGGED" if self.unlogged else "SET LOGGED")
        if self.rls != was.rls:
            out.append(("ENABLE" if self.rls else "DISABLE") + " ROW LEVEL SECURITY")
        if self.force_rls != was.force_rls:
            out.append(("FORCE" if self.force_rls else "NO FORCE") + " ROW LEVEL SECURITY")
        if self.options != was.options:
            gone = _option_names(was.options) - _option_names(self.options)
            if gone:
                out.append(f"RESET ({', '.join(sorted(gone))})")
            if self.options:
                out.append(f"SET ({self.options})")
        if self.replica != was.replica:
            replica = self.replica or "default"
            out.append("REPLICA IDENTITY " + (
                f"USING INDEX {ident(replica.removeprefix('index '))}"
                if replica.startswith("index ") else replica.upper()))
        if self.clustered != was.clustered:
            out.append(f"CLUSTER ON {ident(self.clustered)}" if self.clustered
                       else "SET WITHOUT CLUSTER")
        return out

    def needs_indexes(self) -> list[str]:
        """The indexes its replica identity and clustering name."""
        found = [self.clustered] if self.clustered else []
        if self.replica and self.replica.startswith("index "):
            found.append(self.replica.removeprefix("index "))
        return found


def _acl(text: str | None) -> set[tuple[str, str, bool]]:
    """An ACL's (grantee, privilege letter, with grant option) triples; PUBLIC is ``""``."""
    result: set[tuple[str, str, bool]] = set()
    if not text:
        return result
    inner = text.strip("{}")
    for item in re.findall(r'((?:"(?:[^"]|"")*"|[^,=\s])*)=([a-zA-Z*]*)/', inner):
        grantee, privileges = item
        if grantee.startswith('"'):
            grantee = grantee[1:-1].replace('""', '"')
        letters = re.findall(r"([a-zA-Z])(\*?)", privileges)
        for letter, star in letters:
            result.add((grantee, letter, bool(star)))
    return result


_PRIVILEGES = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "D": "TRUNCATE",
               "x": "REFERENCES", "t": "TRIGGER", "X": "EXECUTE", "U": "USAGE", "C": "CREATE",
               "c": "CONNECT", "T": "TEMPORARY", "m": "MAINTAIN", "s": "SET",
               "A": "ALTER SYSTEM"}
# What PUBLIC may do with a new object of each kind of grant key, unasked.
_PUBLIC_DEFAULT = {"function": {("", "X", False)}, "type": {("", "U", False)}}
_DEFAULT_OBJECTS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES",
                    "n": "SCHEMAS"}
_DEFAULT_KIND = {"r": "table", "S": "sequence", "f": "function", "T": "type", "n": "schema"}


def roles(snapshot: Snapshot) -> set[str]:
    """The roles a schema's grants, policies and default privileges name (PUBLIC aside): they
    must exist wherever a migration that makes the schema runs."""
    found: set[str] = set()
    for section in ("grants", "default_privileges"):
        for key, text in snapshot.get(section, {}).items():
            found |= {grantee for grantee, _, _ in _acl(text)}
            if section == "default_privileges":
                found.add(key.partition(" in ")[0].rsplit(" ", 1)[0])
    for text in snapshot.get("policies", {}).values():
        to = re.match(r"\w+ for \w+ to (.*?)(?= using \(| with check \(|$)", text)
        if to:
            found |= set(to.group(1).split(", "))
    found.discard("")
    found.discard("public")
    return found


def _grantee(name: str) -> str:
    if name == OWNER:
        return "CURRENT_USER"
    return "PUBLIC" if name == "" else ident(name)


# What the owner of a new object of each kind may do with it, unasked (PostgreSQL 17 gave
# tables MAINTAIN).
_OWNER_DEFAULT = {"table": "arwdDxt", "sequence": "rwU", "function": "X", "type": "U",
                  "schema": "UC"}


def _owner_default(kind: str, version: int) -> set[tuple[str, str, bool]]:
    letters = _OWNER_DEFAULT.get(kind, "") + ("m" if kind == "table" and version >= 17 else "")
    return {(OWNER, letter, False) for letter in letters}


# -- the plan ---------------------------------------------------------------------------------
@dataclass
class _Unit:
    """A change and its reverse: the statements of one object, ordered as one."""

    action: str  # "drop", "alter", "create"
    key: Key
    up: list[Statement]
    down: list[Statement]
    rank: int
    phase: int = MAIN
    covers: set[Key] = field(default_factory=set)
    plain: tuple[list[Statement], list[Statement]] | None = None  # the in-transaction form
    extra_needs: set[int] = field(default_factory=set)


# Creation order among objects that do not need each other (dependencies come first anyway).
_RANK = {"schemas": 0, "extensions": 1, "collations": 1, "types": 2, "sequences": 3,
         "tables": 4, "columns": 5, "constraints": 6, "indexes": 7, "views": 8,
         "functions": 9, "foreign_keys": 10, "triggers": 11, "policies": 12, "owned": 13,
         "comments": 14, "grants": 15, "default_privileges": 16}
_CHILD_SECTIONS = ("columns", "constraints", "triggers", "policies", "rules")
# The snapshot's sections the generator writes.
_HANDLED = frozenset({"schemas", "extensions", "collations", "types", "sequences", "tables",
                      "columns", "constraints", "indexes", "statistics", "views", "functions",
                      "triggers", "rules", "policies", "comments", "grants",
                      "default_privileges"})
# Objects a changed definition is written for by dropping and making them again.
_REMADE = ("views", "indexes", "constraints", "triggers", "rules", "policies", "statistics",
           "functions")
_SAFE_UNDER_LOAD = ("CHECK", "FOREIGN KEY")


@dataclass(frozen=True)
class Rename:
    """A column renamed: ``table`` (its snapshot name), ``old`` and ``new``."""

    table: str
    old: str
    new: str


def plan(before: OwnedSchema, after: OwnedSchema, before_deps: Dependencies,
         after_deps: Dependencies, *, renames: Iterable[Rename] = (), safe: bool = True) -> Plan:
    """The statements that take ``before`` to ``after`` and back.

    :param before_deps: the dependencies of ``before``'s objects (drops are ordered by them).
    :param after_deps: the dependencies of ``after``'s objects (creations are ordered by them).
    :param renames: columns renamed (a column dropped and one added are never guessed to be
        one renamed).
    :param safe: render changes to tables of ``before`` in their forms safe under load
        (``CREATE INDEX CONCURRENTLY``, constraints ``NOT VALID`` then validated,
        ``SET NOT NULL`` through a validated check); ``False``: plain statements in one
        transaction (for a schema built from nothing, as a squash does).
    :raises CannotGenerate: a change the generator cannot render.
    """
    return _Planner(before, after, before_deps, after_deps, tuple(renames), safe=safe).run()


class _Planner:
    def __init__(self, before: OwnedSchema, after: OwnedSchema, before_deps: Dependencies,
                 after_deps: Dependencies, renames: tuple[Rename, ...], *, safe: bool) -> None:
        self.before_owned, self.after_owned = before, after
        self.old, self.new = before.snapshot, after.snapshot
        self.old_deps, self.new_deps = before_deps, after_deps
        self.renames = renames
        self.safe = safe
        self.tables = _Tables(self.old, self.new)
        self.units: list[_Unit] = []
        self.problems: list[str] = []
        self.destructive: list[DestructiveChange] = []
        self.warnings: list[str] = []
        self.made = before_deps.made | after_deps.made
        self.attach: list[tuple[_Unit, Key]] = []  # made after its object is made
        self.before_drop: list[tuple[_Unit, Key]] = []  # put back after its object is
        self.replaced_functions: set[str] = set()
        self.reordered: set[str] = set()  # tables whose rollback moves a column to the end
        self.forced: set[Key] = set()  # unchanged objects made again with what they need
        self.owned_needs: list[tuple[_Unit, list[Key]]] = []  # OWNED BY: sequence and column
        self.added_labels: dict[str, list[str]] = {}  # enum values added, by type
        self.rebuilt_types: set[str] = set()  # enums made again: they set columns' defaults

    # helpers --------------------------------------------------------------------------------
    def get(self, side: dict, section: str, name: str) -> str | None:
        return side.get(section, {}).get(name)

    def schema_of(self, section: str, name: str) -> str:
        if section in ("schemas", "extensions"):
            return "public"
        if section in _CHILD_SECTIONS:
            name = self.tables.split(name)[0]
        return _split(name)[0]

    def add(self, action: str, key: Key, up: list[Statement], down: list[Statement], *,
            rank: str | None = None, phase: int = MAIN, covers: Iterable[Key] = (),
            plain: tuple[list[Statement], list[Statement]] | None = None) -> _Unit:
        unit = _Unit(action, key, up, down, _RANK[rank or key[0]], phase,
                     {key, *covers}, plain)
        self.units.append(unit)
        return unit

    def stmt(self, text: str, schema: str, *, note: str | None = None,
             transactional: bool = True) -> Statement:
        return Statement(text if text.endswith(";") else text + ";", schema, transactional, note)

    def drop_note(self, section: str, name: str, rule: str, what: str) -> str | None:
        """The comment above the drop of an object: a drop that the plan makes again is said
        so, with squawk's ban of such a drop switched off for it; a drop for good is a
        destructive change (``what`` says it), which squawk's ban leaves to the migration's
        allow-destructive marker."""
        if name in self.new.get(section, {}):
            return f"made again below\nsquawk-ignore {rule}"
        kind = SECTION_WORDS.get(section, section)
        self.destructive.append(DestructiveChange(kind, name, what))
        return None

    def is_new_table(self, table: str) -> bool:
        return table not in self.old.get("tables", {})

    def existing_table(self, table: str) -> bool:
        return table in self.old.get("tables", {}) and table in self.new.get("tables", {})

    # the run --------------------------------------------------------------------------------
    def run(self) -> Plan:
        found = differences(self.before_owned, self.after_owned)
        changed: dict[str, dict[str, str]] = {}
        for d in found:
            section = _section_of(d.kind)
            changed.setdefault(section, {})[d.name] = d.change
        self.changed = changed
        self.owner_changed_indexes()
        unknown = sorted(set(changed) - _HANDLED)
        if unknown:
            raise CannotGenerate([f"{SECTION_WORDS.get(u, u)} {name}: the generator does not "
                                  "write this kind of object yet"
                                  for u in unknown for name in sorted(changed[u])])
        self.remake_dependents()
        self.renamed_columns()
        self.schemas_and_extensions()
        self.collations()
        self.types()
        self.sequences()
        self.tables_and_columns()
        self.constraints()
        self.indexes()
        self.views()
        self.functions()
        self.triggers()
        self.rules()
        self.statistics()
        self.policies()
        self.comments()
        self.grants()
        self.default_privileges()
        if self.problems:
            raise CannotGenerate(self.problems)
        self.enum_values_first()
        ordered = self.order()
        up: list[Statement] = []
        down: list[Statement] = []
        for unit in ordered:
            up += [_phased(s, unit.phase) for s in unit.up]
        for unit in reversed(ordered):
            down += [_phased(s, unit.phase) for s in unit.down]
        # the rollback runs the phases' rollbacks in reverse: AFTER's first
        down.sort(key=lambda s: -s.phase)
        return Plan(tuple(up), tuple(down), tuple(self.destructive),
                    tuple(dict.fromkeys(self.warnings)), tuple(sorted(self.reordered)))

    def remake_dependents(self) -> None:
        """What depends on an object the plan drops and makes again (a changed view, index,
        function whose signature's result changed), on a column whose type changes, or on an
        enum made again, is dropped before it and made again after it, though it did not
        change itself: a view reading a view, an index whose predicate names the enum."""
        dependents = self.old_deps.dependents()
        seeds: list[Key] = []
        for section, names in self.changed.items():
            for name, change in names.items():
                if change != "changed":
                    continue
                if section == "functions":
                    was, now = self.old["functions"][name], self.new["functions"][name]
                    if _function_head(was) != _function_head(now):
                        seeds.append((section, name))
                elif section in _REMADE:
                    seeds.append((section, name))
                elif section == "columns":
                    was, now = self.old["columns"][name], self.new["columns"][name]
                    if _Column.parse(was).type != _Column.parse(now).type:
                        seeds.append((section, name))
                elif section == "types":
                    seeds.append((section, name))
        seen = set(seeds)
        while seeds:
            key = seeds.pop()
            for user in sorted(dependents.get(key, ())):
                section, name = user
                if user in seen or section not in _REMADE or section == "functions":
                    continue
                if name not in self.old.get(section, {}) or name not in self.new.get(section, {}):
                    continue
                seen.add(user)
                self.changed.setdefault(section, {})[name] = "changed"
                self.forced.add(user)
                seeds.append(user)

    def owner_changed_indexes(self) -> None:
        """An index of the same name and definition on both sides, owned by a constraint on
        one side only (a UNIQUE constraint turned into a plain unique index, or back), is
        changed: the constraint's drop takes its index with it, so the plain one is made
        after it (and dropped before the constraint is added)."""
        old, new = self.old.get("indexes", {}), self.new.get("indexes", {})
        for name in sorted(old.keys() & new.keys()):
            if self.constraint_index(self.old, name, old[name]) != \
                    self.constraint_index(self.new, name, new[name]):
                self.changed.setdefault("indexes", {}).setdefault(name, "changed")

    def constraint_covers(self, table: str, name: str, text: str) -> list[Key]:
        """The index a PRIMARY KEY, UNIQUE or EXCLUDE constraint owns, which it makes and
        drops: ordered against a plain index of the same name."""
        if text.startswith(("PRIMARY KEY", "UNIQUE", "EXCLUDE")):
            return [("indexes", _qualified(self.schema_of("tables", table), name))]
        return []

    def names(self, section: str, change: str | None = None) -> list[str]:
        return sorted(n for n, c in self.changed.get(section, {}).items()
                      if change is None or c == change)

    # renames ---------------------------------------------------------------------------------
    def renamed_columns(self) -> None:
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
                     [self.stmt(f"ALTER TABLE {_qname(r.table)} RENAME COLUMN {ident(r.old)} "
                                f"TO {ident(r.new)}", schema,
                                note=f"renamed as --rename {r.table}.{r.old}={r.new} says: "
                                "what reads the old name fails\nsquawk-ignore renaming-column")],
                     [self.stmt(f"ALTER TABLE {_qname(r.table)} RENAME COLUMN {ident(r.new)} "
                                f"TO {ident(r.old)}", schema)],
                     rank="tables", covers=[("columns", old_key)])

    # schemas, extensions --------------------------------------------------------------------
    def schemas_and_extensions(self) -> None:
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
        for name in self.changed.get("collations", {}):
            schema = self.schema_of("collations", name)
            was = self.get(self.old, "collations", name)
            now = self.get(self.new, "collations", name)
            drop = f"DROP COLLATION {_qname(name)}"
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
        for name, change in self.changed.get("types", {}).items():
            schema = self.schema_of("types", name)
            was = self.get(self.old, "types", name)
            now = self.get(self.new, "types", name)
            if change == "extra":
                assert now is not None
                self.add("create", ("types", name), [self.stmt(_type(name, now), schema)],
                         [self.stmt(f"DROP TYPE {_qname(name)}", schema)])
            elif change == "missing":
                assert was is not None
                self.destructive.append(DestructiveChange("type", name, "drops the type"))
                self.add("drop", ("types", name),
                         [self.stmt(f"DROP {'DOMAIN' if was.startswith('domain') else 'TYPE'} "
                                    f"{_qname(name)}", schema)],
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
        target = f"ALTER DOMAIN {_qname(name)}"
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
                up.append(self.stmt(f"ALTER TYPE {_qname(name)} ADD VALUE IF NOT EXISTS "
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
                f"EXISTS (SELECT FROM pg_enum WHERE enumtypid = {literal(_qname(unit.key[1]))}"
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
        schema, base = _split(name)
        return {base, _qname(name), name, f"{schema}.{base}"}

    def enum_rebuild(self, name: str, schema: str, values: list[str], side: Snapshot, *,
                     warn: bool = True) -> list[Statement]:
        """The type made again with ``values``: renamed away, created, every column of it
        cast to the new one (with the default it has in ``side``), the old one dropped."""
        base = _split(name)[1]
        spare = f"{base}__mig_old"
        qualified = _qname(name)
        shown = self.enum_names(name)
        out = [self.stmt(f"ALTER TYPE {qualified} RENAME TO {ident(spare)}", schema,
                         note=f"the enum {name} made again: the old one is renamed away, its "
                         "columns cast to the new one, and it is dropped\n"
                         "squawk-ignore renaming-object"),
               self.stmt(f"CREATE TYPE {qualified} AS ENUM ("
                         + ", ".join(literal(v) for v in values) + ")", schema)]
        for key, text in sorted(self.old.get("columns", {}).items()):
            column = _Column.parse(text)
            array = column.type.endswith("[]")
            if column.type.removesuffix("[]") not in shown or key not in side.get("columns", {}):
                continue
            default = _Column.parse(side["columns"][key]).default
            table, col = self.tables.split(key)
            target = qualified + ("[]" if array else "")
            cast = f"{ident(col)}::text{'[]' if array else ''}::{target}"
            alter = f"ALTER TABLE {_qname(table)} ALTER COLUMN {ident(col)}"
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
        out.append(self.stmt(f"DROP TYPE {ident(_split(name)[0])}.{ident(spare)}", schema))
        return out

    # sequences ------------------------------------------------------------------------------
    def sequences(self) -> None:
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
                         [self.stmt(f"CREATE SEQUENCE {_qname(name)} {text}", schema)],
                         [self.stmt(f"DROP SEQUENCE IF EXISTS {_qname(name)}", schema)])
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
                         [self.stmt(f"DROP SEQUENCE {_qname(name)}", schema)],
                         [self.stmt(f"CREATE SEQUENCE {_qname(name)} {text}", schema)])
            else:
                assert was is not None and now is not None
                (t1, o1), (t2, o2) = _sequence(was), _sequence(now)
                if t1 != t2:
                    self.add("alter", ("sequences", name),
                             [self.stmt(f"ALTER SEQUENCE {_qname(name)} {t2}", schema)],
                             [self.stmt(f"ALTER SEQUENCE {_qname(name)} {t1}", schema)])
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
        return f"{_qualified(parts[0], parts[1])}.{parts[2]}"

    def owned_by(self, name: str, schema: str, owner: str | None, was: str | None = None
                 ) -> None:
        """``ALTER SEQUENCE ... OWNED BY``, the column as the snapshot writes it (SQL, relative
        to the sequence's schema), after the sequence and the column are made."""
        self.add("create", ("owned", name),
                 [self.stmt(f"ALTER SEQUENCE {_qname(name)} OWNED BY {owner or 'NONE'}",
                            schema)],
                 [self.stmt(f"ALTER SEQUENCE {_qname(name)} OWNED BY {was or 'NONE'}", schema)],
                 rank="owned")
        column = self.owner_key(schema, owner)
        self.owned_needs.append((self.units[-1], [("sequences", name)]
                                 + ([("columns", column)] if column else [])))

    # tables and columns ---------------------------------------------------------------------
    def table_statements(self, name: str, side: Snapshot) -> tuple[list[Statement], list[str]]:
        """The statements that make table ``name`` as ``side`` has it, and the ``ALTER TABLE``
        actions that must wait for its indexes (replica identity, clustering)."""
        table = _Table.parse(side["tables"][name])
        schema = self.schema_of("tables", name)
        q = _qname(name)
        columns, settings = [], []
        for c in table.columns:
            col = _Column.parse(side["columns"][f"{name}.{c}"])
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
        for name in self.names("tables"):
            text = self.get(self.new, "tables", name) or self.get(self.old, "tables", name)
            assert text is not None
            rest = _Table.parse(text).rest
            if rest:
                self.problems.append(f"table {name}: {rest}: the generator does not render "
                                     "this kind of table yet")
        for name in self.names("tables", "extra"):
            table = _Table.parse(self.new["tables"][name])
            schema = self.schema_of("tables", name)
            up, later = self.table_statements(name, self.new)
            covers = [("columns", f"{name}.{c}") for c in table.columns]
            self.add("create", ("tables", name), up,
                     [self.stmt(f"DROP TABLE {_qname(name)}", schema)], covers=covers)
            if table.partition_of:
                self.attach.append((self.units[-1], ("tables", _parent(table.partition_of))))
            if later:
                self.add("create", ("table-indexes", name),
                         [self.stmt(f"ALTER TABLE {_qname(name)} {a}", schema) for a in later],
                         [], rank="owned")
                self.attach.append((self.units[-1], ("tables", name)))
                for index in table.needs_indexes():
                    self.attach.append((self.units[-1], ("indexes", _qualified(schema, index))))
        for name in self.names("tables", "missing"):
            table = _Table.parse(self.old["tables"][name])
            schema = self.schema_of("tables", name)
            self.destructive.append(DestructiveChange("table", name,
                                                      "drops the table and its rows"))
            down, later = self.table_statements(name, self.old)
            self.add("drop", ("tables", name), [self.stmt(f"DROP TABLE {_qname(name)}",
                                                          schema)], down,
                     covers=[("columns", f"{name}.{c}") for c in table.columns])
            if later:
                self.add("drop", ("table-indexes", name), [],
                         [self.stmt(f"ALTER TABLE {_qname(name)} {a}", schema) for a in later],
                         rank="owned")
                self.before_drop.append((self.units[-1], ("tables", name)))
                for index in table.needs_indexes():
                    self.before_drop.append((self.units[-1],
                                             ("indexes", _qualified(schema, index))))
        for name in self.names("tables", "changed"):
            self.table_change(name)
        for name in sorted(set(self.old.get("tables", {})) & set(self.new.get("tables", {}))):
            self.column_order(name)
        old_columns = self.old.get("columns", {})
        new_columns = self.new.get("columns", {})
        def position(item: tuple[str, str]) -> tuple[str, int]:
            owner, column = self.tables.split(item[0])
            text = self.get(self.new, "tables", owner)
            columns = _Table.parse(text).columns if text else ()
            return owner, columns.index(column) if column in columns else -1

        previous: dict[str, _Unit] = {}  # columns added to a table: in the table's order
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
        was, now = _Table.parse(self.old["tables"][name]), _Table.parse(self.new["tables"][name])
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
        was, now = _Table.parse(self.old["tables"][name]), _Table.parse(self.new["tables"][name])
        schema = self.schema_of("tables", name)
        q = _qname(name)
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
                self.attach.append((self.units[-1], ("indexes", _qualified(schema, index))))
            for index in was.needs_indexes():
                self.before_drop.append((self.units[-1], ("indexes", _qualified(schema, index))))

    def column_change(self, key: str, table: str, column: str, change: str, *,
                      was: str | None = None) -> None:
        schema = self.schema_of("tables", table)
        alter = f"ALTER TABLE {_qname(table)}"
        was = was if was is not None else self.get(self.old, "columns", key)
        now = self.get(self.new, "columns", key)
        if change == "extra":
            assert now is not None
            col = _Column.parse(now)
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
            col = _Column.parse(was)
            if _Table.parse(self.old["tables"][table]).columns[-1] != column:
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
        old, new = _Column.parse(was), _Column.parse(now)
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
        q = _qname(table)
        target = f"ALTER TABLE {q} ALTER COLUMN {ident(column)}"
        if not self.safe:
            self.add("alter", ("columns", key), [self.stmt(f"{target} SET NOT NULL", schema)],
                     [self.stmt(f"{target} DROP NOT NULL", schema)], rank="columns")
            return
        check_name = _short(f"{_split(table)[1]}_{column}_not_null_check")
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
                 [self.stmt(_not_valid_again(table, check_name, condition),
                            schema, transactional=False),
                  self.stmt(f"{target} DROP NOT NULL", schema, transactional=False,
                            note="squawk-ignore prefer-robust-stmts")],
                 rank="foreign_keys", phase=AFTER)
        self.units[-1].extra_needs = {len(self.units) - 2}

    # constraints ----------------------------------------------------------------------------
    def constraint_sql(self, key: str, text: str) -> tuple[str, str, str, str]:
        table, name = self.tables.split(key)
        return table, name, self.schema_of("tables", table), _INHERITED.sub("", text)

    def constraints(self) -> None:
        for key, change in self.changed.get("constraints", {}).items():
            was = self.get(self.old, "constraints", key)
            now = self.get(self.new, "constraints", key)
            if was is not None and _INHERITED.search(was) or now is not None and \
                    _INHERITED.search(now):
                continue  # made by the parent's constraint
            if change in ("missing", "changed"):
                assert was is not None
                table, name, schema, text = self.constraint_sql(key, was)
                drop = self.stmt(f"ALTER TABLE {_qname(table)} DROP CONSTRAINT "
                                 f"{ident(name)}", schema)
                add = self.stmt(f"ALTER TABLE {_qname(table)} ADD CONSTRAINT {ident(name)} "
                                f"{text}", schema)
                # one of a table dropped goes with it (a foreign key first: the table it
                # references may go before it), and comes back after it
                kept = table in self.new.get("tables", {}) or text.startswith("FOREIGN KEY")
                if table in self.new.get("tables", {}):
                    note = self.drop_note("constraints", key, "ban-drop-constraint",
                                          "drops the constraint: a guarantee others may rely on")
                    drop = Statement(drop.sql, drop.schema, note=note)
                elif kept:  # a foreign key of a table dropped: the table's drop says it
                    drop = Statement(drop.sql, drop.schema, note="squawk-ignore "
                                     "ban-drop-constraint")
                self.add("drop", ("constraints", key), [drop] if kept else [], [add],
                         rank=_constraint_rank(text),
                         covers=self.constraint_covers(table, name, text))
            if change in ("extra", "changed"):
                assert now is not None
                self.add_constraint(key, now)

    def add_constraint(self, key: str, definition: str) -> None:
        table, name, schema, text = self.constraint_sql(key, definition)
        q = _qname(table)
        drop = self.stmt(f"ALTER TABLE {q} DROP CONSTRAINT {ident(name)}", schema)
        rank = _constraint_rank(text)
        if self.safe and self.existing_table(table) and text.startswith(_SAFE_UNDER_LOAD) \
                and not text.endswith(" NOT VALID"):
            self.add("create", ("constraints", key),
                     [self.stmt(f"ALTER TABLE {q} ADD CONSTRAINT {ident(name)} {text} NOT VALID",
                                schema)], [drop], rank=rank)
            self.add("alter", ("validate", key),
                     [self.stmt(f"ALTER TABLE {q} VALIDATE CONSTRAINT {ident(name)}", schema,
                                note="squawk-ignore prefer-robust-stmts", transactional=False)],
                     [self.stmt(_not_valid_again(table, name, text),
                                schema, transactional=False)],
                     rank="foreign_keys", phase=AFTER)
            self.units[-1].extra_needs = {len(self.units) - 2}
            return
        index = self.new.get("indexes", {}).get(_qualified(schema, name))
        unique = re.match(r"(PRIMARY KEY|UNIQUE)(?: NULLS NOT DISTINCT)? \([^)]*\)"
                          r"(?: INCLUDE \([^)]*\))?(.*)$", text)
        if self.safe and self.existing_table(table) and unique and index is not None \
                and table not in self.changed_partitioned():
            # its index built CONCURRENTLY, then the constraint made of it
            self.add("create", ("indexes", _qualified(schema, name)),
                     [self.stmt(_concurrently(index), schema, transactional=False)],
                     [self.stmt(f"DROP INDEX CONCURRENTLY IF EXISTS "
                                f"{_qname(_qualified(schema, name))}", schema,
                                transactional=False)],
                     phase=AFTER, plain=([self.stmt(index, schema)], []))
            self.add("create", ("constraints", key),
                     [self.stmt(_add_constraint_guarded(
                         table, name, f"{unique.group(1)} USING INDEX {ident(name)}"
                         f"{unique.group(2)}"), schema, transactional=False)],
                     [self.stmt(f"ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {ident(name)}",
                                schema, transactional=False)],
                     rank="foreign_keys", phase=AFTER)
            self.units[-1].extra_needs = {len(self.units) - 2}
            return
        if self.existing_table(table) and text.startswith(("PRIMARY KEY", "UNIQUE")):
            self.warnings.append(
                f"constraint {key}: adding it builds its index under a lock that blocks writes "
                f"to {table}; on a large table build a unique index CONCURRENTLY first and add "
                "the constraint USING INDEX")
        self.add("create", ("constraints", key),
                 [self.stmt(f"ALTER TABLE {q} ADD CONSTRAINT {ident(name)} {text}", schema)],
                 [drop], rank=rank, covers=self.constraint_covers(table, name, text))

    def changed_partitioned(self) -> set[str]:
        """Partitioned tables (an index of theirs cannot be built CONCURRENTLY)."""
        return {name for name, text in self.new.get("tables", {}).items()
                if _Table.parse(text).partition_key}

    # indexes --------------------------------------------------------------------------------
    def constraint_index(self, side: dict, name: str, text: str) -> bool:
        table = _index_table(text)
        key = f"{table}.{_split(name)[1]}" if table else None
        found = side.get("constraints", {}).get(key or "")
        return found is not None and found.startswith(("PRIMARY KEY", "UNIQUE", "EXCLUDE"))

    def indexes(self) -> None:
        for name in self.changed.get("indexes", {}):
            was = self.get(self.old, "indexes", name)
            now = self.get(self.new, "indexes", name)
            schema = self.schema_of("indexes", name)
            if was is not None and (_INHERITED.search(was) or
                                    self.constraint_index(self.old, name, was)):
                was = None
            if now is not None and (_INHERITED.search(now) or
                                    self.constraint_index(self.new, name, now)):
                now = None
            if now is not None and now.endswith(" -- INVALID"):
                self.warnings.append(f"index {name} is INVALID in the database (an interrupted"
                                     " CREATE INDEX CONCURRENTLY): it is left out")
                now = None
            if was is not None and was.endswith(" -- INVALID"):
                was = None
            # a partitioned table's index (ON ONLY as the catalog writes it) is made on its
            # partitions too, whose own are listed as inherited from it and left to it
            partitioned = " ON ONLY " in (was or "") + (now or "")
            was = was.replace(" ON ONLY ", " ON ", 1) if was is not None else None
            now = now.replace(" ON ONLY ", " ON ", 1) if now is not None else None
            if was is not None:
                table = _index_table(was)
                if table not in self.new.get("tables", {}) and \
                        table not in self.new.get("views", {}):
                    self.add("drop", ("indexes", name), [], [self.stmt(was, schema)])
                else:
                    concurrent = self.safe and not partitioned
                    plain = ([self.stmt(f"DROP INDEX {_qname(name)}", schema)],
                             [self.stmt(was, schema)])
                    if concurrent:
                        self.add("drop", ("indexes", name),
                                 [self.stmt(f"DROP INDEX CONCURRENTLY IF EXISTS {_qname(name)}",
                                            schema, transactional=False)],
                                 [self.stmt(_concurrently(was), schema, transactional=False)],
                                 phase=AFTER, plain=plain)
                    else:
                        self.add("drop", ("indexes", name), *plain)
            if now is not None:
                table = _index_table(now)
                drop = [self.stmt(f"DROP INDEX {_qname(name)}", schema)]
                if self.safe and table is not None and self.existing_table(table) and \
                        not partitioned:
                    self.add("create", ("indexes", name),
                             [self.stmt(_concurrently(now), schema, transactional=False)],
                             [self.stmt(f"DROP INDEX CONCURRENTLY IF EXISTS {_qname(name)}",
                                        schema, transactional=False)],
                             phase=AFTER, plain=([self.stmt(now, schema)], drop))
                else:
                    # an index of a table the plan makes goes with it on the way back
                    self.add("create", ("indexes", name), [self.stmt(now, schema)],
                             [] if table is not None and self.is_new_table(table) else drop)

    # views ----------------------------------------------------------------------------------
    def views(self) -> None:
        for name in self.changed.get("views", {}):
            schema = self.schema_of("views", name)
            was = self.get(self.old, "views", name)
            now = self.get(self.new, "views", name)
            if was is not None:
                if _view_kind(was) == "MATERIALIZED VIEW" and now is not None:
                    self.destructive.append(DestructiveChange(
                        "view", name, "drops the materialized view to make it again (its rows"
                        " are computed again)"))
                note = self.drop_note("views", name, "ban-drop-view",
                                      "drops the view: what reads it fails")
                self.add("drop", ("views", name),
                         [self.stmt(f"DROP {_view_kind(was)} {_qname(name)}", schema,
                                    note=note)],
                         [self.stmt(_view(name, was), schema)])
            if now is not None:
                self.add("create", ("views", name), [self.stmt(_view(name, now), schema)],
                         [self.stmt(f"DROP {_view_kind(now)} {_qname(name)}", schema)])

    # functions ------------------------------------------------------------------------------
    def functions(self) -> None:
        for name, change in self.changed.get("functions", {}).items():
            if ("functions", name) in self.made:
                continue  # a range type's constructors: the type makes them
            schema = self.schema_of("functions", name)
            was = self.get(self.old, "functions", name)
            now = self.get(self.new, "functions", name)
            for text in (was, now):
                if text is not None and not text.startswith("CREATE"):
                    self.problems.append(
                        f"{text.split(' ', 1)[0]} {name}: the generator does not write "
                        f"CREATE {text.split(' ', 1)[0].upper()} yet")
            if any(t is not None and not t.startswith("CREATE") for t in (was, now)):
                continue
            if change == "changed" and was is not None and now is not None \
                    and _function_head(was) == _function_head(now):
                self.add("alter", ("functions", name), [self.stmt(now, schema)],
                         [self.stmt(was, schema)])
                continue
            if change == "changed":
                self.replaced_functions.add(name)
            kind = "PROCEDURE" if (was or now or "").startswith(
                "CREATE OR REPLACE PROCEDURE") else "FUNCTION"
            if was is not None:
                note = self.drop_note("functions", name, "ban-drop-function",
                                      f"drops the {kind.lower()}: what calls it fails")
                self.add("drop", ("functions", name),
                         [self.stmt(f"DROP {kind} {_function_name(name)}", schema, note=note)],
                         [self.stmt(was, schema)])
            if now is not None:
                self.add("create", ("functions", name), [self.stmt(now, schema)],
                         [self.stmt(f"DROP {kind} {_function_name(name)}", schema)])

    # triggers, policies ---------------------------------------------------------------------
    def triggers(self) -> None:
        for key in self.changed.get("triggers", {}):
            table, name = self.tables.split(key)
            schema = self.schema_of("tables", table)
            was = self.get(self.old, "triggers", key)
            now = self.get(self.new, "triggers", key)
            if was is not None and _INHERITED.search(was):
                was = None  # made by the parent's trigger
            if now is not None and _INHERITED.search(now):
                now = None
            drop = f"DROP TRIGGER {ident(name)} ON {_qname(table)}"
            if was is not None:
                kept = table in self.new.get("tables", {}) or table in self.new.get("views", {})
                self.add("drop", ("triggers", key), [self.stmt(drop, schema)] if kept else [],
                         [self.stmt(s, schema) for s in _trigger(table, name, was)])
            if now is not None:
                self.add("create", ("triggers", key),
                         [self.stmt(s, schema) for s in _trigger(table, name, now)],
                         [self.stmt(drop, schema)])

    def rules(self) -> None:
        for key in self.changed.get("rules", {}):
            table, name = self.tables.split(key)
            schema = self.schema_of("tables", table)
            was = self.get(self.old, "rules", key)
            now = self.get(self.new, "rules", key)
            drop = f"DROP RULE {ident(name)} ON {_qname(table)}"
            if was is not None:
                kept = table in self.new.get("tables", {}) or table in self.new.get("views", {})
                self.add("drop", ("rules", key), [self.stmt(drop, schema)] if kept else [],
                         [self.stmt(s, schema) for s in _rule(table, name, was)],
                         rank="triggers")
            if now is not None:
                self.add("create", ("rules", key),
                         [self.stmt(s, schema) for s in _rule(table, name, now)],
                         [self.stmt(drop, schema)], rank="triggers")

    def statistics(self) -> None:
        for name in self.changed.get("statistics", {}):
            schema = self.schema_of("statistics", name)
            was = self.get(self.old, "statistics", name)
            now = self.get(self.new, "statistics", name)
            drop = f"DROP STATISTICS {_qname(name)}"
            if was is not None:
                self.add("drop", ("statistics", name), [self.stmt(drop, schema)],
                         [self.stmt(was, schema)], rank="indexes")
            if now is not None:
                self.add("create", ("statistics", name), [self.stmt(now, schema)],
                         [self.stmt(drop, schema)], rank="indexes")

    def policies(self) -> None:
        for key in self.changed.get("policies", {}):
            table, name = self.tables.split(key)
            schema = self.schema_of("tables", table)
            was = self.get(self.old, "policies", key)
            now = self.get(self.new, "policies", key)
            drop = f"DROP POLICY {ident(name)} ON {_qname(table)}"
            if was is not None:
                kept = table in self.new.get("tables", {})
                self.add("drop", ("policies", key), [self.stmt(drop, schema)] if kept else [],
                         [self.stmt(_policy(table, name, was), schema)])
            if now is not None:
                self.add("create", ("policies", key),
                         [self.stmt(_policy(table, name, now), schema)],
                         [self.stmt(drop, schema)])

    # comments, grants -----------------------------------------------------------------------
    def object_of(self, kind: str, name: str) -> tuple[Key, str, str] | None:
        """The snapshot key, the SQL object words (``TABLE public.users``) and schema of a
        comment's or grant's key, or None when it no longer exists in ``after``... or before."""
        for side in (self.new, self.old):
            if kind == "relation":
                for section, word in (("tables", "TABLE"), ("views", None),
                                      ("indexes", "INDEX"), ("sequences", "SEQUENCE")):
                    text = side.get(section, {}).get(name)
                    if text is not None:
                        word = word or _view_kind(text)
                        return (section, name), f"{word} {_qname(name)}", _split(name)[0]
            elif kind == "table":
                for section in ("tables", "views"):
                    if name in side.get(section, {}):
                        return (section, name), f"TABLE {_qname(name)}", _split(name)[0]
            elif kind == "column":
                table, col = self.tables.split(name)
                if name in side.get("columns", {}):
                    return (("columns", name), f"COLUMN {_qname(table)}.{ident(col)}",
                            _split(table)[0])
            elif kind == "function":
                if name in side.get("functions", {}):
                    return ("functions", name), f"ROUTINE {_function_name(name)}", \
                        _split(name)[0]
            elif kind == "sequence":
                if name in side.get("sequences", {}):
                    return ("sequences", name), f"SEQUENCE {_qname(name)}", _split(name)[0]
            elif kind == "type":
                text = side.get("types", {}).get(name)
                if text is not None:
                    word = "DOMAIN" if text.startswith("domain") else "TYPE"
                    return ("types", name), f"{word} {_qname(name)}", _split(name)[0]
            elif kind == "schema" and name in side.get("schemas", {}):
                return ("schemas", name), f"SCHEMA {ident(name)}", "public"
            elif kind in ("constraint", "trigger", "rule", "policy"):
                section = {"policy": "policies"}.get(kind, kind + "s")
                if name in side.get(section, {}):
                    table, child = self.tables.split(name)
                    return ((section, name), f"{kind.upper()} {ident(child)} ON {_qname(table)}",
                            _split(table)[0])
            elif kind == "collation" and name in side.get("collations", {}):
                return ("collations", name), f"COLLATION {_qname(name)}", _split(name)[0]
            elif kind == "statistics" and name in side.get("statistics", {}):
                return ("statistics", name), f"STATISTICS {_qname(name)}", _split(name)[0]
        return None

    def created(self, key: Key) -> bool:
        """Whether ``key`` is created by the plan (or made again)."""
        section, name = key
        if section == "columns":
            table = self.tables.split(name)[0]
            return name not in self.old.get("columns", {}) or self.created(("tables", table))
        return name not in self.old.get(section, {}) or self.remade(key)

    def remade(self, key: Key) -> bool:
        """Whether the plan drops ``key`` and creates it again (a changed view, index, ...)."""
        section, name = key
        return self.changed.get(section, {}).get(name) == "changed" and section in (
            "views", "indexes", "triggers", "policies", "constraints", "rules",
            "statistics") or (
            section == "functions" and name in self.replaced_functions)

    def attached(self, section: str, key: str, target: Key, was: str | None, now: str | None,
                 render: Callable[[str | None, str | None], list[str]], schema: str, *,
                 existed: bool | None = None) -> None:
        """A comment's or a grant's changes: set when its object is made (from what a new
        object has), put back on the way back when its object is dropped, changed from
        ``was`` to ``now`` when its object stays. ``render(a, b)`` gives the statements that
        take the object's ``a`` to ``b`` (None: what a new object has)."""
        section_of, name = target
        exists_before = name in self.old.get(section_of, {})
        exists_after = name in self.new.get(section_of, {})
        if section_of == "columns":
            table = self.tables.split(name)[0]
            exists_before = exists_before and table in self.old.get("tables", {})
            exists_after = exists_after and table in self.new.get("tables", {})
        if existed is not None:  # a renamed column: its old self
            exists_before = existed
        remade = self.remade(target)
        if exists_before and (not exists_after or remade) and was is not None:
            back = render(None, was)
            if back:
                self.add("drop", (section, key), [], [self.stmt(t, schema) for t in back],
                         rank=section)
                self.before_drop.append((self.units[-1], target))
        if exists_after and (not exists_before or remade or section_of == "columns" and
                             self.created(target)) and now is not None:
            made = render(None, now)
            if made:
                self.add("create", (section, key), [self.stmt(t, schema) for t in made], [],
                         rank=section)
                self.attach.append((self.units[-1], target))
        elif exists_before and exists_after and not remade and was != now:
            up, down = render(was, now), render(now, was)
            if up:
                self.add("create", (section, key), [self.stmt(t, schema) for t in up],
                         [self.stmt(t, schema) for t in down], rank=section)
                self.attach.append((self.units[-1], target))

    def renamed_key(self, kind: str, name: str, key: str) -> str:
        """The key a renamed column's comment or grant had before (else ``key``)."""
        if kind == "column":
            for old, new in self.rename_of.items():
                if new == name:
                    return f"column {old}"
        return key

    def comments(self) -> None:
        keys = set(self.old.get("comments", {})) | set(self.new.get("comments", {}))
        for key in sorted(keys):
            kind, name = key.split(" ", 1)
            found = self.object_of(kind, name)
            if found is None:
                continue
            target, words, schema = found

            def render(a: str | None, b: str | None, words: str = words) -> list[str]:
                return [] if a == b else [
                    f"COMMENT ON {words} IS {literal(b) if b is not None else 'NULL'}"]

            if kind == "column" and name in self.rename_of:
                continue  # it moves with its column
            was_key = self.renamed_key(kind, name, key)
            self.attached("comments", key, target, self.get(self.old, "comments", was_key),
                          self.get(self.new, "comments", key), render, schema,
                          existed=True if was_key != key else None)

    def grants(self) -> None:
        keys = set(self.old.get("grants", {})) | set(self.new.get("grants", {}))
        for key in sorted(keys):
            kind, name = key.split(" ", 1)
            if kind in ("sequence", "function") and (kind + "s", name) in self.made:
                continue
            found = self.object_of(kind, name)
            if found is None:
                continue
            target, words, schema = found
            if kind == "column":
                words = words.removeprefix("COLUMN ")
            fresh = set() if kind == "column" else _PUBLIC_DEFAULT.get(kind, set()) | \
                _owner_default(kind, self.after_owned.version or self.before_owned.version)

            def render(a: str | None, b: str | None, words: str = words, kind: str = kind,
                       fresh: set = fresh) -> list[str]:
                return _grant_statements(words, kind, fresh if a is None else _acl(a),
                                         fresh if b is None else _acl(b),
                                         self.after_owned.owner, self.before_owned.owner,
                                         keep_owner=True)

            if kind == "column" and name in self.rename_of:
                continue  # it moves with its column
            was_key = self.renamed_key(kind, name, key)
            self.attached("grants", key, target, self.get(self.old, "grants", was_key),
                          self.get(self.new, "grants", key), render, schema,
                          existed=True if was_key != key else None)

    def default_privileges(self) -> None:
        for key in self.names("default_privileges"):
            head, _, in_schema = key.partition(" in ")
            role, objtype = head.rsplit(" ", 1)
            if objtype not in _DEFAULT_OBJECTS:
                continue
            kind = _DEFAULT_KIND[objtype]
            # a schema's default privileges add to the database's, from nothing
            base = set() if in_schema else _PUBLIC_DEFAULT.get(kind, set())
            old_text = self.get(self.old, "default_privileges",
                                key.replace(OWNER, self.before_owned.owner))
            new_text = self.get(self.new, "default_privileges",
                                key.replace(OWNER, self.after_owned.owner))
            was = _acl(old_text) if old_text is not None else base
            now = _acl(new_text) if new_text is not None else base
            prefix = "ALTER DEFAULT PRIVILEGES" + (
                "" if role == OWNER else f" FOR ROLE {ident(role)}") + (
                f" IN SCHEMA {ident(in_schema)}" if in_schema else "")
            words = f"{_DEFAULT_OBJECTS[objtype]}"
            up = [f"{prefix} {s}" for s in _grant_statements(
                words, kind, was, now, self.after_owned.owner, self.before_owned.owner)]
            down = [f"{prefix} {s}" for s in _grant_statements(
                words, kind, now, was, self.after_owned.owner, self.before_owned.owner)]
            if up:
                self.add("create", ("default_privileges", key),
                         [self.stmt(s, "public") for s in up],
                         [self.stmt(s, "public") for s in down])

    # order ----------------------------------------------------------------------------------
    def order(self) -> list[_Unit]:
        units = self.units
        makers: dict[Key, list[int]] = {}
        droppers: dict[Key, list[int]] = {}
        for index, unit in enumerate(units):
            for key in unit.covers:
                (droppers if unit.action == "drop" else makers).setdefault(key, []).append(index)
        for unit, target in self.attach:
            unit.extra_needs |= set(makers.get(target, []))
        index_of = {id(unit): index for index, unit in enumerate(units)}
        for unit, target in self.before_drop:
            for other in droppers.get(target, []):
                units[other].extra_needs.add(index_of[id(unit)])
        for unit, targets in self.owned_needs:
            for target in targets:
                unit.extra_needs |= set(makers.get(target, []))
                if target[0] == "columns":
                    table = self.tables.split(target[1])[0]
                    unit.extra_needs |= set(makers.get(("tables", table), []))
        dependents = self.old_deps.dependents()

        def child_table(key: Key) -> Key | None:
            if key[0] in _CHILD_SECTIONS:
                return ("tables", self.tables.split(key[1])[0])
            return None

        needs: dict[int, set[int]] = {}
        for index, unit in enumerate(units):
            wanted = set(unit.extra_needs)
            if unit.action != "drop":
                for key in unit.covers:
                    for needed in self.new_deps.of(key):
                        wanted |= set(makers.get(needed, []))
                        parent = child_table(needed)
                        if parent is not None:
                            wanted |= set(makers.get(parent, []))
                    wanted |= set(droppers.get(key, []))
                    parent = child_table(key)
                    if parent is not None:
                        wanted |= set(makers.get(parent, []))
                    if key[0] == "indexes":
                        on = _index_table(self.new.get("indexes", {}).get(key[1], ""))
                        if on:
                            wanted |= set(makers.get(("tables", on), []))
                            wanted |= set(makers.get(("views", on), []))
                # what used the old shape of what it changes goes first
                if unit.action == "alter":
                    for key in unit.covers:
                        for user in dependents.get(key, ()):
                            wanted |= set(droppers.get(user, []))
            else:
                for key in unit.covers:
                    for user in dependents.get(key, ()):
                        wanted |= set(droppers.get(user, []))
                        # a user that stays is altered away from it first (a column whose
                        # type changes from the type dropped); the rollback, run backwards,
                        # makes it again before the user goes back to it
                        wanted |= {i for i in makers.get(user, []) if units[i].action == "alter"}
                    # a child (constraint, trigger) goes before its table is dropped
                    for other, other_unit in enumerate(units):
                        if other_unit.action == "drop" and any(
                                child_table(k) == key for k in other_unit.covers):
                            wanted.add(other)
            wanted.discard(index)
            needs[index] = wanted
        # what the transactional body needs cannot wait for the migration after it
        moved = True
        while moved:
            moved = False
            for index, unit in enumerate(units):
                if unit.phase != AFTER:
                    for other in needs[index]:
                        if units[other].phase == AFTER and units[other].plain is not None:
                            plain = units[other].plain
                            assert plain is not None
                            dropped = units[other].action == "drop"
                            what = (f"index {units[other].key[1]}: "
                                    + ("dropped" if dropped else "built")
                                    + " in the transaction, under a lock that blocks writes "
                                    "(what the migration does next needs it "
                                    + ("gone)" if dropped else "there)"))
                            rule = ("require-concurrent-index-deletion" if dropped
                                    else "require-concurrent-index-creation")
                            units[other].up = [Statement(st.sql, st.schema,
                                                         note=f"{what}\nsquawk-ignore {rule}")
                                               for st in plain[0]]
                            units[other].down = plain[1]
                            units[other].phase = MAIN
                            units[other].plain = None
                            self.warnings.append(what)
                            moved = True
        given = sorted(range(len(units)), key=lambda i: (
            0 if units[i].action == "drop" else 1,
            -units[i].rank if units[i].action == "drop" else units[i].rank, i))
        try:
            ordered = stable_order(given, key=lambda i: i, needs=lambda i: needs[i])
        except Cycle as exc:
            raise CannotGenerate([
                "these objects need each other, in a cycle the generator cannot break: "
                + " -> ".join(f"{units[i].key[0]} {units[i].key[1]}" for i in exc.items)
            ]) from None
        return [units[i] for i in ordered]


def _phased(statement: Statement, phase: int) -> Statement:
    return Statement(statement.sql, statement.schema,
                     statement.transactional and phase == MAIN, statement.note, phase)


def _section_of(kind: str) -> str:
    from .snapshot import SECTIONS
    for section, word in SECTIONS.items():
        if word == kind:
            return section
    return kind


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


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def _parent(partition_of: str) -> str:
    """The snapshot name of a partition's parent (``parent FOR VALUES ...``)."""
    head = partition_of.split(" ", 1)[0]
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p
             for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', head)]
    return ".".join(parts[1:] if parts[0] == "public" and len(parts) == 2 else parts)


def _short(name: str) -> str:
    return name[:63]


def _option_names(options: str | None) -> set[str]:
    return {o.split("=", 1)[0].strip() for o in (options or "").split(",") if o.strip()}


def _constraint_rank(text: str) -> str:
    return "foreign_keys" if text.startswith("FOREIGN KEY") else "constraints"


def _add_constraint_guarded(table: str, name: str, text: str) -> str:
    """``ADD CONSTRAINT`` that may run twice (a non-transactional migration's step): in a DO
    block that adds it only while the table has no constraint of that name."""
    return (
        "DO $mig$\nBEGIN\n"
        "    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = "
        f"{literal(name)}\n"
        f"                   AND conrelid = {literal(_qname(table))}::regclass) THEN\n"
        f"        ALTER TABLE {_qname(table)} ADD CONSTRAINT {ident(name)} {text};\n"
        "    END IF;\nEND\n$mig$;")


def _not_valid_again(table: str, name: str, text: str) -> str:
    """The constraint ``name`` made ``NOT VALID`` again, as it was before its validation (a
    validated constraint cannot be made unvalidated): dropped if there and added, in one
    ``DO`` block that may run twice (a non-transactional rollback's step)."""
    return ("DO $mig$\nBEGIN\n"
            f"    ALTER TABLE {_qname(table)} DROP CONSTRAINT IF EXISTS {ident(name)};\n"
            f"    ALTER TABLE {_qname(table)} ADD CONSTRAINT {ident(name)} {text} NOT VALID;\n"
            "END\n$mig$;")


def _collation(name: str, text: str) -> str:
    """``CREATE COLLATION`` from the snapshot's text (``provider icu locale 'und'
    nondeterministic``)."""
    options = [f"{word} = {value}" for word, value in re.findall(
        r"(provider|lc_collate|lc_ctype|locale|rules) ('(?:[^']|'')*'|\S+)", text)
        if value != "NULL"]
    if text.endswith(" nondeterministic"):
        options.append("deterministic = false")
    return f"CREATE COLLATION {_qname(name)} ({', '.join(options)})"


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
        return f"CREATE TYPE {_qname(name)} AS ENUM ({body})"
    if kind == "range":
        found = re.match(r"(?P<subtype>.*?)(?: collate (?P<collation>\S+))?"
                         r"(?: subtype_opclass (?P<subtype_opclass>\S+))?"
                         r"(?: canonical (?P<canonical>\S+))?"
                         r"(?: subtype_diff (?P<subtype_diff>\S+))?$", body)
        assert found is not None
        options = [f"{word.upper()} = {value}" for word, value in found.groupdict().items()
                   if value]
        return f"CREATE TYPE {_qname(name)} AS RANGE ({', '.join(options)})"
    if kind == "composite":
        fields = []
        for item in _top_level(body):
            field_name, _, field_type = item.partition(" ")
            fields.append(f"{ident(field_name)} {field_type}")
        return f"CREATE TYPE {_qname(name)} AS ({', '.join(fields)})"
    # a domain: base type, ' collate X', ' not null', ' default X', its constraints
    if " NOT NULL" in body and " not null" in body:
        body = body.replace(" not null", "", 1)
    body = body.replace(" not null", " NOT NULL", 1)
    body = re.sub(r" default ", " DEFAULT ", body, count=1)
    body = re.sub(r"^(\S.*?) collate ", r"\1 COLLATE ", body, count=1)
    return f"CREATE DOMAIN {_qname(name)} AS {body}"


def _top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


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


def _view_kind(text: str) -> str:
    return "MATERIALIZED VIEW" if text.startswith("materialized ") else "VIEW"


def _view(name: str, text: str) -> str:
    kind = _view_kind(text)
    body = text.removeprefix("materialized ")
    options = ""
    found = re.match(r"with \(([^)]*)\) ", body)
    if found:
        options = f" WITH ({found.group(1)})"
        body = body[found.end():]
    body = body.strip().removesuffix(";")
    return f"CREATE {kind} {_qname(name)}{options} AS\n{body}"


def _function_head(text: str) -> str:
    """A function's definition up to its body: what CREATE OR REPLACE cannot change."""
    return re.split(r"\n(?:AS |BEGIN ATOMIC)", text, maxsplit=1)[0].split("\n LANGUAGE")[0]


def _trigger(table: str, name: str, text: str) -> list[str]:
    states = {" (disabled)": "DISABLE", " (replica)": "ENABLE REPLICA",
              " (always)": "ENABLE ALWAYS"}
    for suffix, word in states.items():
        if text.endswith(suffix):
            return [text.removesuffix(suffix),
                    f"ALTER TABLE {_qname(table)} {word} TRIGGER {ident(name)}"]
    return [text]


def _rule(table: str, name: str, text: str) -> list[str]:
    states = {" (disabled)": "DISABLE", " (replica)": "ENABLE REPLICA",
              " (always)": "ENABLE ALWAYS"}
    for suffix, word in states.items():
        if text.endswith(suffix):
            return [text.removesuffix(suffix).removesuffix(";"),
                    f"ALTER TABLE {_qname(table)} {word} RULE {ident(name)}"]
    return [text.removesuffix(";")]


def _balanced(text: str, start: int) -> int:
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


def _policy(table: str, name: str, text: str) -> str:
    found = re.match(r"(permissive|restrictive) for (\w+) to (.*?)(?= using \(| with check \(|$)",
                     text)
    assert found is not None, text
    mode, command, roles = found.groups()
    rest = text[found.end():]
    using = check = None
    if rest.startswith(" using ("):
        end = _balanced(rest, len(" using "))
        using = rest[len(" using "):end]
        rest = rest[end:]
    if rest.startswith(" with check ("):
        end = _balanced(rest, len(" with check "))
        check = rest[len(" with check "):end]
    who = ", ".join("PUBLIC" if r == "public" else ident(r) for r in roles.split(", "))
    out = (f"CREATE POLICY {ident(name)} ON {_qname(table)} AS {mode.upper()} "
           f"FOR {command.upper()} TO {who}")
    if using:
        out += f" USING {using}"
    if check:
        out += f" WITH CHECK {check}"
    return out


_INDEX_TABLE = re.compile(r" ON (?:ONLY )?(\S+) USING ")


def _index_table(text: str) -> str | None:
    """The snapshot name of the table an index definition is on."""
    found = _INDEX_TABLE.search(text)
    if found is None:
        return None
    name = found.group(1)
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p
             for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', name)]
    if len(parts) == 2 and parts[0] == "public":
        return parts[1]
    return ".".join(parts)


def _concurrently(text: str) -> str:
    return re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY IF NOT EXISTS ",
                  text.removesuffix(" -- INVALID"))


def _grant_statements(words: str, kind: str, was: set[tuple[str, str, bool]],
                      now: set[tuple[str, str, bool]], owner: str, old_owner: str, *,
                      keep_owner: bool = False) -> list[str]:
    """GRANT and REVOKE statements that take the ACL ``was`` to ``now``. ``words`` name the
    object (``TABLE public.users``; a column's ``public.users.email``; for default privileges
    ``TABLES``). The owner's own privileges are set aside, or, with ``keep_owner``, granted to
    and revoked from ``CURRENT_USER`` (the role the migration runs as owns what it makes)."""
    owners = {owner, old_owner, OWNER}
    if keep_owner:
        was = {(OWNER if g in owners else g, p, o) for g, p, o in was}
        now = {(OWNER if g in owners else g, p, o) for g, p, o in now}
    else:
        was = {item for item in was if item[0] not in owners}
        now = {item for item in now if item[0] not in owners}
    out = []
    on = words
    column = None
    if kind == "column":
        table, _, col = words.rpartition(".")
        on, column = f"TABLE {table}", col
    for grantee in sorted({g for g, _, _ in was | now}):
        gone = sorted({p for g, p, _ in was - now if g == grantee
                       and (g, p, False) not in now and (g, p, True) not in now})
        option_gone = sorted({p for g, p, o in was - now if g == grantee and o
                              and (g, p, False) in now})
        added = sorted({(p, o) for g, p, o in now - was if g == grantee})
        who = _grantee(grantee)

        def privileges(letters: Iterable[str]) -> str:
            names = [_PRIVILEGES[p] for p in letters]
            return ", ".join(f"{n} ({column})" if column else n for n in names)

        if gone:
            out.append(f"REVOKE {privileges(gone)} ON {on} FROM {who}")
        if option_gone:
            out.append(f"REVOKE GRANT OPTION FOR {privileges(option_gone)} ON {on} FROM {who}")
        plain = [p for p, o in added if not o]
        with_option = [p for p, o in added if o]
        if plain:
            out.append(f"GRANT {privileges(plain)} ON {on} TO {who}")
        if with_option:
            out.append(f"GRANT {privileges(with_option)} ON {on} TO {who} WITH GRANT OPTION")
    return out


def statements_text(statements: Iterable[Statement], *, transactional: bool) -> Iterator[str]:
    """The statements as the lines of a migration file, each note as comment lines above its
    statement.

    In a transaction, ``search_path`` is set (``SET LOCAL``) to each statement's schema, then
    ``pg_catalog``, whenever the schema changes, and put back at the end as it was (mig writes
    its records in the same transaction). Outside one, each statement runs on its own and a
    re-run resumes at the failed one, so nothing is set for the statements after it: they name
    their objects with their schema, and a ``DO`` block sets its own path.
    """
    listed = list(statements)
    if transactional and listed:
        yield "SELECT set_config('mig.search_path', current_setting('search_path'), true);"
    schema = None
    for statement in listed:
        if transactional and statement.schema != schema:
            schema = statement.schema
            yield f"SET LOCAL search_path = {ident(schema)}, pg_catalog;"
        if statement.note:
            yield from (f"-- {line}" for line in statement.note.splitlines())
        text = statement.sql
        if not transactional and text.startswith("DO $mig$\nBEGIN\n"):
            path = literal(f"{ident(statement.schema)}, pg_catalog")
            text = text.replace("DO $mig$\nBEGIN\n", "DO $mig$\nBEGIN\n"
                                f"    PERFORM set_config('search_path', {path}, true);\n", 1)
        yield text
    if transactional and listed:
        yield "SELECT set_config('search_path', current_setting('mig.search_path'), true);"


#: squawk's rules that judge a schema's design (its column types), not how a migration changes
#: it: a generated migration reproduces the database's types as they are.
DESIGN_RULES = ("prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
                "prefer-text-field", "prefer-timestamp-tz", "ban-char-field",
                "ban-create-domain-with-constraint")


#: squawk's rules about taking locks that a rollback, which puts back what its migration
#: changed as it was, is not held to.
ROLLBACK_RULES = ("adding-not-nullable-field", "adding-serial-primary-key-field",
                  "constraint-missing-not-valid", "disallowed-unique-constraint",
                  "adding-foreign-key-constraint", "changing-column-type",
                  "require-concurrent-index-creation", "require-concurrent-index-deletion",
                  "ban-alter-identity", "renaming-column", "adding-field-with-default")


def render(migration: PlannedMigration, *, title: str, depends: str | None,
           destructive: Iterable[DestructiveChange] = ()) -> tuple[str, str]:
    """The text of one planned migration's file and of its rollback file: a title comment,
    ``-- depends:``, ``-- transactional: false`` for one that runs outside a transaction, the
    ``allow-destructive`` marker naming the destructive changes, squawk's design rules switched
    off for the file (see :data:`DESIGN_RULES`) where it creates tables or columns."""
    head = [f"-- {title}"]
    if depends:
        head.append(f"-- depends: {depends}")
    if not migration.transactional:
        head.append("-- transactional: false")
    gone = list(destructive)
    if gone:
        head.append("-- mig: allow-destructive generated with --allow-destructive: "
                    + "; ".join(d.describe() for d in gone))
    if any(re.match(r"CREATE (UNLOGGED )?TABLE |CREATE DOMAIN |ALTER TABLE \S+ ADD COLUMN "
                    r"|ALTER TABLE \S+ ALTER COLUMN \S+ TYPE ", s.sql)
           for s in (*migration.up, *migration.down)):
        head.append("-- the database's column types, reproduced as they are:")
        head.append(f"-- squawk-ignore-file {', '.join(DESIGN_RULES)}")
    up = "\n".join([*head, "", *statements_text(migration.up,
                                                transactional=migration.transactional)])
    down_head = [f"-- rollback of {title}"]
    if head[-1].startswith("-- squawk-ignore-file"):
        down_head.append(head[-1])
    if migration.down:
        down_head += ["-- puts back what the migration changed, as it was (the forms safe under"
                      " load are the migration's):",
                      f"-- squawk-ignore-file {', '.join(ROLLBACK_RULES)}"]
    down = "\n".join([*down_head, "", *statements_text(migration.down,
                                                       transactional=migration.transactional)])
    return up + "\n", down + "\n"
