"""``mig import --from FORMAT SOURCE``: another tool's migration folder as mig migrations."""

from __future__ import annotations

from pathlib import Path

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ._common import Printer, cli, common_options, with_settings

FORMATS = ("pop", "diesel", "golang-migrate", "dbmate", "flyway")


def _values(ctx: click.Context, param: click.Parameter,  # noqa: ARG001 - click's signature
            given: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", ctx=ctx, param=param)
        values[name] = value
    return values


@cli.command(name="import")
@click.option("--from", "fmt", required=True, type=click.Choice(FORMATS),
              help="the layout of SOURCE: the tool that wrote it")
@click.argument("source", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--set", "values", multiple=True, metavar="NAME=VALUE", callback=_values,
              help="the value of a Go-template placeholder ({{ .NAME }}), repeatable")
@click.option("--dry-run", is_flag=True, help="check everything, list what would be written")
@click.option("--force", is_flag=True, help="overwrite existing files that differ")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@common_options
@with_settings
def import_(settings: Settings, out: Printer, *, fmt: str, source: Path,
            values: dict[str, str], dry_run: bool, force: bool, as_json: bool) -> int:
    """Write the migrations of another tool's folder SOURCE into the migrations folder: ids
    and order kept, statements unchanged, non-transactional ones marked.

    Everything is checked before anything is written; a second run changes nothing. A
    database the old tool migrated is then taken over with 'mig foreign' and
    'mig baseline' (docs/adopt.md).
    """
    report = commands.import_history(settings, fmt, source, values=values, dry_run=dry_run,
                                     force=force)
    if as_json:
        out.json(report.to_json())
        return EXIT_OK
    for line in report.lines(each=dry_run or out.verbose):  # a line per migration: -v
        out.line(line)
    return EXIT_OK
