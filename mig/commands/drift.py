"""``mig diff``: the live database's schema against the schema its migrations produce.

The migrations applied in the live database are applied, in order, to a scratch database (on
the embedded server by default, or on the server of ``scratch``), the way ``mig verify`` builds
them, and the two schemas are compared with :mod:`mig.engine.snapshot`. Migrations not applied
yet in the live database are left out of the build and listed as pending: a difference is then a
change made outside the migrations (drift), not work still to do.

The build uses the files as they are now: an applied migration edited since (its checksum no
longer the one recorded when it was applied, as ``mig status`` shows it) is listed in
``edited``, since a difference may then be the edit rather than a change to the database.

Grants name the role that owns the objects; the live database's objects are usually owned by a
different role than the scratch database's, so in both snapshots that owner's name is replaced
by ``<owner>`` before comparing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from psycopg2.extensions import connection

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..dsn import Dsn
from ..engine import tracking
from ..engine.connect import connect, fetch_row, open_database, scratch_host
from ..engine.scratch import ScratchEngine, scratch_database
from ..engine.snapshot import SECTIONS, Snapshot, snapshot
from ..errors import MigError, MigrationError
from ..reports import Line, Reporter, reporter

OWNER = "<owner>"
_OWNED_SECTIONS = ("grants", "default_privileges")


@dataclass
class DiffReport:
    """The differences between the live schema and the schema of its applied migrations.

    Each of ``differences`` is ``{"change": "missing" | "extra" | "changed", "kind": "table" |
    "column" | "index" | ..., "name", "expected", "actual"}``: missing from the live database,
    extra in it, or defined differently (``expected`` is what the migrations produce).
    Each of ``edited`` is an applied migration whose file changed since, as ``mig status``
    reports it: ``{"id", "problem": "edited", "recorded", "current", "path"}``.
    """

    database: str
    scratch: str
    schema: str
    migrations: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    edited: list[dict] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        """Whether the live schema differs from its migrations'."""
        return bool(self.differences)

    def warnings(self) -> list[str]:
        """One line per edited migration."""
        return [f"warning: {e['id']} was edited after it was applied (recorded "
                f"{e['recorded'][:12]}, now {e['current'][:12]}): the schema is built from the "
                "files as they are now" for e in self.edited]

    def lines(self) -> list[str]:
        """The differences as text, one line each (a changed function body: a line diff)."""
        out = []
        for d in self.differences:
            head = f"{d['change']} {d['kind']} {d['name']}"
            was, now = d["expected"], d["actual"]
            if d["change"] != "changed":
                out.append(f"{head}: {_one_line(was if now is None else now)}")
            elif d["kind"] == "column":
                out.append(f"{head}: {_column_change(was, now)}")
            elif "\n" in was or "\n" in now:
                out.append(f"{head}:")
                changed = difflib.ndiff(was.splitlines(), now.splitlines())
                out.extend(f"    {line}" for line in changed if line[:1] in "-+")
            else:
                out.append(f"{head}: {was} -> {now}")
        return out

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {
            "database": self.database,
            "scratch": self.scratch,
            "schema": self.schema,
            "drift": self.drift,
            "migrations": self.migrations,
            "pending": self.pending,
            "edited": self.edited,
            "differences": self.differences,
        }


def compare(expected: Snapshot, actual: Snapshot) -> list[dict]:
    """What differs between two snapshots, section by section (see :class:`DiffReport`)."""
    found = []
    for section, kind in SECTIONS.items():
        old, new = expected.get(section, {}), actual.get(section, {})
        for name in sorted(set(old) | set(new)):
            was, now = old.get(name), new.get(name)
            if was != now:
                change = "missing" if now is None else "extra" if was is None else "changed"
                found.append({"change": change, "kind": kind, "name": name,
                              "expected": was, "actual": now})
    return found


_COLUMN = re.compile(r'^(?P<type>.*?)(?P<collate> collate "[^"]*")?(?P<notnull> not null)?'
                     r"(?: default (?P<default>.*?))?(?P<rest> generated .*)?$")


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
    return "; ".join(parts) or f"{was} -> {now}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _owner_free(snap: Snapshot, owner: str) -> Snapshot:
    """``snap`` with ``owner`` (a role name) written as ``<owner>`` in grants."""
    name = re.escape(owner)
    pattern = re.compile(rf'(?<![\w"]){name}(?=[=/ ])|(?<=/){name}(?![\w"])')
    result = dict(snap)
    for section in _OWNED_SECTIONS:
        result[section] = {pattern.sub(OWNER, key): pattern.sub(OWNER, value)
                           for key, value in snap.get(section, {}).items()}
    return result


def read_schema(conn: connection, schema: str, ignore: tuple[str, ...]) -> tuple[Snapshot, str]:
    """The snapshot of ``schema`` and the role ``conn`` is connected as (the objects' owner)."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        user = fetch_row(cur)[0]
    return snapshot(conn, schema, ignore=ignore), user


def build_schema(settings: Settings, build: list[scripts_mod.Script],
                 hooks: list[scripts_mod.Script], server: Dsn, *, schema: str,
                 report: Reporter) -> tuple[Snapshot, str]:
    """The snapshot (and owner role) of ``build`` applied in order on a scratch database of
    ``server``, the way ``mig apply`` applies them; the scratch database is dropped after."""
    ignore = (settings.migration_table,)
    with scratch_database(server, keep=False) as dsn:
        report(f"building {len(build)} migration(s) on scratch database {dsn.dbname}")
        engine = ScratchEngine(dataclasses.replace(settings, database=dsn), hooks, schema)
        try:
            for script in build:
                engine.apply(script)
            return read_schema(engine.backend.connection, schema, ignore)
        finally:
            engine.close()


def differences(expected: Snapshot, expected_owner: str, live: Snapshot,
                live_owner: str) -> list[dict]:
    """:func:`compare` with each side's owner role written as ``<owner>`` in grants.

    A table whose column list changed only because a column is missing or extra is left out:
    that column's own entry says it (a change of column order alone is kept).
    """
    found = compare(_owner_free(expected, expected_owner), _owner_free(live, live_owner))
    added_or_gone = {d["name"].split(".")[0] for d in found
                     if d["kind"] == "column" and d["change"] != "changed"}
    return [d for d in found if not (d["kind"] == "table" and d["change"] == "changed"
                                     and d["name"] in added_or_gone
                                     and _qualifiers(d["expected"]) == _qualifiers(d["actual"]))]


def _qualifiers(table: str) -> str:
    """A table's snapshot text without its column list."""
    return table.split(")", 1)[1] if table.startswith("(") else table


@contextlib.contextmanager
def scratch_server(settings: Settings, scratch: str | Dsn | None) -> Iterator[Dsn]:
    """The server to build on: ``scratch``, else the embedded one (never the live database's),
    which is stopped again at the end when it was started only for this."""
    if isinstance(scratch, str):
        scratch = Dsn.parse(scratch)
    if scratch is not None:
        yield scratch
        return
    with scratch_host(dataclasses.replace(settings, database=None)) as server:
        yield server


def diff(settings: Settings, *, scratch: str | Dsn | None = None, schema: str = "public",
         to: str | None = None, report: Reporter | Line | None = None) -> DiffReport:
    """Compare the configured database's schema with the one its applied migrations produce.

    :param scratch: URL of the server to build the migrations on (the database it names is only
        used to connect); default: the embedded server.
    :param schema: the schema compared.
    :param to: compare with the migrations up to and including this one instead of the applied
        ones (what ``mig baseline --to`` checks, e.g. on a database mig has never seen).
    :returns: a :class:`DiffReport`; its ``differences`` are empty when there is no drift.
    :raises MigError: ``to`` is no migration on disk.
    :raises MigrationError: a migration applied in the live database has no file any more.
    :raises StatementFailed: a migration fails on the scratch database.
    :raises DatabaseUnavailable: a server is unreachable, or refuses to create a database.
    """
    say = reporter(report)
    scripts, hooks = scripts_mod.load(settings.sources)
    live_dsn = open_database(settings)
    ignore = (settings.migration_table,)
    conn = connect(live_dsn, verb="diff")
    try:
        rows = tracking.read_applied(conn, settings.migration_table)
        live, live_owner = read_schema(conn, schema, ignore)
    finally:
        conn.close()
    applied = {a.id for a in rows}
    if to is not None:
        applied = set(upto(scripts, to))
    missing = sorted(applied - {s.id for s in scripts})
    if missing:
        raise MigrationError(
            f"applied in {live_dsn.masked} but no longer on disk: {', '.join(missing)}",
            hint="restore those migration files: the expected schema is built from them",
        )

    with scratch_server(settings, scratch) as server:
        result = DiffReport(live_dsn.masked, server.masked, schema)
        build = [s for s in scripts if s.id in applied]
        result.pending = [s.id for s in scripts if s.id not in applied]
        result.edited = [e.to_json() for e in tracking.edited(scripts, rows)
                         if e.kind == "edited"]
        expected, scratch_owner = build_schema(settings, build, hooks, server, schema=schema,
                                               report=say)
    result.migrations = [s.id for s in build]
    result.differences = differences(expected, scratch_owner, live, live_owner)
    return result


def upto(scripts: list[scripts_mod.Script], to: str) -> list[str]:
    """The ids of ``scripts`` (in order) up to and including ``to``.

    :raises MigError: ``to`` is not one of them (the message names it and the nearest ids).
    """
    ids = [s.id for s in scripts]
    if to not in ids:
        close = difflib.get_close_matches(to, ids, n=1, cutoff=0.6)
        raise MigError(f"{to}: no such migration in {', '.join(str(p) for p in _folders(scripts))}",
                       hint=(f"did you mean {' or '.join(close)}? " if close else "")
                       + "'mig status' lists the ids (file names without extension)")
    return ids[: ids.index(to) + 1]


def _folders(scripts: list[scripts_mod.Script]) -> list:
    return sorted({s.path.parent for s in scripts}) or ["the migrations folder"]
