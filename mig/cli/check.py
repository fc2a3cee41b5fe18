"""Commands that check migrations before they ship: ``mig lint`` and ``mig hash``."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_FAILURE, EXIT_OK
from ..lint.findings import shown
from ._common import Printer, cli, common_options, current_run, with_settings


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
@click.option("--since", metavar="ID|REV",
              help="check only the migrations after migration ID, or those added or changed "
              "since git revision REV (e.g. origin/main)")
@common_options
@with_settings
def lint(settings: Settings, out: Printer, *, files: tuple[str, ...], as_json: bool,
         since: str | None) -> int:
    """Check migrations (all, or FILES) with squawk and mig's own rules, and the lock file.

    Prints one 'file:line: rule: message' line per finding and exits with 1 when any is an
    error. With --database, also reports new migrations ordered before one applied there.
    With --since, only the migrations newer than an id (or changed since a git revision).
    """
    report = commands.lint(settings, files, against_database=current_run().database_given,
                           since=since)
    if as_json:
        out.json(report.to_json())
    else:
        for finding in report.findings:
            click.echo(str(finding))
        for rule, reason in report.switched_off.items():
            out.detail(f"switched off: {rule}: {reason}")
        errors, warnings = len(report.errors), len(report.findings) - len(report.errors)
        summary = f"{report.migrations} migration(s) checked: {errors} error(s)"
        out.line(summary + (f", {warnings} warning(s)" if warnings else ""))
    return EXIT_OK if report.ok else EXIT_FAILURE


@cli.command(name="hash")
@click.option("--force", is_flag=True,
              help="also list a new migration ordered before one already listed, and "
              "rewrite lines that cannot be read (never a merge conflict)")
@common_options
@with_settings
def hash_(settings: Settings, out: Printer, *, force: bool) -> int:
    """Write the history lock file (migrations/mig.sum) from the migrations on disk."""
    path, count = commands.hash_history(settings, force=force)
    out.line(f"wrote {shown(path)}: {count} migration(s)")
    return EXIT_OK
