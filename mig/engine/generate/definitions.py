"""Tables and columns as the snapshot writes them, parsed: which table a child belongs to, a
column's parts, a table's columns and storage."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .quoting import ident, option_names, qname


class Tables:
    """Which table a child key (``users.email``, ``billing.invoices.total``) belongs to."""

    def __init__(self, *snapshots: dict) -> None:
        self.names = set()
        for snap in snapshots:
            self.names |= set(snap.get("tables", {})) | set(snap.get("views", {}))

    def split(self, key: str) -> tuple[str, str]:
        """The table of a child ``key`` and the child's own name."""
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
INHERITED = re.compile(r" -- inherited from .*$")


@dataclass(frozen=True)
class Column:
    """A column as the snapshot writes it: its type, collation, nullability, default,
    identity and generation."""

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
    def parse(cls, text: str) -> Column:
        """The column of a snapshot's definition."""
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

    def settings(self, other: Column | None = None) -> list[str]:
        """``ALTER COLUMN`` actions that give the column this one's storage, compression,
        statistics target and options (from ``other``'s, or from a new column's)."""
        was = other or Column("", None, notnull=False, default=None, generated=None,
                               identity=None, identity_options="")
        out = []
        if self.storage != was.storage:
            out.append(f"SET STORAGE {(self.storage or 'default').upper()}")
        if self.compression != was.compression:
            out.append(f"SET COMPRESSION {self.compression or 'default'}")
        if self.statistics != was.statistics:
            out.append(f"SET STATISTICS {self.statistics or -1}")
        if self.options != was.options:
            gone = option_names(was.options) - option_names(self.options)
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
class Table:
    """A table as the snapshot writes it: its columns, in order, and how it is stored,
    partitioned or inherited."""

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
    def parse(cls, text: str) -> Table:
        """The table of a snapshot's definition."""
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
        head = f"CREATE {'UNLOGGED ' if self.unlogged else ''}TABLE {qname(name)}"
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

    def alters(self, other: Table | None = None) -> list[str]:
        """``ALTER TABLE`` actions that give a table made as ``other`` (or as :meth:`create`
        makes it) this one's row level security, replica identity and clustering."""
        was = other or Table(self.columns, options=self.options, unlogged=self.unlogged)
        out = []
        if self.unlogged != was.unlogged:
            out.append("SET UNLOGGED" if self.unlogged else "SET LOGGED")
        if self.rls != was.rls:
            out.append(("ENABLE" if self.rls else "DISABLE") + " ROW LEVEL SECURITY")
        if self.force_rls != was.force_rls:
            out.append(("FORCE" if self.force_rls else "NO FORCE") + " ROW LEVEL SECURITY")
        if self.options != was.options:
            gone = option_names(was.options) - option_names(self.options)
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
