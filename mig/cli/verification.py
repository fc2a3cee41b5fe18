"""``mig verify``: every rollback proven on a scratch database."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK, MigError
from . import fleet as fleet_cli
from ._common import Printer, cli, common_options, current_run, with_settings
from .fleet import FleetParams, fleet_options


@cli.command()
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="server to create the scratch database on [default: the server of --database "
              "when given on the command line, else the embedded server] [env: MIG_SCRATCH_SERVER]")
@click.option("--keep", is_flag=True, help="keep the scratch database and print its URL")
@click.option("--chain", is_flag=True,
              help="only apply everything, roll it all back newest first and apply it again")
@click.option("--keep-going", is_flag=True,
              help="check every migration and report each failing one, not only the first")
@click.option("--json", "as_json", is_flag=True,
              help="print the result as JSON (also when a check fails)")
@fleet_options(changes=False)
@common_options
@with_settings
def verify(settings: Settings, out: Printer, *, scratch: str | None, keep: bool, chain: bool,
           keep_going: bool, as_json: bool, fleet: FleetParams | None) -> int:
    """Prove every rollback on a scratch database: apply, roll back, compare, re-apply.

    The scratch database is created on the embedded server (or --scratch-server, or the server
    of a --database given here; never one from the environment or yoyo.ini) and dropped
    afterwards. A rollback that does not restore the exact previous schema fails with the
    difference, naming the migration. --chain checks only the whole chain (for histories whose
    rollbacks work newest first only); --keep-going reports every failing migration.
    """
    if fleet is not None:
        for given, option in ((scratch, "--scratch-server"), (keep, "--keep"),
                              (chain, "--chain"), (keep_going, "--keep-going")):
            if given:
                fleet_cli.refuse(option)
        return fleet_cli.run("verify", settings, out, fleet, as_json=as_json)
    server = scratch or (settings.database if current_run().database_given else None)
    try:
        report = commands.verify(settings, scratch=server, keep=keep, chain=chain,
                                 keep_going=keep_going, report=out.report)
    except MigError as exc:
        failed = getattr(exc, "report", None)  # with --json, main prints it with the error
        if failed is not None and keep and failed.database:
            click.echo(f"scratch database kept: {failed.database}", err=True)
        raise
    if as_json:
        out.json(report.to_json())
        return EXIT_OK
    what = ("the whole chain rolls back newest first and applies again" if chain
            else "every rollback restores the previous schema")
    out.line(f"verified {len(report.migrations)} migration(s) in {report.duration_ms} ms: {what}")
    if keep:
        click.echo(f"scratch database kept: {report.database}")
    return EXIT_OK
