"""The command that reports the migration state: status."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_INCONSISTENT, EXIT_OK, EXIT_PENDING
from . import fleet as fleet_cli
from ._common import Printer, cli, common_options, database_line, with_settings
from .fleet import FleetParams, fleet_options


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="print an object with applied/pending/edited/partial")
@click.option("--exit-code", is_flag=True,
              help=f"exit {EXIT_PENDING} when anything is pending, edited, partly applied or"
              " partly rolled back")
@click.option("--check", is_flag=True,
              help=f"also compare the records with the catalog (read-only); exit"
              f" {EXIT_INCONSISTENT} when they disagree")
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="with --check: server to build the applied migrations on [default: the"
              " embedded server] [env: MIG_SCRATCH_SERVER]")
@fleet_options(changes=False)
@common_options
@with_settings
def status(settings: Settings, out: Printer, *, as_json: bool, exit_code: bool, check: bool,
           scratch: str | None, fleet: FleetParams | None) -> int:
    """Show applied (when, by whom), pending, edited and partly applied migrations."""
    if fleet is not None:
        return fleet_cli.run("status", settings, out, fleet, as_json=as_json,
                             exit_code=exit_code)
    report = commands.status(settings, check=check, scratch=scratch)
    if as_json:
        out.json(report.to_json())
    else:
        out.line(database_line(report.database, settings))
        out.lines(report.lines())
    if check and report.problems:
        return EXIT_INCONSISTENT
    if exit_code and not report.current:
        return EXIT_PENDING
    return EXIT_OK


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="print an object with migration, applied_at and applied_by")
@common_options
@with_settings
def current(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """Print the newest applied migration, or 'none'."""
    report = commands.current(settings)
    if as_json:
        out.json(report.to_json())
    else:
        click.echo(report.line())
    return EXIT_OK
