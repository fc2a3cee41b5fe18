"""``mig squash``: the migrations up to one replaced by one that builds the same schema."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ._common import Printer, cli, common_options, complete_migration_id, with_settings


@cli.command()
@click.option("--to", "to", metavar="ID", required=True, shell_complete=complete_migration_id,
              help="the newest migration to squash (every migration up to it is replaced)")
@click.option("--keep", "keep", metavar="ID", multiple=True, shell_complete=complete_migration_id,
              help="a data migration of the range to keep, after the squash (repeatable)")
@click.option("--dry-run", is_flag=True, help="prove the squash and print it; write nothing")
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="server to build on [default: the embedded server] [env: MIG_SCRATCH_SERVER]")
@click.option("--schema", "schema_names", multiple=True, metavar="NAME",
              help="render only this schema (repeatable) [default: every schema but the "
              "system's and extensions']")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@common_options
@with_settings
def squash(settings: Settings, out: Printer, *, to: str, keep: tuple[str, ...], dry_run: bool,
           scratch: str | None, schema_names: tuple[str, ...], as_json: bool) -> int:
    """Replace the migrations up to ID with one migration that builds the same schema.

    The history is built on a scratch database, rendered from nothing, and the result proven
    on a fresh one (same schema; its rollback leaves nothing) before the replaced files are
    removed and the squash written (exit 5 on a difference: nothing written). Data migrations
    of the range are dropped unless kept with --keep. Databases that applied every replaced
    migration record the squash as applied without running it (docs/adopt.md).
    """
    report = commands.squash(settings, to, keep=keep, dry_run=dry_run, scratch=scratch,
                             schema=schema_names or None, report=out.report)
    if as_json:
        out.json(report.to_json())
        return EXIT_OK
    for line in report.lines():
        out.line(line)
    return EXIT_OK
