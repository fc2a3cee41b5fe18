"""Adopting mig: ``mig init`` for a project, ``mig baseline`` for a database built without it,
``mig foreign`` for the histories other tools left there.

A baseline records migrations as applied without running them, so it is only as good as the
claim that the database already holds what they build. :func:`baseline` proves that claim
before recording anything: the migrations up to the target are built on a scratch database
(as ``mig verify`` and ``mig diff`` build them) and the two catalogs are compared with the
snapshot code ``mig diff`` uses. Objects the snapshot cannot describe (rules, extended
statistics, inheritance, ...) make the proof impossible and are refused the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psycopg2.extensions import connection

from ..config import Settings
from ..config import resolve as resolve_settings
from ..disk import scripts as scripts_mod
from ..disk import sumfile
from ..disk.kinds import is_data_migration
from ..dsn import Dsn
from ..engine import comparison, foreign, tracking
from ..engine.comparison import Difference
from ..engine.connect import connect, open_database, transaction
from ..engine.lock import locked_connection
from ..engine.scratch import build_schema
from ..engine.snapshot import uncompared_objects
from ..errors import BaselineRefused, MigError
from ..reports import Line, Reporter, reporter

# -- mig init ---------------------------------------------------------------------------------
_INI = """\
# Read by both mig and yoyo. No database here: mig falls back to MIG_DATABASE_URL,
# DATABASE_URL, then its embedded server (data in .mig/). For plain yoyo, pass --database.
[DEFAULT]
sources = %(here)s/migrations
migration_table = _yoyo_migration
batch_mode = on
verbosity = 0
"""

_STARTER_TEST = '''\
"""Written by 'mig init': the test database of the mig pytest plugin has every migration."""

import mig


def test_the_test_database_has_every_migration(mig_db):
    status = mig.status(mig_db.settings())
    assert status.pending == [] and status.edited == [], status.to_json()
'''

NEXT_STEPS = """\
next steps:
  mig new create_notes        # a migration and its rollback: write the SQL in both
  mig hash                    # once written: their checksums into migrations/mig.sum
  mig apply                   # apply it (to the embedded database in .mig/ unless configured)
  python -m pytest            # tests/test_migrations.py, on a fresh database per test
an existing database built without mig: 'mig diff --to ID', then 'mig baseline --to ID'
(docs/adopt.md)"""


@dataclass
class InitReport:
    """What :func:`init` created and what it found already there (and kept as it was)."""

    folder: str
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    next_steps: str = NEXT_STEPS

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {"folder": self.folder, "created": self.created, "kept": self.kept}


def init(folder: str | Path = ".") -> InitReport:
    """Lay out a mig project in ``folder`` (empty or not); never overwrites a file.

    Creates what is missing of: ``yoyo.ini``; the migrations folder it names, with the history
    lock file ``mig.sum`` (listing the migrations already there); ``seeds/base/``;
    ``.mig/.gitignore`` (``*``: the embedded database's folder ignores itself); and a starter
    test ``tests/test_migrations.py`` for the pytest plugin. Running it again creates nothing.

    :raises ConfigError: an existing ``yoyo.ini`` cannot be read.
    """
    root = Path(folder).absolute()
    root.mkdir(parents=True, exist_ok=True)
    result = InitReport(str(root))

    def write(path: Path, text: str) -> None:
        shown = str(path.relative_to(root))
        if path.exists():
            result.kept.append(shown)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result.created.append(shown)

    def folder_of(path: Path) -> None:
        shown = str(path.relative_to(root)) + "/" if path.is_relative_to(root) else str(path)
        (result.kept if path.is_dir() else result.created).append(shown)
        path.mkdir(parents=True, exist_ok=True)

    write(root / "yoyo.ini", _INI)
    settings = resolve_settings(config_file=root / "yoyo.ini", project_dir=root, env={})
    for source in settings.sources:
        folder_of(source)
    scripts, hooks = scripts_mod.load(settings.sources)
    lock_file = sumfile.path_for(settings.sources)
    if lock_file.exists():
        result.kept.append(str(lock_file.relative_to(root)))
    else:
        sumfile.write(settings.sources, scripts + hooks)
        result.created.append(str(lock_file.relative_to(root)))
    folder_of(settings.seeds_dir)
    write(settings.seeds_dir / "base" / ".gitkeep", "")
    write(root / ".mig" / ".gitignore", "*\n")
    write(root / "tests" / "test_migrations.py", _STARTER_TEST)
    return result


# -- foreign histories ------------------------------------------------------------------------
def foreign_histories(settings: Settings) -> list[foreign.Entry]:
    """The entries of other tools' migration histories in the configured database
    (``SequelizeMeta``, ``flyway_schema_history``, ``alembic_version``, and yoyo entries that
    are no migration on disk). Changes nothing."""
    scripts, _ = scripts_mod.scan(settings.sources)
    conn = connect(open_database(settings), verb="foreign")
    try:
        return foreign.read(conn, migration_table=settings.migration_table,
                            known_ids=[s.id for s in scripts])
    finally:
        conn.close()


# -- mig baseline -----------------------------------------------------------------------------
# Why a data migration in a baseline's range is recorded without proof.
NOT_CHECKED = "it changes rows, not the schema"


@dataclass
class BaselineReport:
    """What :func:`baseline` checked and recorded (in a dry run: would record).

    ``recorded`` are the migrations recorded as applied by this baseline, ``already`` those up
    to the target that were applied before; ``foreign`` the foreign entries with the migration
    that replaces each (``None``: retired); ``differences`` (as ``mig diff`` reports them) and
    ``unreadable`` are empty unless ``forced``. ``not_checked`` are the recorded migrations
    that change rows rather than the schema (see :func:`mig.disk.kinds.is_data_migration`):
    comparing schemas cannot tell whether their change was made, so they are recorded as
    applied without that proof.
    """

    database: str
    target: str
    dry_run: bool = False
    forced: bool = False
    recorded: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    foreign: list[dict] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def not_checked_lines(self) -> list[str]:
        """One line per migration recorded without proof, saying why."""
        return [f"not checked: {mid}: {NOT_CHECKED}" for mid in self.not_checked]

    def difference_lines(self) -> list[str]:
        """The differences as text, one line each (as ``mig diff`` prints them)."""
        return comparison.lines(self.differences)

    def to_json(self) -> dict:
        """The report as --json prints it."""
        return {"database": self.database, "target": self.target, "dry_run": self.dry_run,
                "forced": self.forced, "recorded": self.recorded, "already": self.already,
                "foreign": self.foreign,
                "differences": [d.to_json() for d in self.differences],
                "unreadable": self.unreadable,
                "not_checked": [{"id": mid, "reason": NOT_CHECKED} for mid in self.not_checked],
                **({"notes": self.notes} if self.notes else {})}


def baseline(settings: Settings, to: str, *, map_file: str | Path | None = None,
             force: bool = False, dry_run: bool = False, scratch: str | Dsn | None = None,
             schema: str | Sequence[str] | None = None,
             report: Reporter | Line | None = None) -> BaselineReport:
    """Record every migration up to and including ``to`` as applied, without running it, once
    the live schema is proven equal to what they build.

    Under the migration lock: the migrations up to ``to`` are built on a scratch database and
    its schema compared with the live one; foreign histories found in the database must all
    be named by the map (``map_file``, see :func:`mig.foreign.read_map`), and the log records
    which entries each migration replaced. Works on a database without yoyo's tables (they are
    created). Every refusal changes nothing. A migration in the range that changes rows rather
    than the schema (a data migration) builds nothing to compare: it is recorded but listed in
    ``not_checked``, and its log entry says it was not verified.

    :param map_file: YAML map of foreign history entries to mig migration ids.
    :param force: record even though the schemas differ (or cannot be compared); the log says
        so and lists the differences.
    :param dry_run: check everything, record nothing.
    :param scratch: URL of the server to build on; default: the embedded server (run from
        binaries of the live server's major version where they are found; ``notes`` says
        when they are not).
    :param schema: the schema compared, or several; default: every schema but the system's
        and those an extension owns (see :func:`mig.engine.comparison.scope`).
    :raises UnknownMigration: ``to`` is no migration.
    :raises MigError: the database has migrations applied after ``to``;
        a foreign history without a map, or a map that does not fit it.
    :raises BaselineRefused: the live schema differs from the migrations' (``differences``), or
        holds objects that cannot be compared (``unreadable``); not with ``force``.
    """
    say = reporter(report)
    scripts, hooks = scripts_mod.load(settings.sources)
    ids = scripts_mod.upto(scripts, to)
    mapping = foreign.read_map(Path(map_file)) if map_file is not None else None
    ignore = (settings.migration_table,)
    with locked_connection(settings, "baseline", say) as (dsn, conn):
        result = BaselineReport(dsn.masked, to, dry_run=dry_run)
        applied = tracking.read_applied(conn, settings.migration_table)
        _refuse_applied_past(applied, [s.id for s in scripts], ids, dsn.masked)
        entries = foreign.read(conn, migration_table=settings.migration_table,
                               known_ids=[s.id for s in scripts])
        replaced = _map_entries(entries, mapping, map_file, [s.id for s in scripts], to)
        result.foreign = [{**e.to_json(), "replaced_by": mid} for e, mid in replaced.items()]
        schemas = comparison.scope(settings, schema)
        result.unreadable = uncompared_objects(conn, schemas, ignore=ignore)
        live = comparison.read_schema(conn, schemas, ignore)
        build = [s for s in scripts if s.id in set(ids)]
        expected = build_schema(settings, scratch, build, hooks, schemas=schemas, report=say,
                                major=live.version)
        result.notes = comparison.version_notes(live, expected)
        result.differences = comparison.differences(expected, live)
        if (result.differences or result.unreadable) and not force:
            raise _refusal(result)
        result.forced = bool(result.differences or result.unreadable)
        done = {a.id for a in applied}
        result.already = [mid for mid in ids if mid in done]
        result.recorded = [mid for mid in ids if mid not in done]
        result.not_checked = [s.id for s in build
                              if s.id not in done and is_data_migration(s)]
        if not dry_run:
            _record(settings, dsn, conn, [s for s in build if s.id not in done], result,
                    replaced)
    return result


def _refuse_applied_past(applied: list[tracking.Applied], order: list[str], ids: list[str],
                         where: str) -> None:
    past = [a.id for a in applied if a.id in order and a.id not in ids]
    if past:
        raise MigError(
            f"{where} already has migrations applied after the baseline target {ids[-1]}: "
            + ", ".join(past),
            hint="a baseline records history up to a point the database has not passed yet: "
            "choose a target at or after the newest applied migration ('mig status')",
        )


def _map_entries(entries: list[foreign.Entry], mapping: dict[str, dict[str, str | None]] | None,
                 map_file: str | Path | None, order: list[str],
                 to: str) -> dict[foreign.Entry, str | None]:
    if mapping is None:
        unmapped = [e for e in entries if e.imported_as is None]
        if unmapped:
            tables = sorted({e.table for e in unmapped})
            counts = ", ".join(f"{t} ({sum(e.table == t for e in unmapped)} entries)"
                               for t in tables)
            raise MigError(
                f"the database holds the migration history of another tool: {counts}",
                hint="say which mig migration replaces each entry in a map file and pass "
                "--map FILE ('mig foreign' lists the entries; docs/adopt.md shows the format)",
            )
        return foreign.apply_map(entries, {}, path=None, known_ids=order, target=to)
    return foreign.apply_map(entries, mapping, path=str(map_file), known_ids=order, target=to)


def _refusal(result: BaselineReport) -> BaselineRefused:
    lines = [f"  {line}" for line in result.difference_lines()]
    lines += [f"  cannot compare {what}" for what in result.unreadable]
    count = len(result.differences) + len(result.unreadable)
    return BaselineRefused(
        f"refusing to baseline {result.database} at {result.target}: its schema is not what "
        f"the migrations up to there build ({count} difference(s); missing: only the "
        "migrations build it, extra: only the database has it, changed: migrations -> "
        "database):\n" + "\n".join(lines),
        differences=[d.to_json() for d in result.differences],
        unreadable=result.unreadable,
        hint="bring the database to the migrations' schema first (a bridge migration, see "
        "docs/adopt.md), or pick the target the database really matches; --force records "
        "anyway and says so in mig's log",
    )


def _record(settings: Settings, dsn: Dsn, conn: connection, scripts: list[scripts_mod.Script],
            result: BaselineReport, replaced: dict[foreign.Entry, str | None]) -> None:
    """yoyo's and mig's records of a baseline, all in one transaction."""
    from ..engine.lock import backend_on

    backend = backend_on(settings, dsn, conn, "baseline")
    common: dict[str, object] = {"target": result.target, "verified": not result.forced,
                                 "forced": result.forced}
    if result.forced:
        common["differences"] = result.difference_lines()
        common["unreadable"] = result.unreadable
    with transaction(conn):
        for script in scripts:
            entries = [{"table": e.table, "name": e.name}
                       for e, mid in replaced.items() if mid == script.id]
            unchecked = ({"verified": False, "not_checked": NOT_CHECKED}
                         if script.id in result.not_checked else {})
            detail = json.dumps({**common, **unchecked, "replaces": entries})
            tracking.record_baseline(backend, script, detail)
        retired = [{"table": e.table, "name": e.name} for e, mid in replaced.items()
                   if mid is None]
        if retired:
            tracking.log_event(conn, None, "baseline",
                               json.dumps({**common, "retires": retired}))
        for entry in replaced:
            if entry.tool == "yoyo":  # another project's ids in mig's own yoyo table
                tracking.forget(backend, entry.name)
