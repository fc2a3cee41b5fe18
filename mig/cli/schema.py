"""``mig schema``: the live schema exported (diagram, snapshot, SQL)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK, MigError
from ._common import Printer, cli, common_options, with_settings


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "json", "sql"]),
    default="mermaid",
    show_default=True,
    help="an entity-relationship diagram, the full snapshot that 'mig verify' compares, or "
    "the DDL from pg_dump --schema-only",
)
@click.option("--schema", "schema_name", metavar="NAME",
              help="the schema shown [default: public; for --format json, every schema but "
              "the system's and extensions']")
@click.option("--pg-dump", "pg_dump", metavar="PATH", envvar="MIG_PG_DUMP",
              help="the pg_dump binary for --format sql [default: the embedded server's, PATH's "
              "or /usr/lib/postgresql/*/bin's, the first as new as the server] [env: MIG_PG_DUMP]")
@click.option(
    "--update",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="replace the diagram between the mig:erd markers of FILE instead of printing it",
)
@common_options
@with_settings
def schema(settings: Settings, out: Printer, *, fmt: str, schema_name: str | None,
           pg_dump: str | None, update: Path | None) -> int:
    """Print the live schema of the database, read from its catalogs (or, as SQL, by pg_dump)."""
    if fmt == "json":
        if update:
            raise MigError("--update works with --format mermaid only")
        out.json(commands.schema_snapshot(settings, schema=schema_name))
        return EXIT_OK
    schema_name = schema_name or "public"
    if fmt == "sql":
        if update:
            raise MigError("--update works with --format mermaid only")
        click.echo(commands.schema_sql(settings, schema=schema_name, pg_dump=pg_dump), nl=False)
    elif update is None:
        click.echo(commands.schema_diagram(settings, schema=schema_name), nl=False)
    else:
        commands.update_diagram(settings, update, schema=schema_name)
        out.line(f"updated the diagram in {update}")
    return EXIT_OK
