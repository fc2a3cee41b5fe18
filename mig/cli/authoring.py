"""``mig new``: a new migration file, written from a template or, with ``--from URL``,
generated from a database's schema and proven before it is written."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ._common import Printer, cli, common_options, with_settings


@cli.command()
@click.argument("name")
@click.option("--sql", "kind", flag_value="sql", default=True, help="an SQL migration [default]")
@click.option("--py", "kind", flag_value="py", help="a Python migration")
@click.option("--from", "source", metavar="URL",
              help="generate the migration that takes the history's schema to the schema of "
              "the database at URL, proven both ways on a scratch database before it is written")
@click.option("--schema", "schemas", multiple=True, metavar="NAME",
              help="with --from, the schema compared [default: public]")
@click.option("--rename", "renames", multiple=True, metavar="TABLE.OLD=NEW",
              help="with --from, a column renamed (repeatable): written as RENAME COLUMN, "
              "never guessed")
@click.option("--allow-destructive", is_flag=True,
              help="with --from, write changes that lose data (dropped tables, columns, "
              "types, enum values; narrowing type changes)")
@click.option("--dry-run", is_flag=True,
              help="with --from, print the proven SQL; write nothing")
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="with --from, server to build and prove on [default: the embedded server] "
              "[env: MIG_SCRATCH_SERVER]")
@click.option("--json", "as_json", is_flag=True, help="with --from, print the result as JSON")
@common_options
@with_settings
def new(settings: Settings, out: Printer, *, name: str, kind: str, source: str | None,
        schemas: tuple[str, ...], renames: tuple[str, ...], allow_destructive: bool,
        dry_run: bool, scratch: str | None, as_json: bool) -> int:
    """Create a timestamp-prefixed migration file (and its rollback file); with --from URL,
    write the migration that gives the schema of the database at URL."""
    if source is None:
        given = [o for o, v in (("--schema", schemas), ("--rename", renames),
                                ("--allow-destructive", allow_destructive),
                                ("--dry-run", dry_run), ("--json", as_json)) if v]
        if given:
            raise click.UsageError(f"{given[0]} works with --from URL only")
        for path in commands.new(settings, name, python=kind == "py"):
            click.echo(str(path))
        return EXIT_OK
    if kind == "py":
        raise click.UsageError("--from writes an SQL migration: leave out --py")
    report = commands.new_from(settings, name, source, schemas=schemas, renames=renames,
                               allow_destructive=allow_destructive, dry_run=dry_run,
                               scratch=scratch, report=out.report)
    if as_json:
        out.json(report.to_json())
        return EXIT_OK
    for line in report.lines():
        click.echo(line)
    for line in report.notes():
        click.echo(line, err=True)
    return EXIT_OK
