"""Two schema snapshots compared: what differs, as typed records, and how it reads.

:func:`compare` is the one comparison of two :mod:`mig.engine.snapshot` snapshots: every
object missing from the actual schema, extra in it, or defined differently, section by section
in the order of :data:`~mig.engine.snapshot.SECTIONS`. ``mig verify`` compares the schema a
rollback left with the one before it, ``mig diff`` and ``mig baseline`` a live schema with the
one its migrations build (:func:`differences`: the objects' owner role set aside, since the two
databases' objects are owned by different roles).

A difference reads two ways: :func:`lines` (``missing table users: ...``, what ``mig diff``
prints) and :func:`signed_lines` (``- table users: ...`` / ``+ ...``, what ``mig verify``
shows); :meth:`Difference.to_json` is its ``--json`` form.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from psycopg2.extensions import connection

from ..config import Settings
from .connect import fetch_row
from .snapshot import SECTIONS, Snapshot, schema_list, snapshot, user_schemas

Change = Literal["missing", "extra", "changed"]

#: What a role that owns objects reads as, in grants compared across databases.
OWNER = "<owner>"
_OWNED_SECTIONS = ("grants", "default_privileges")


@dataclass(frozen=True)
class Difference:
    """One object that differs: ``missing`` from the actual schema, ``extra`` in it, or
    ``changed``. ``kind`` is the word of its section (``table``, ``column``, ...); ``expected``
    and ``actual`` are its definitions on each side (``None`` on the side without it)."""

    kind: str
    name: str
    change: Change
    expected: str | None
    actual: str | None

    def to_json(self) -> dict:
        """The difference as ``--json`` prints it."""
        return {"change": self.change, "kind": self.kind, "name": self.name,
                "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class OwnedSchema:
    """A database's snapshot, the role its objects belong to (the role that built them), the
    server's major version and the schemas described."""

    snapshot: Snapshot
    owner: str
    version: int = 0
    schemas: tuple[str, ...] = ()


def compare(expected: Snapshot, actual: Snapshot) -> list[Difference]:
    """What differs from ``expected`` to ``actual``, section by section (the sections of
    :data:`SECTIONS` first, in that order, then any other, sorted), each by name."""
    found = []
    sections = list(SECTIONS) + sorted((set(expected) | set(actual)) - set(SECTIONS))
    for section in sections:
        kind = SECTIONS.get(section, section)
        old, new = expected.get(section, {}), actual.get(section, {})
        for name in sorted(set(old) | set(new)):
            was, now = old.get(name), new.get(name)
            if was != now:
                change: Change = "missing" if now is None else "extra" if was is None \
                    else "changed"
                found.append(Difference(kind, name, change, was, now))
    return found


def scope(settings: Settings, schema: str | Iterable[str] | None) -> list[str] | None:
    """The schemas a comparison for ``settings`` describes: those asked (a name or several),
    else, for a schema target (``settings.schema``, a fleet's tenant), that schema and those
    of ``create_schemas``; else None: every schema but the system's and extensions'."""
    asked = schema_list(schema)
    if asked:
        return asked
    if settings.schema:
        return [settings.schema, *settings.create_schemas]
    return None


def read_schema(conn: connection, schemas: str | Iterable[str] | None,
                ignore: tuple[str, ...]) -> OwnedSchema:
    """The snapshot of ``schemas`` (None: every schema but the system's and extensions'), the
    role ``conn`` is connected as (the objects' owner) and the server's major version."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        user = fetch_row(cur)[0]
    wanted = schema_list(schemas)
    described = user_schemas(conn) if wanted is None else wanted
    return OwnedSchema(snapshot(conn, wanted, ignore=ignore), user,
                       conn.server_version // 10000, tuple(described))


def differences(expected: OwnedSchema, actual: OwnedSchema) -> list[Difference]:
    """:func:`compare` with each side's owner role written as ``<owner>`` in grants, and,
    between servers of different major versions, each side's privileges that are all a kind
    of object has there written ``ALL`` (PostgreSQL 17 gave tables ``MAINTAIN``: a table's
    default privileges read the same on 15 and 18).

    A table whose column list changed only because a column is missing or extra is left out:
    that column's own entry says it (a change of column order alone is kept).
    """
    old, new = _owner_free(expected), _owner_free(actual)
    if expected.version != actual.version:
        old, new = _version_free(old, expected.version), _version_free(new, actual.version)
    found = compare(old, new)
    added_or_gone = {d.name.rsplit(".", 1)[0] for d in found
                     if d.kind == "column" and d.change != "changed"}
    return [d for d in found if not (d.kind == "table" and d.change == "changed"
                                     and d.name in added_or_gone
                                     and _qualifiers(d.expected) == _qualifiers(d.actual))]


def version_notes(live: OwnedSchema, built: OwnedSchema) -> list[str]:
    """What a comparison of ``live`` with the schema ``built`` on a scratch server cannot
    promise: a scratch server of another major version than the live one's."""
    if not live.version or not built.version or live.version == built.version:
        return []
    return [f"the schema was built on PostgreSQL {built.version}, the database runs PostgreSQL"
            f" {live.version}: a definition the two versions write differently reads as a"
            " difference (install PostgreSQL "
            f"{live.version}'s binaries, e.g. /usr/lib/postgresql/{live.version}/bin, and set"
            " server_bin (MIG_SERVER_BIN), or pass --scratch-server URL of a PostgreSQL"
            f" {live.version} server)"]


#: Every privilege an object of a kind can have, by the first major version that has them
#: (newest first): what an ACL entry holding them all is, written ``ALL``.
_ALL_PRIVILEGES = {"table": ((17, "arwdDxtm"), (0, "arwdDxt")),
                   "sequence": ((0, "rwU"),), "function": ((0, "X"),), "type": ((0, "U"),),
                   "schema": ((0, "UC"),)}
# What a default privileges entry's object type is.
_DEFAULT_ACL_KINDS = {"r": "table", "S": "sequence", "f": "function", "T": "type",
                      "n": "schema"}


def _version_free(snap: Snapshot, version: int) -> Snapshot:
    """``snap`` with every ACL entry that holds all of its kind's privileges (on a server of
    ``version``) written ``grantee=ALL/grantor`` (``ALL*``: all with grant option)."""
    result = dict(snap)
    result["grants"] = {key: _all_privileges(value, key.split(" ", 1)[0], version)
                        for key, value in snap.get("grants", {}).items()}
    result["default_privileges"] = {
        key: _all_privileges(value, _DEFAULT_ACL_KINDS.get(key.split(" ")[1], ""), version)
        if " " in key else value
        for key, value in snap.get("default_privileges", {}).items()}
    return result


def _all_privileges(acl: str, kind: str, version: int) -> str:
    every = next((letters for since, letters in _ALL_PRIVILEGES.get(kind, ())
                  if version >= since), None)
    if every is None or not (acl.startswith("{") and acl.endswith("}")) or acl == "{}":
        return acl
    entries = []
    for entry in acl[1:-1].split(", "):
        grantee, _, rest = entry.rpartition("=")
        privileges, slash, grantor = rest.partition("/")
        letters = privileges.replace("*", "")
        if sorted(letters) == sorted(every):
            options = privileges.count("*")
            if options in (0, len(every)):
                privileges = "ALL" + ("*" if options else "")
        entries.append(f"{grantee}={privileges}{slash}{grantor}")
    return "{" + ", ".join(sorted(entries)) + "}"


def _owner_free(schema: OwnedSchema) -> Snapshot:
    """The snapshot with its owner (a role name) written as ``<owner>`` in grants."""
    name = re.escape(schema.owner)
    pattern = re.compile(rf'(?<![\w"]){name}(?=[=/ ])|(?<=/){name}(?![\w"])')
    result = dict(schema.snapshot)
    for section in _OWNED_SECTIONS:
        result[section] = {pattern.sub(OWNER, key): pattern.sub(OWNER, value)
                           for key, value in schema.snapshot.get(section, {}).items()}
    return result


def _qualifiers(table: str | None) -> str | None:
    """A table's snapshot text without its column list."""
    if table is None:
        return None
    return table.split(")", 1)[1] if table.startswith("(") else table


def lines(found: list[Difference]) -> list[str]:
    """The differences as ``mig diff`` prints them, one line each: ``missing table users:
    ...``; a changed column part by part, a changed multi-line definition (a function body) as
    a line diff."""
    out = []
    for d in found:
        head = f"{d.change} {d.kind} {d.name}"
        if d.expected is None or d.actual is None:
            out.append(f"{head}: {one_line(d.expected or d.actual or '')}")
        elif d.kind == "column":
            out.append(f"{head}: {_column_change(d.expected, d.actual)}")
        elif "\n" in d.expected or "\n" in d.actual:
            out.append(f"{head}:")
            out.extend(_line_diff(d.expected, d.actual))
        else:
            out.append(f"{head}: {d.expected} -> {d.actual}")
    return out


def signed_lines(found: list[Difference]) -> list[str]:
    """The differences as ``mig verify`` shows them: ``- column users.email: text not null``
    is expected only, ``+ ...`` actual only; a changed one-line definition gives both lines, a
    changed multi-line one (a function body) ``~ function name()`` and an indented line diff."""
    out = []
    for d in found:
        if d.expected is not None and d.actual is not None and (
                "\n" in d.expected or "\n" in d.actual):
            out.append(f"~ {d.kind} {d.name}:")
            out.extend(_line_diff(d.expected, d.actual))
            continue
        if d.expected is not None:
            out.append(f"- {d.kind} {d.name}: {one_line(d.expected)}")
        if d.actual is not None:
            out.append(f"+ {d.kind} {d.name}: {one_line(d.actual)}")
    return out


def one_line(text: str) -> str:
    """A multi-line definition on one line (its runs of white space made one space)."""
    return " ".join(text.split()) if "\n" in text else text


def _line_diff(was: str, now: str) -> list[str]:
    changed = difflib.ndiff(was.splitlines(), now.splitlines())
    return [f"    {line}" for line in changed if line[:1] in "-+"]


_COLUMN = re.compile(r'^(?P<type>.*?)(?P<collate> collate "[^"]*")?(?P<notnull> not null)?'
                     r"(?: default (?P<default>.*?))?(?P<rest> generated .*?)?"
                     r"(?: storage (?P<storage>\w+))?(?: compression (?P<compression>\w+))?"
                     r"(?: statistics (?P<statistics>-?\d+))?"
                     r"(?: options (?P<fdw_options>\(.*?\)))?(?: with (?P<options>\(.*\)))?$")
# A column's storage parts, each with what it reads as when not set.
_COLUMN_SETTINGS = {"storage": "the type's", "compression": "default", "statistics": "default",
                    "fdw_options": "none", "options": "none"}


def _column_change(was: str, now: str) -> str:
    """A changed column said part by part: ``type text -> character varying(255)``,
    ``default now() -> none``, ``not null -> nullable``."""
    old, new = _COLUMN.match(was), _COLUMN.match(now)
    assert old is not None and new is not None  # every part is optional
    parts = []
    if old["type"] != new["type"]:
        parts.append(f"type {old['type']} -> {new['type']}")
    if old["collate"] != new["collate"]:
        parts.append(f"collation {(old['collate'] or ' default').strip()} -> "
                     f"{(new['collate'] or ' default').strip()}")
    if bool(old["notnull"]) != bool(new["notnull"]):
        parts.append("not null -> nullable" if old["notnull"] else "nullable -> not null")
    if old["default"] != new["default"]:
        parts.append(f"default {old['default'] or 'none'} -> {new['default'] or 'none'}")
    if old["rest"] != new["rest"]:
        parts.append(f"{(old['rest'] or ' not generated').strip()} -> "
                     f"{(new['rest'] or ' not generated').strip()}")
    for part, unset in _COLUMN_SETTINGS.items():
        if old[part] != new[part]:
            parts.append(f"{part} {old[part] or unset} -> {new[part] or unset}")
    return "; ".join(parts) or f"{was} -> {now}"


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """:func:`signed_lines` of what differs from ``before`` to ``after``; empty when equal."""
    return signed_lines(compare(before, after))
