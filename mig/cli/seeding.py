"""``mig seed``: load the YAML fixtures under seeds/ (docs/seeds.md)."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from . import fleet as fleet_cli
from ._common import Printer, announce, cli, common_options, with_settings, with_target
from .fleet import FleetParams, fleet_options


@cli.command()
@click.option("--env", "env", metavar="NAME",
              help="also load seeds/NAME/ after seeds/base/ (e.g. dev, test)")
@click.option("--dry-run", is_flag=True,
              help="print per row what would happen (insert, update with the changed fields, "
              "unchanged, delete); write nothing")
@click.option("--prune", is_flag=True,
              help="remove owned rows that no fixture lists (soft delete where the table has "
              "deleted_at)")
@click.option("--json", "as_json", is_flag=True,
              help='print {"tables": {name: {inserted, updated, unchanged, deleted}}, ...}')
@click.option("--seeds", "seeds_dir", metavar="PATH",
              help="the seeds folder [default: seeds] [env: MIG_SEEDS]")
@click.option("--yes", "-y", is_flag=True,
              help="with --fleet --canary, go on after the canary passes without asking")
@fleet_options(changes=True)
@common_options
@with_settings
def seed(settings: Settings, out: Printer, *, env: str | None, dry_run: bool, prune: bool,
         as_json: bool, yes: bool, fleet: FleetParams | None) -> int:
    """Load seed data: seeds/base/ everywhere, seeds/ENV/ with --env.

    Every fixture is validated first; any problem stops the run with file and line and
    nothing is written. A second run writes nothing.
    """
    if fleet is not None:
        if dry_run:
            fleet_cli.refuse("--dry-run")
        return fleet_cli.run("seed", settings, out, fleet, as_json=as_json, yes=yes, env=env,
                             prune=prune)
    announce(settings, out)
    report = commands.seed(settings, env=env, prune=prune, dry_run=dry_run,
                           report=out.report)
    if as_json:
        out.json(with_target(report.to_json(), settings))
    else:
        for line in report.lines():
            out.line(line)
    return EXIT_OK
