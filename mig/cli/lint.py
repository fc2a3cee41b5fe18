"""Commands that check migrations before they ship: ``mig lint``, ``mig diff`` and ``mig hash``."""

from __future__ import annotations

from typing import Any

import click

from .. import history
from .. import scripts as scripts_mod
from ..db import resolve_dsn
from ..drift import diff as diff_schemas
from ..errors import EXIT_DRIFT, EXIT_FAILURE, EXIT_OK
from ..lint import lint as lint_migrations
from ..lint.findings import shown
from ._common import Printer, cli, common_options, settings_from, with_settings


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
@common_options
def lint(files: tuple[str, ...], as_json: bool, **params: Any) -> int:
    """Check migrations (all, or FILES) with squawk and mig's own rules, and the lock file.

    Prints one 'file:line: rule: message' line per finding and exits with 1 when any is an
    error. With --database, also reports new migrations ordered before one applied there.
    """
    explicit_database = params.get("database") is not None  # never the environment's
    out = Printer(params.pop("quiet", False), params.pop("verbose", False))
    settings = settings_from(params)
    database = resolve_dsn(settings) if explicit_database else None
    report = lint_migrations(settings, files, database=database)
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


@cli.command()
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="server to build the migrations' schema on [default: the embedded server] "
              "[env: MIG_SCRATCH_SERVER]")
@click.option("--schema", "schema_name", default="public", show_default=True, metavar="NAME")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@common_options
@with_settings
def diff(settings, out: Printer, scratch, schema_name, as_json) -> int:
    """Compare the database's schema with the schema its applied migrations produce.

    Exits with 5 when they differ (drift: a change made outside the migrations). Applied
    migrations edited since are named in a warning: the schema is built from the files.
    """
    report = diff_schemas(settings, scratch=scratch, schema=schema_name, report=out.report)
    if not as_json:
        for warning in report.warnings():
            click.echo(warning)
        if report.edited:
            click.echo("  hint: a difference may be the edit, not the database: restore the "
                       "file(s) and put the change in a new migration ('mig status' lists them)")
    if as_json:
        out.json(report.to_json())
    elif report.drift:
        click.echo(f"{report.database} differs from the schema of its "
                   f"{len(report.migrations)} applied migration(s):")
        for line in report.lines():
            click.echo(f"  {line}")
    else:
        out.line(f"no drift: {report.database} matches its {len(report.migrations)} applied "
                 "migration(s)")
    if report.pending and not as_json:
        out.line(f"{len(report.pending)} migration(s) pending, not compared: "
                 + ", ".join(report.pending))
    return EXIT_DRIFT if report.drift else EXIT_OK


@cli.command(name="hash")
@click.option("--force", is_flag=True,
              help="also list a new migration ordered before one already listed, and "
              "rewrite lines that cannot be read (never a merge conflict)")
@common_options
@with_settings
def hash_(settings, out: Printer, force) -> int:
    """Write the history lock file (migrations/mig.sum) from the migrations on disk."""
    scripts, hooks = scripts_mod.load(settings.sources)
    path = history.write(settings.sources, scripts + hooks, force=force)
    out.line(f"wrote {shown(path)}: {len(scripts) + len(hooks)} migration(s)")
    return EXIT_OK
