"""``mig diff``: the live schema against the schema its applied migrations produce."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_DRIFT, EXIT_OK
from ._common import Printer, cli, common_options, complete_migration_id, with_settings


@cli.command()
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="server to build the migrations' schema on [default: the embedded server] "
              "[env: MIG_SCRATCH_SERVER]")
@click.option("--schema", "schema_names", multiple=True, metavar="NAME",
              help="compare only this schema (repeatable) [default: every schema but the "
              "system's and extensions']")
@click.option("--to", "to", metavar="ID", shell_complete=complete_migration_id,
              help="compare with the migrations up to and including ID instead of the applied "
              "ones (before 'mig baseline --to ID')")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@common_options
@with_settings
def diff(settings: Settings, out: Printer, *, scratch: str | None,
         schema_names: tuple[str, ...], to: str | None, as_json: bool) -> int:
    """Compare the database's schema with the schema its applied migrations produce.

    Exits with 5 when they differ (drift: a change made outside the migrations). Applied
    migrations edited since are named in a warning: the schema is built from the files.
    """
    report = commands.diff(settings, scratch=scratch, schema=schema_names or None, to=to,
                           report=out.report)
    which = "" if to else "applied "
    if not as_json:
        for warning in report.warnings():
            click.echo(warning)
        if report.edited:
            click.echo("  hint: a difference may be the edit, not the database: restore the "
                       "file(s) and put the change in a new migration ('mig status' lists them)")
    if as_json:
        out.json(report.to_json())
    elif report.drift:
        click.echo(f"{report.database} differs from the schema of its "
                   f"{len(report.migrations)} {which}migration(s):")
        for line in report.lines():
            click.echo(f"  {line}")
    else:
        out.line(f"no drift: {report.database} matches its {len(report.migrations)} "
                 f"{which}migration(s)")
    if report.pending and not as_json:
        out.line(f"{len(report.pending)} migration(s) pending, not compared: "
                 + ", ".join(report.pending))
    return EXIT_DRIFT if report.drift else EXIT_OK
