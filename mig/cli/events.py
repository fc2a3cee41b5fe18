"""The command that tells what happened to the migrations: history."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ._common import Printer, cli, common_options, database_line, with_settings


@cli.command()
@click.option("--id", "migration", metavar="ID", help="only this migration's events")
@click.option("--since", metavar="WHEN",
              help="only events since WHEN: a date or time in UTC (2026-12-01, "
              "2026-12-01T14:30) or a span back from now (30min, 12h, 7d, 2w)")
@click.option("--json", "as_json", is_flag=True, help="print an object with the events")
@common_options
@with_settings
def history(settings: Settings, out: Printer, *, migration: str | None, since: str | None,
            as_json: bool) -> int:
    """Show what happened, oldest first: applies, rollbacks, repairs, baselines, adoptions."""
    report = commands.history(settings, migration=migration, since=since)
    if as_json:
        out.json(report.to_json())
    else:
        out.line(database_line(report.database, settings))
        for line in report.lines():
            click.echo(line)
    return EXIT_OK
