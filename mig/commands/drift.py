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

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..dsn import Dsn
from ..engine import comparison, tracking
from ..engine.comparison import Difference
from ..engine.connect import connect, open_database
from ..engine.scratch import build_schema, scratch_server
from ..errors import MigrationError
from ..reports import Edited, JsonRecord, Line, Reporter, optional, reporter


@dataclass(frozen=True)
class DiffReport(JsonRecord):
    """The differences between the live schema and the schema of its applied migrations.

    ``schema`` is the one schema asked for (None when every schema, or several, were
    compared); ``schemas`` those compared (of either database). Each of ``differences`` is a
    :class:`~mig.engine.comparison.Difference`: an object missing from the live database,
    extra in it, or defined differently (``expected`` is what the migrations produce). Each of
    ``edited`` is an applied migration whose file changed since, as ``mig status`` reports it.
    ``versions`` are the two servers' major versions (live, scratch); ``warnings`` what the
    comparison could not do as asked (a scratch server of another major version).
    """

    database: str
    scratch: str
    schema: str | None
    drift: bool = field(init=False)
    migrations: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    schemas: list[str] = field(default_factory=list)
    versions: list[int] | None = optional()
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "drift", bool(self.differences))

    def warnings(self) -> list[str]:
        """One line per edited migration, and one per note on the comparison."""
        return [f"warning: {e.id} was edited after it was applied (recorded "
                f"{(e.recorded or '')[:12]}, now {(e.current or '')[:12]}): the schema is built"
                " from the files as they are now" for e in self.edited] + [
                    f"warning: {note}" for note in self.notes]

    def lines(self) -> list[str]:
        """The differences as text, one line each (a changed function body: a line diff)."""
        return comparison.lines(self.differences)


def diff(settings: Settings, *, scratch: str | Dsn | None = None,
         schema: str | Sequence[str] | None = None, to: str | None = None,
         report: Reporter | Line | None = None) -> DiffReport:
    """Compare the configured database's schema with the one its applied migrations produce.

    :param scratch: URL of the server to build the migrations on (the database it names is only
        used to connect); default: the embedded server, run from binaries of the live server's
        major version where they are found (a note says so when they are not).
    :param schema: the schema compared, or several; default: every schema but the system's and
        those an extension owns (with a schema target, ``settings.schema``: that schema and
        those of ``create_schemas``).
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
    schemas = comparison.scope(settings, schema)
    conn = connect(live_dsn, verb="diff")
    try:
        rows = tracking.read_applied(conn, settings.migration_table)
        live = comparison.read_schema(conn, schemas, ignore)
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

    build = [s for s in scripts if s.id in applied]
    with scratch_server(settings, scratch, major=live.version) as server:
        expected = build_schema(settings, server, build, hooks, schemas=schemas, report=say)
    return DiffReport(
        live_dsn.masked, server.masked, schemas[0] if schemas and len(schemas) == 1 else None,
        migrations=[s.id for s in build],
        pending=[s.id for s in scripts if s.id not in applied],
        edited=[e for e in tracking.edited(scripts, rows) if e.kind == "edited"],
        differences=comparison.differences(expected, live),
        schemas=sorted(set(expected.schemas) | set(live.schemas)),
        versions=[live.version, expected.version],
        notes=comparison.version_notes(live, expected))
