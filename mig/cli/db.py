"""``mig db``: the embedded default server (URL for psql, stop, remove), the sweep of
server data left by deleted projects (prune), and new databases cloned from a template at head
(create)."""

from __future__ import annotations

import click

from .. import commands
from ..commands.db import EmbeddedState
from ..config import Settings
from ..errors import EXIT_OK, NeedsConfirmation
from ._common import Printer, cli, common_options, with_settings


def _show(out: Printer, state: EmbeddedState, *, as_json: bool) -> int:
    """The embedded server's state as JSON or as its lines."""
    if as_json:
        out.json(state.to_json())
    else:
        out.lines(state.lines())
    return EXIT_OK


@cli.group()
def db() -> None:
    """The database mig uses (the embedded one when none is configured); new tenants."""


@db.command()
@common_options
@with_settings
def url(settings: Settings, out: Printer) -> int:
    """Print the database URL (starting the embedded server if needed), e.g. for psql."""
    click.echo(commands.database_url(settings))  # a configured URL without its password
    return EXIT_OK


@db.command()
@click.option("--json", "as_json", is_flag=True, help="print the state as JSON")
@common_options
@with_settings
def start(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """Start the embedded server (its data and database created the first time)."""
    return _show(out, commands.start_embedded(settings), as_json=as_json)


@db.command()
@click.option("--json", "as_json", is_flag=True, help="print the state as JSON")
@common_options
@with_settings
def status(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """Whether the embedded server runs, where its data is, which PostgreSQL it is."""
    return _show(out, commands.embedded_state(settings), as_json=as_json)


@db.command()
@click.option("--yes", "-y", is_flag=True, help="do it: everything in the database is lost")
@common_options
@with_settings
def reset(settings: Settings, out: Printer, *, yes: bool) -> int:
    """Drop the embedded server's database and create it empty again (the embedded one only;
    never a configured database)."""
    commands.reset_embedded(settings, yes=yes)
    out.line("the embedded server's database is empty again: 'mig apply' builds it anew")
    return EXIT_OK


@db.command()
@common_options
@with_settings
def stop(settings: Settings, out: Printer) -> int:
    """Stop the embedded server (its data stays)."""
    if commands.stop_embedded(settings):
        data = commands.target(settings).embedded_data
        out.line(f"stopped the embedded server (data in {data})")
    else:
        out.line("the embedded server is not running")
    return EXIT_OK


@db.command()
@click.option("--json", "as_json", is_flag=True, help="print what was removed as JSON")
@common_options
@with_settings
def prune(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """Remove server data left in /var/lib/mig/servers by projects whose folder is gone."""
    swept = commands.prune_servers()
    if as_json:
        out.json({"removed": [{"folder": str(s.folder), "origin": str(s.requested),
                               "bytes": s.size, "was_running": s.was_running} for s in swept]})
        return EXIT_OK
    for s in swept:
        stopped = ", its server stopped" if s.was_running else ""
        out.line(f"removed {s.folder} (data of {s.requested}, {s.size / 1e6:.1f} MB{stopped})")
    total = sum(s.size for s in swept)
    out.line(f"{len(swept)} left-over server data folder(s) removed, {total / 1e6:.1f} MB freed"
             if swept else "no left-over server data")
    return EXIT_OK


@db.command()
@click.option("--yes", "-y", is_flag=True, help="do it: every database of the server is lost")
@common_options
@with_settings
def remove(settings: Settings, out: Printer, *, yes: bool) -> int:
    """Stop the embedded server and delete its data (e.g. to start anew with server_bin)."""
    if not yes:
        raise NeedsConfirmation(
            "mig db remove deletes the embedded server's data, and every database in it",
            hint="run 'mig db remove --yes' to do it (pg_dump what you want to keep first)")
    removed = commands.remove_embedded(settings)
    out.line(f"removed the embedded server's data ({removed})" if removed
             else "the embedded server has no data")
    return EXIT_OK


@db.command()
@click.argument("name")
@click.option("--from-template", "template", required=True, metavar="TEMPLATE",
              help="the database to clone, on the same server: at the newest migration, "
              "seeded, and with no other session connected")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@common_options
@with_settings
def create(settings: Settings, out: Printer, *, name: str, template: str, as_json: bool) -> int:
    """Create database NAME as a clone of TEMPLATE (CREATE DATABASE ... TEMPLATE), on the
    server of --database; the template must be at head."""
    created = commands.create_database(settings, name, template=template)
    if as_json:
        out.json(created.to_json())
    else:
        out.line(f"created {created.name} from {created.template} in {created.ms} ms, at "
                 f"{created.version or 'no migration'} ({created.url})")
    return EXIT_OK
