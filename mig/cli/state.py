"""The command that reports the migration state: status."""

from __future__ import annotations

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_INCONSISTENT, EXIT_OK, EXIT_PENDING
from . import fleet as fleet_cli
from ._common import Printer, cli, common_options, database_line, with_settings
from .fleet import FleetParams, fleet_options

# What 'mig rollback' can do for an applied migration whose file is gone.
_MISSING_ROLLBACK = {
    "sql": "its rollback was stored when it was applied: 'mig rollback' can undo it",
    "python": "its rollback is Python code: roll it back where its file is",
    "none": "it has no rollback",
    "unknown": "applied before rollbacks were stored: roll it back where its file is",
}

# The STATE of an applied migration by how it was recorded (``recorded`` of a status entry).
_RECORDED_STATE = {"run": "applied", "baseline": "baselined", "adopt": "adopted"}


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="print an object with applied/pending/edited/partial")
@click.option("--exit-code", is_flag=True,
              help=f"exit {EXIT_PENDING} when anything is pending, edited, partly applied or"
              " partly rolled back")
@click.option("--check", is_flag=True,
              help=f"also compare the records with the catalog (read-only); exit"
              f" {EXIT_INCONSISTENT} when they disagree")
@click.option("--scratch-server", "scratch", metavar="URL", envvar="MIG_SCRATCH_SERVER",
              help="with --check: server to build the applied migrations on [default: the"
              " embedded server] [env: MIG_SCRATCH_SERVER]")
@fleet_options(changes=False)
@common_options
@with_settings
def status(settings: Settings, out: Printer, *, as_json: bool, exit_code: bool, check: bool,
           scratch: str | None, fleet: FleetParams | None) -> int:
    """Show applied (when, by whom), pending, edited and partly applied migrations."""
    if fleet is not None:
        return fleet_cli.run("status", settings, out, fleet, as_json=as_json,
                             exit_code=exit_code)
    report = commands.status(settings, check=check, scratch=scratch)
    if as_json:
        out.json(report.to_json())
    else:
        out.line(database_line(report.database, settings))
        rows = [("STATE", "MIGRATION", "APPLIED AT (UTC)", "BY")]
        edited = {e["id"]: e["problem"] for e in report.edited}
        partial = {p["id"]: p for p in report.partial}
        for a in report.applied:
            when = (a["applied_at"] or "")[:19].replace("T", " ")
            how = a.get("recorded", "run")
            state = partial[a["id"]]["state"] if a["id"] in partial else (
                edited[a["id"]].upper() if a["id"] in edited else _RECORDED_STATE[how])
            by = a["applied_by"] or ""
            if how == "baseline":  # nobody ran it: say who recorded it, and how
                by = f"mig baseline ({a.get('recorded_by') or '?'})"
            elif how == "adopt":
                by = f"{by}, adopted by mig ({a.get('recorded_by') or '?'})"
            rows.append((state, a["id"], when, by))
        rows += [(partial[p["id"]]["state"] if p["id"] in partial else "pending", p["id"], "",
                  "") for p in report.pending]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            out.line("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        marked = [a.get("recorded") for a in report.applied]
        out.line(f"{len(report.applied)} applied"
                 + "".join(f" ({n} {word})" if n else "" for n, word in (
                     (marked.count("baseline"), "baselined: recorded, not run"),
                     (marked.count("adopt"), "adopted from plain yoyo")))
                 + f", {len(report.pending)} pending, "
                 f"{len(report.edited)} edited, {len(report.partial)} unfinished")
        for problem in report.edited:
            if problem["problem"] == "missing":
                out.line(f"  {problem['id']}: applied, but not on disk; "
                         + _MISSING_ROLLBACK[problem["rollback"]])
        for p in report.partial:
            out.line(f"{p['id']}: {p['summary']}\n  hint: {p['hint']}")
        for index in report.invalid_indexes:
            out.line(f"invalid index {index['schema']}.{index['name']} on {index['table']}"
                     f" (an interrupted CREATE INDEX CONCURRENTLY): {index['sql']}")
        if report.problems is not None:
            if not report.problems:
                out.line("check: the records agree with the catalog")
            for problem in report.problems:
                out.line(f"check: {problem['kind']}: {problem['message']}\n"
                         f"  fix: {problem['fix']}")
    if check and report.problems:
        return EXIT_INCONSISTENT
    if exit_code and not report.current:
        return EXIT_PENDING
    return EXIT_OK


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="print an object with migration, applied_at and applied_by")
@common_options
@with_settings
def current(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """Print the newest applied migration, or 'none'."""
    report = commands.current(settings)
    if as_json:
        out.json(report.to_json())
    else:
        click.echo(report.line())
    return EXIT_OK
