"""Commands that change the migration state: apply, rollback, redo, repair; and config."""

from __future__ import annotations

import sys

import click

from .. import commands
from ..config import Settings
from ..errors import EXIT_OK
from ..reports import RunReport
from . import fleet as fleet_cli
from ._common import (
    Printer,
    announce,
    cli,
    common_options,
    complete_migration_id,
    lock_options,
    with_settings,
    with_target,
)
from .fleet import FleetParams, fleet_options


def _print_run(out: Printer, report: RunReport) -> None:
    """A run's lines; a dry run's SQL is printed whatever -q says (it was asked for)."""
    lines = report.lines()
    if report.dry_run:
        for text in lines[:-1]:
            click.echo(text)
        lines = lines[-1:]
    out.lines(lines)


@cli.command()
@click.option("--to", "to", metavar="ID", shell_complete=complete_migration_id,
              help="apply up to and including this migration")
@click.option("--dry-run", is_flag=True, help="print what would run; change nothing")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--seed", "with_seed", is_flag=True,
              help="load the seed data (seeds/base/) after the migrations")
@click.option("--seed-env", metavar="NAME",
              help="with --seed, also load seeds/NAME/ (implies --seed)")
@click.option("--single-transaction", is_flag=True,
              help="apply every pending migration in one transaction: all or nothing")
@click.option("--allow-out-of-order", is_flag=True, default=None,
              help="apply pending migrations ordered before an applied one "
              "[env: MIG_ALLOW_OUT_OF_ORDER]")
@click.option("--yes", "-y", is_flag=True,
              help="with --fleet --canary, go on after the canary passes without asking")
@click.option("--from-template", metavar="TEMPLATE",
              help="with --fleet, create a target database that does not exist as a clone of "
              "TEMPLATE, a database at head on its server (as 'mig db create')")
@fleet_options(changes=True)
@lock_options
@common_options
@with_settings
def apply(settings: Settings, out: Printer, *, to: str | None, dry_run: bool, as_json: bool,
          with_seed: bool, seed_env: str | None, single_transaction: bool, yes: bool,
          from_template: str | None, fleet: FleetParams | None) -> int:
    """Apply pending migrations, under a lock that concurrent runs wait for."""
    if fleet is not None:
        if dry_run or single_transaction:
            fleet_cli.refuse("--dry-run" if dry_run else "--single-transaction")
        return fleet_cli.run("apply", settings, out, fleet, as_json=as_json, yes=yes, to=to,
                             seed=with_seed, seed_env=seed_env, from_template=from_template)
    if from_template is not None:
        raise click.UsageError("--from-template works with --fleet only (one database: "
                               "'mig db create NAME --from-template TEMPLATE')")
    announce(settings, out)
    report = commands.apply(settings, to=to, dry_run=dry_run,
                            single_transaction=single_transaction, report=out.report)
    seeded = (commands.seed(settings, env=seed_env, report=out.report)
              if (with_seed or seed_env) and not dry_run else None)
    if as_json:
        seed = {} if seeded is None else {"seed": seeded.to_json()}
        out.json(with_target({**report.to_json(), **seed}, settings))
    else:
        _print_run(out, report)
    for text in report.details():
        out.detail(text)
    if seeded is not None and not as_json:
        out.lines(seeded.lines())
    return EXIT_OK


@cli.command()
@click.option("--steps", type=int, metavar="N",
              help="roll back the newest N migrations [default: 1]")
@click.option("--to", "to", metavar="ID", shell_complete=complete_migration_id,
              help="roll back every migration applied after ID")
@click.option("--all", "all_applied", is_flag=True,
              help="roll back every applied migration, back to the very beginning")
@click.option("--dry-run", is_flag=True, help="print what would run; change nothing")
@click.option("--yes", "-y", is_flag=True, help="confirm rolling back more than one migration")
@click.option("--force", is_flag=True,
              help="roll back migrations without a rollback and irreversible data"
              " migrations too (what they changed stays)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@fleet_options(changes=True)
@lock_options
@common_options
@with_settings
def rollback(settings: Settings, out: Printer, *, steps: int | None, to: str | None,
             all_applied: bool, dry_run: bool, yes: bool, force: bool, as_json: bool,
             fleet: FleetParams | None) -> int:
    """Roll back the newest migration (more with --steps N, --to ID or --all, confirmed by
    --yes)."""
    if fleet is not None:
        if dry_run or all_applied:
            fleet_cli.refuse("--dry-run" if dry_run else "--all")
        return fleet_cli.run("rollback", settings, out, fleet, as_json=as_json, yes=yes,
                             steps=steps, to=to, force=force)

    announce(settings, out)
    report = commands.rollback(settings, steps=steps, to=to, all_applied=all_applied,
                               dry_run=dry_run, yes=yes, force=force, confirm=_confirm,
                               report=out.report)
    if as_json:
        out.json(with_target(report.to_json(), settings))
    else:
        _print_run(out, report)
    return EXIT_OK


def _confirm(ids: list[str]) -> bool:
    """Rolling back several migrations, asked on a terminal (anywhere else: --yes)."""
    if not sys.stdin.isatty():
        return False
    return click.confirm(f"roll back {len(ids)} migrations ({', '.join(ids)})?")


@cli.command()
@click.option("--force", is_flag=True,
              help="redo a migration without a rollback or an irreversible data migration too"
              " (what its rollback cannot undo stays)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@lock_options
@common_options
@with_settings
def redo(settings: Settings, out: Printer, *, force: bool, as_json: bool) -> int:
    """Roll back the newest migration and apply it again (for development)."""
    announce(settings, out)
    report = commands.redo(settings, force=force, report=out.report)
    if as_json:
        out.json(with_target(report.to_json(), settings))
    else:
        _print_run(out, report)
    return EXIT_OK


@cli.command()
@lock_options
@common_options
@with_settings
def repair(settings: Settings, out: Printer) -> int:
    """Accept the current checksums of edited applied migrations (recorded in _mig_log)."""
    announce(settings, out)
    out.lines(commands.repair(settings, report=out.report).lines())
    return EXIT_OK


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
@common_options
@with_settings
def show_config(settings: Settings, out: Printer, *, as_json: bool) -> int:
    """Show the resolved settings (password masked) and where the database came from."""
    shown = settings.describe()
    if as_json:
        out.json(settings.to_json())
    else:
        width = max(len(k) for k in shown)
        for key, value in shown.items():
            click.echo(f"{key.ljust(width)}  {value}")
    return EXIT_OK
