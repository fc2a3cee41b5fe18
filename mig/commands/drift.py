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

from dataclasses import dataclass, field

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..dsn import Dsn
from ..engine import comparison, tracking
from ..engine.comparison import Difference
from ..engine.connect import connect, open_database
from ..engine.scratch import build_schema, scratch_server
from ..errors import MigrationError
from ..reports import Line, Reporter, reporter


@dataclass
class DiffReport:
    """The differences between the live schema and the schema of its applied migrations.

    Each of ``differences`` is a :class:`~mig.engine.comparison.Difference`: an object missing
    from the live database, extra in it, or defined differently (``expected`` is what the
    migrations produce).
    Each of ``edited`` is an applied migration whose file changed since, as ``mig status``
    reports it: ``{"id", "problem": "edited", "recorded", "current", "path"}``.
    """

    database: str
    scratch: str
    schema: str
    migrations: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    edited: list[dict] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)

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
        return comparison.lines(self.differences)

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
            "differences": [d.to_json() for d in self.differences],
        }


def diff(settings: Settings, *, scratch: str | Dsn | None = None, schema: str = "public",
         to: str | None = None, report: Reporter | Line | None = None) -> DiffReport:
    """Compare the configured database's schema with the one its applied migrations produce.

    :param scratch: URL of the server to build the migrations on (the database it names is only
        used to connect); default: the embedded server.
    :param schema: the schema compared.
    :param to: compare with the migrations up to and including this one instead of the applied
        ones (what ``mig baseline --to`` checks, e.g. on a database mig has never seen).
    :returns: a :class:`DiffReport`; its ``differences`` are empty when there is no drift.
    :raises UnknownMigration: ``to`` is no migration on disk.
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
        live = comparison.read_schema(conn, schema, ignore)
    finally:
        conn.close()
    # a squash whose replaced migrations are all applied stands for them (as 'mig status')
    rows = tracking.as_squashed(rows, tracking.squashed(scripts, rows))
    applied = {a.id for a in rows}
    if to is not None:
        applied = set(scripts_mod.upto(scripts, to))
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
        expected = build_schema(settings, server, build, hooks, schema=schema, report=say)
    result.migrations = [s.id for s in build]
    result.differences = comparison.differences(expected, live)
    return result
