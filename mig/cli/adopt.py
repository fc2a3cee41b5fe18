"""Commands that adopt mig: ``mig init``, ``mig baseline`` and ``mig foreign``."""

from __future__ import annotations

from pathlib import Path

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ._common import (
    Printer,
    cli,
    common_options,
    complete_migration_id,
    lock_options,
    with_settings,
)


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print what was created as JSON")
@click.option("-q", "--quiet", is_flag=True, help="print only errors and requested output")
def init(*, folder: Path, as_json: bool, quiet: bool) -> int:
    """Lay out a mig project in FOLDER (default: here); never overwrites a file.

    Creates what is missing of yoyo.ini, migrations/ with its lock file mig.sum, seeds/base/,
    .mig/.gitignore and a starter test tests/test_migrations.py, and prints the next steps.
    """
    out = Printer(quiet=quiet)
    report = commands.init(folder)
    if as_json:
        out.json(report.to_json())
        return EXIT_OK
    for path in report.created:
        out.line(f"created {path}")
    for path in report.kept:
        out.line(f"kept    {path} (already there)")
    out.line(report.next_steps)
    return EXIT_OK


@cli.command()
@click.option("--to", "to", metavar="ID", required=True, shell_complete=complete_migration_id,
              help="the newest migration the database already has (its id)")
@click.option("--map", "map_file", metavar="FILE",
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="YAML map of the foreign history's entries to mig migration ids")
@click.option("--force", is_flag=True,
              help="record even though the schemas differ; mig's log says so")
@click.option("--dry-run", is_flag=True, help="check everything, record nothing")
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="server to build the migrations' schema on [default: the embedded server] "
              "[env: MIG_SCRATCH_SERVER]")
@click.option("--schema", "schema_names", multiple=True, metavar="NAME",
              help="compare only this schema (repeatable) [default: every schema but the "
              "system's and extensions']")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@lock_options
@common_options
@with_settings
def baseline(settings: Settings, out: Printer, *, to: str, map_file: Path | None, force: bool,
             dry_run: bool, scratch: str | None, schema_names: tuple[str, ...],
             as_json: bool) -> int:
    """Record the migrations up to ID as applied without running them, once the live schema
    is proven to be what they build.

    The migrations are built on a scratch database and the catalogs compared; on any
    difference nothing is recorded and the differences are listed (exit 5). Foreign
    histories (SequelizeMeta, flyway_schema_history, alembic_version, yoyo) must be mapped
    with --map.
    """
    report = commands.baseline(settings, to, map_file=map_file, force=force, dry_run=dry_run,
                            scratch=scratch, schema=schema_names or None, report=out.report)
    if as_json:
        out.json(report.to_json())
        return EXIT_OK
    for note in report.notes:
        click.echo(f"warning: {note}", err=True)
    if report.forced:
        click.echo(f"warning: --force: recording although the schema differs "
                   f"({len(report.differences) + len(report.unreadable)} difference(s), kept "
                   "in mig's log):", err=True)
        for line in report.difference_lines() + [f"cannot compare {u}" for u in
                                                 report.unreadable]:
            click.echo(f"  {line}", err=True)
    for line in report.not_checked_lines():
        click.echo(f"warning: {line} (the live schema cannot show whether its change was "
                   "made; check the rows by hand)", err=True)
    for entry in report.foreign:
        by = entry["replaced_by"] or "nothing (retired)"
        out.detail(f"{entry['table']}: {entry['name']} -> {by}")
    verb = "would record" if dry_run else "recorded"
    how = "forced" if report.forced else "verified: the live schema matches"
    if report.not_checked:
        how += f" except {len(report.not_checked)} data migration(s), not checked"
    out.line(f"{verb} {len(report.recorded)} migration(s) as applied up to {report.target} "
             f"({how}; {len(report.already)} already applied, {len(report.foreign)} foreign "
             "entries replaced)")
    if dry_run:
        out.line("-- dry run: nothing was recorded")
    return EXIT_OK


@cli.command(name="foreign")
@click.option("--json", "as_json", is_flag=True, help="print the entries as JSON")
@common_options
@with_settings
def foreign_(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """List the migration histories other tools left in the database (SequelizeMeta,
    flyway_schema_history, alembic_version, pop's schema_migration, diesel's
    __diesel_schema_migrations, golang-migrate's or dbmate's schema_migrations, yoyo entries
    that are no migration on disk), each version with the migration imported for it."""
    entries = commands.foreign_histories(settings)
    if as_json:
        out.json([e.to_json() for e in entries])
        return EXIT_OK
    if not entries:
        out.line("no foreign migration history in the database")
    for e in entries:
        when = f"  {e.applied_at.isoformat()}" if e.applied_at else ""
        note = f"  ({e.note})" if e.note else ""
        imported = f"  -> {e.imported_as}" if e.imported_as else ""
        click.echo(f"{e.table}: {e.name}{when}{note}{imported}")
    newest = [e.imported_as for e in entries if e.imported_as]
    if newest:
        out.line(f"{len(newest)} of {len(entries)} entries are migrations imported with 'mig "
                 f"import' (-> id); the newest: {newest[-1]} ('mig baseline --to ID')")
    return EXIT_OK
