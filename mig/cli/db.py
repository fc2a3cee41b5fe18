"""``mig db``: the embedded default server (URL for psql, stop)."""

from __future__ import annotations

import click

from ..db import EMBEDDED_DBNAME, embedded_server, resolve_dsn
from ..errors import EXIT_OK
from ._common import Printer, cli, common_options, with_settings


@cli.group()
def db() -> None:
    """The embedded database used when no database is configured."""


@db.command()
@common_options
@with_settings
def url(settings, out: Printer) -> int:
    """Print the database URL (starting the embedded server if needed), e.g. for psql."""
    dsn = resolve_dsn(settings)
    if settings.database is not None:
        click.echo(dsn.masked)  # a configured URL is shown without its password
    else:
        click.echo(embedded_server(settings).url(EMBEDDED_DBNAME))
    return EXIT_OK


@db.command()
@common_options
@with_settings
def stop(settings, out: Printer) -> int:
    """Stop the embedded server (its data stays)."""
    server = embedded_server(settings)
    if server.stop():
        out.line(f"stopped the embedded server ({server.datadir})")
    else:
        out.line("the embedded server is not running")
    return EXIT_OK
