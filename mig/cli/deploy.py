"""Commands for deploys: ``mig wait`` (block until the database is at the newest migration)."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from . import fleet as fleet_cli
from ._common import Printer, cli, common_options, with_settings
from .fleet import FleetParams, fleet_options


@cli.command()
@click.option("--timeout", type=click.FloatRange(min=0), default=300.0, show_default=True,
              metavar="SECONDS", help="give up after this long (exit 4, or 1 if unreachable)")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              metavar="SECONDS", help="time between two checks")
@click.option("--allow-newer", is_flag=True,
              help="also accept migrations newer than this release's (after a rollback of the "
              "application)")
@click.option("--json", "as_json", is_flag=True,
              help="print the database's status as JSON (with --fleet: one object per target "
              "and a summary)")
@fleet_options(changes=False)
@common_options
@with_settings
def wait(settings: Settings, out: Printer, *, timeout: float, interval: float,
         allow_newer: bool, as_json: bool, fleet: FleetParams | None) -> int:
    """Wait until the database is at the newest migration (e.g. in an initContainer)."""
    if fleet is not None:
        return fleet_cli.run("wait", settings, out, fleet, as_json=as_json, timeout=timeout,
                             interval=interval, allow_newer=allow_newer)
    report = commands.wait(settings, timeout=timeout, interval=interval,
                           allow_newer=allow_newer, report=out.report)
    if as_json:
        out.json(report.to_json())
    elif report.current:
        out.line(f"the database is at the newest migration ({len(report.applied)} applied)")
    else:
        # with --allow-newer, what is applied but not on disk (and sorts after it all)
        newer = ", ".join(p.id for p in report.edited if p.kind == "missing")
        out.line(f"the database has every migration of this release ({len(report.applied)} "
                 f"applied), and newer ones not on disk: {newer}")
    return EXIT_OK
