"""The fleet options shared by apply, rollback, seed, status and wait, and the one place that
runs a verb over a fleet and prints it (docs/fleet.md)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..config import Settings
from ..errors import EXIT_CANARY, EXIT_FAILURE, EXIT_OK, EXIT_PENDING, MigError
from ._common import Printer

# The fleet options a command receives together as ``fleet`` (see :func:`fleet_options`).
FleetParams = dict[str, Any]

_KEYS = ("fleet", "jobs", "shard", "canary", "max_failures", "journal", "restart")


def fleet_options(*, changes: bool) -> Callable[[Callable], Callable]:
    """``--fleet SOURCE``, ``--jobs``, ``--shard``; for verbs that change targets also
    ``--canary``, ``--max-failures``, ``--journal`` and ``--restart``. The command receives them
    together as ``fleet`` (a dict, or None without ``--fleet``)."""
    options = [
        click.option("--fleet", metavar="SOURCE",
                     help="run over many databases or schemas: a file, sql:QUERY, "
                     "databases:PATTERN or schemas:PATTERN (docs/fleet.md)"),
        click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
                     help="with --fleet, targets run at once [default: from the cores and the "
                     "server's max_connections]"),
        click.option("--shard", metavar="I/N",
                     help="with --fleet, only this worker's share: I of N (0-based)"),
    ]
    if changes:
        options += [
            click.option("--canary", type=click.IntRange(min=0), default=0, metavar="K",
                         help="with --fleet, run the first K targets first; stop if one fails"),
            click.option("--max-failures", type=click.IntRange(min=1), metavar="F",
                         help="with --fleet, start no more targets after F failures "
                         "[default: go on and report]"),
            click.option("--journal", type=click.Path(dir_okay=False, path_type=Path),
                         metavar="PATH", help="with --fleet, the outcome records a rerun "
                         "resumes from [default: .mig/fleet/VERB-KEY.jsonl]"),
            click.option("--restart", is_flag=True,
                         help="with --fleet, ignore an unfinished run's journal and start over"),
        ]

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(**params: Any) -> Any:
            given = {k: params.pop(k) for k in _KEYS if k in params}
            if not given.get("fleet"):
                extra = [k for k, v in given.items() if v not in (None, False, 0) and k != "fleet"]
                if extra:
                    raise click.UsageError(
                        f"--{extra[0].replace('_', '-')} works with --fleet only")
                return func(fleet=None, **params)
            return func(fleet=given, **params)

        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def run(verb: str, settings: Settings, out: Printer, fleet: FleetParams, *, as_json: bool,
        yes: bool = False, exit_code: bool = False, **verb_options: Any) -> int:
    """Load the targets, run ``verb`` of :mod:`mig.fleet` over them and print the outcome."""
    from .. import fleet as fleet_mod
    from ..fleet.report import Progress

    shard = fleet_mod.parse_shard(fleet["shard"]) if fleet.get("shard") else None
    targets = fleet_mod.load(fleet["fleet"], settings.database)
    progress = Progress() if not out.quiet and sys.stderr.isatty() else None

    def on_outcome(outcome: fleet_mod.Outcome, summary: fleet_mod.Summary) -> None:
        if as_json:
            click.echo(json.dumps(outcome.to_json(), default=str))
        elif not outcome.ok or out.verbose:
            if progress is not None:
                click.echo("\r\x1b[K", err=True, nl=False)  # the line above the progress
            click.echo(outcome.line())
        if progress is not None:
            progress.update(summary)

    def confirm(summary: fleet_mod.Summary) -> bool:
        if yes or not sys.stdin.isatty():
            return True  # without a terminal, a canary that passed lets the run go on
        if progress is not None:
            progress.clear()  # the question is asked on a line of its own, not drawn over
        return click.confirm(f"the canary's {summary.finished} target(s) passed; go on with "
                             f"the other {summary.pending}?")

    options = fleet_mod.FleetOptions(
        jobs=fleet.get("jobs"), canary=fleet.get("canary") or 0,
        max_failures=fleet.get("max_failures"), shard=shard, journal=fleet.get("journal"),
        restart=bool(fleet.get("restart")), confirm=confirm, on_outcome=on_outcome)
    summary = getattr(fleet_mod, verb)(settings, targets, options, **verb_options)
    if progress is not None:
        progress.update(summary, final=True)
    if as_json:
        click.echo(json.dumps(summary.to_json(), default=str))
    else:
        for line in summary.lines():
            (click.echo if summary.failed else out.line)(line)
    if summary.canary_failed:  # told apart for scripts: nothing past the canary was touched
        return EXIT_CANARY
    if summary.failed:
        return EXIT_FAILURE
    if summary.pending or (exit_code and any(v.state != "current" for v in summary.versions)):
        return EXIT_PENDING
    return EXIT_OK


def refuse(option: str) -> None:
    """A usage error: ``option`` does not work with ``--fleet``."""
    raise MigError(f"{option} does not work with --fleet",
                   hint="run it on one target (--database URL) instead")
