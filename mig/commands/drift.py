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

import dataclasses
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..dsn import Dsn
from ..engine import tracking
from ..engine.connect import connect, resolve_dsn
from ..engine.scratch import ScratchEngine, scratch_database
from ..engine.snapshot import SECTIONS, Snapshot, snapshot
from ..errors import MigrationError
from ..reports import silent

Report = Callable[[str], None]

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
            elif "\n" in was or "\n" in now:
                out.append(f"{head}:")
                changed = difflib.ndiff(was.splitlines(), now.splitlines())
                out.extend(f"    {line}" for line in changed if line[:1] in "-+")
            else:
                out.append(f"{head}: {was} -> {now}")
        return out

    def to_json(self) -> dict:
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


def _read(conn, schema: str, ignore: tuple[str, ...]) -> tuple[Snapshot, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        user = cur.fetchone()[0]
    return snapshot(conn, schema, ignore=ignore), user


def diff(settings: Settings, *, scratch: str | Dsn | None = None, schema: str = "public",
         report: Report | None = None) -> DiffReport:
    """Compare the configured database's schema with the one its applied migrations produce.

    :param scratch: URL of the server to build the migrations on (the database it names is only
        used to connect); default: the embedded server.
    :param schema: the schema compared.
    :returns: a :class:`DiffReport`; its ``differences`` are empty when there is no drift.
    :raises MigrationError: a migration applied in the live database has no file any more.
    :raises StatementFailed: a migration fails on the scratch database.
    :raises DatabaseUnavailable: a server is unreachable, or refuses to create a database.
    """
    say = report or silent
    scripts, hooks = scripts_mod.load(settings.sources)
    live_dsn = resolve_dsn(settings)
    ignore = (settings.migration_table,)
    conn = connect(live_dsn, verb="diff")
    try:
        rows = tracking.read_applied(conn, settings.migration_table)
        live, live_owner = _read(conn, schema, ignore)
    finally:
        conn.close()
    applied = {a.id for a in rows}
    missing = sorted(applied - {s.id for s in scripts})
    if missing:
        raise MigrationError(
            f"applied in {live_dsn.masked} but no longer on disk: {', '.join(missing)}",
            hint="restore those migration files: the expected schema is built from them",
        )

    if isinstance(scratch, str):
        scratch = Dsn.parse(scratch)
    server = scratch or resolve_dsn(dataclasses.replace(settings, database=None,
                                                        password_file=None))
    result = DiffReport(live_dsn.masked, server.masked, schema)
    build = [s for s in scripts if s.id in applied]
    result.pending = [s.id for s in scripts if s.id not in applied]
    result.edited = [e for e in tracking.edited(scripts, rows) if e["problem"] == "edited"]
    with scratch_database(server, keep=False) as dsn:
        say(f"building {len(build)} applied migration(s) on scratch database {dsn.dbname}")
        engine = ScratchEngine(dataclasses.replace(settings, database=dsn), hooks, schema)
        try:
            for script in build:
                engine.apply(script)
                result.migrations.append(script.id)
            expected, scratch_owner = _read(engine.backend.connection, schema, ignore)
        finally:
            engine.close()
    result.differences = compare(_owner_free(expected, scratch_owner),
                                 _owner_free(live, live_owner))
    return result
