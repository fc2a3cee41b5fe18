"""``mig db``: the embedded default server (URL for psql, stop)."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ._common import Printer, cli, common_options, with_settings


@cli.group()
def db() -> None:
    """The embedded database used when no database is configured."""


@db.command()
@common_options
@with_settings
def url(settings: Settings, out: Printer) -> int:
    """Print the database URL (starting the embedded server if needed), e.g. for psql."""
    click.echo(commands.database_url(settings))  # a configured URL without its password
    return EXIT_OK


@db.command()
@common_options
@with_settings
def stop(settings: Settings, out: Printer) -> int:
    """Stop the embedded server (its data stays)."""
    if commands.stop_embedded(settings):
        data = commands.target(settings)["embedded_data"]
        out.line(f"stopped the embedded server (data in {data})")
    else:
        out.line("the embedded server is not running")
    return EXIT_OK
