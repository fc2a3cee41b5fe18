"""Verbs that change the migration state: apply, rollback, repair, new.

Each verb takes resolved :class:`~mig.config.Settings` and returns a report object; progress
lines go to the optional ``report`` callable. Errors are :class:`~mig.errors.MigError`
subclasses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg2.extensions import connection

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk.scripts import Script
from ..engine import partial as partial_runs
from ..engine import tracking, undo
from ..engine.connect import connect, open_database
from ..engine.lock import locked_connection
from ..engine.prerequisites import create_schemas
from ..engine.stored import StoredScript
from ..errors import (
    ChecksumMismatch,
    MigError,
    NeedsConfirmation,
    Refused,
    Unfinished,
)
from ..reports import Line, Reporter, RunReport, reporter
from ..yoyo import steps as yoyo_steps
from .state import applied_as_on_disk, bad_files_first


# -- shared steps ----------------------------------------------------------------------------
def _refuse_edited(problems: list[dict]) -> None:
    if not problems:
        return
    lines = []
    for p in problems:
        if p["problem"] == "missing":
            lines.append(f"  {p['id']}: applied, but its file is gone (deleted or renamed)"
                         f" (recorded checksum {p['recorded'] or 'none'})")
        elif p["problem"] == "edited-partial":
            lines.append(f"  {p['path']}: {p['summary']}, and the file was edited since that"
                         f" run started (then {p['recorded'][:12]}, now {p['current'][:12]}):"
                         " resuming could skip or repeat statements")
        else:
            lines.append(f"  {p['path']}: edited after it was applied"
                         f" (recorded {p['recorded'][:12]}, now {p['current'][:12]})")
    raise ChecksumMismatch(
        "applied migrations no longer match their files:\n" + "\n".join(lines),
        problems=problems,
        hint="restore the files; if the change is intended (and already reflected in the "
        "database), accept it with 'mig repair' (for a partly applied migration: after "
        "checking by hand which of its statements the database holds; the resume then skips "
        "the steps whose statements completed and runs the others)",
    )


def _refuse_unfinished(partial: list[partial_runs.Partial], verb: str,
                       plan: list[Script | StoredScript] | None = None) -> None:
    """Refuse to start ``verb`` over an unfinished non-transactional run it would not finish:
    apply does not undo a partial rollback, rollback does not finish a partial apply."""
    for run in partial:
        if verb == "apply" and run.direction == "rollback":
            raise Unfinished(
                f"{run.id} is {run.summary}: 'mig apply' does not bring a half rolled-back"
                " migration forward",
                hint=f"finish the rollback first ('mig rollback' resumes {run.id} where it"
                " stopped), then run 'mig apply'")
        if verb == "rollback" and run.direction == "apply":
            raise Unfinished(
                f"{run.id} is {run.summary}: finish applying it before rolling anything back",
                hint=f"'mig apply' resumes {run.id} where it stopped; then roll back")
        if verb == "rollback" and plan is not None and run.id not in {s.id for s in plan}:
            raise Unfinished(
                f"{run.id} is {run.summary}, and this rollback would not finish it",
                hint=f"roll back {run.id} first ('mig rollback' resumes it)")


def _adopt(conn: connection, scripts: list[Script], applied: list[tracking.Applied]) -> list[str]:
    """Record checksums for migrations applied by plain yoyo (which keeps none)."""
    on_disk = {s.id: s for s in scripts}
    adopted = []
    for row in applied:
        if row.checksum is None and row.id in on_disk:
            tracking.set_checksum(conn, row.id, on_disk[row.id].checksum)
            when = row.applied_at.isoformat(timespec="seconds") if row.applied_at else "?"
            tracking.log_event(
                conn, row.id, "adopt",
                f"applied by plain yoyo ({row.applied_by or 'unknown'}, {when} UTC), not by"
                f" mig: its statements were neither run nor checked by mig; checksum"
                f" {on_disk[row.id].checksum} recorded as the file is now")
            adopted.append(row.id)
    return adopted


def _plan_apply(scripts: list[Script], applied_ids: set[str], to: str | None) -> list[Script]:
    pending = [s for s in scripts if s.id not in applied_ids]
    if to is None:
        return pending
    target = scripts_mod.target(scripts, to)
    needed = {to} | scripts_mod.ancestors(target, scripts)
    return [s for s in pending if s.id in needed]


def _refuse_out_of_order(scripts: list[Script], applied_ids: set[str],
                         plan: list[Script]) -> None:
    """Refuse a pending migration ordered before one already applied (added on a parallel
    branch): databases that have the later one would get it after it, fresh ones before it."""
    position = {s.id: i for i, s in enumerate(scripts)}
    newest = max((position[mid] for mid in applied_ids if mid in position), default=-1)
    early = [s.id for s in plan if position[s.id] < newest]
    if not early:
        return
    raise Refused(
        f"pending migration(s) {', '.join(early)} ordered before {scripts[newest].id}, which is"
        " already applied (added on a parallel branch?): this database would run them after"
        " it, a fresh one before it",
        hint=f"rename them to sort after {scripts[newest].id} ('mig new' makes the name; 'mig"
        " lint' finds them before a deploy), or pass --allow-out-of-order (allow_out_of_order"
        " = true in [mig], MIG_ALLOW_OUT_OF_ORDER=1) when the order does not matter",
    )


def _refuse_non_transactional(release: list[Script]) -> None:
    """A release applied in one transaction cannot hold a migration that must run outside one
    (``CREATE INDEX CONCURRENTLY``): refuse before anything runs, naming them."""
    outside = [s.id for s in release if not s.transactional and not s.empty]
    if outside:
        raise Refused(
            f"--single-transaction: non-transactional migration(s) pending: {', '.join(outside)}",
            hint="apply them on their own first (mig apply --to ID), or apply without"
            " --single-transaction (each migration in its own transaction)")


def _dry_run_entry(script: Script | StoredScript, direction: str,
                   conn: connection | None = None) -> dict:
    if direction == "apply":
        text = "\n".join(scripts_mod.describe_step(s, conn) for s in script.steps)
    else:  # the steps of a group() too, last first: as the runner rolls them back
        parts = []
        for _, inner in reversed(yoyo_steps.flatten(script.steps)):
            action = yoyo_steps.action(inner, "rollback")
            if isinstance(action, str):
                parts.append(action.strip().rstrip(";") + ";")
            elif action is not None:
                parts.append(f"-- python: {getattr(action, '__qualname__', action)}")
        text = "\n".join(parts)
    entry: dict[str, Any] = {"id": script.id, "path": str(script.path),
                             "transactional": script.transactional, "sql": text,
                             "empty": _runs_nothing(script, direction)}
    if isinstance(script, StoredScript):
        entry["stored"] = True
    return entry


#: How a progress line marks a migration that runs nothing (only its records change).
_EMPTY = "empty: nothing to run"


def _runs_nothing(script: Script | StoredScript, direction: str) -> bool:
    """Whether ``script`` is an empty migration with nothing to run in ``direction`` (an empty
    migration's rollback file may still hold statements, which then run)."""
    return script.empty and (direction == "apply" or script.rollback_empty)


def _applied(script: Script, duration: int, say: Reporter) -> dict[str, Any]:
    """The report entry of an applied migration, its progress line said."""
    if script.empty:
        say(f"applied {script.id} ({_EMPTY}; {duration} ms)")
    else:
        say(f"applied {script.id} ({duration} ms)")
    return {"id": script.id, "duration_ms": duration, "empty": script.empty}


# -- verbs -----------------------------------------------------------------------------------

def apply(settings: Settings, *, to: str | None = None, dry_run: bool = False,
          single_transaction: bool = False, report: Reporter | Line | None = None) -> RunReport:
    """Apply pending migrations (up to and including ``to``) under the migration lock.

    :param dry_run: print nothing to the database; return the SQL each migration would run.
    :param single_transaction: apply every pending migration (and the post-apply hooks) in one
        transaction with their records: the release lands whole or not at all. Refused before
        anything runs when any of them is non-transactional.
    :raises ChecksumMismatch: an applied migration's file was edited, deleted or renamed.
    :raises LockTimeout: another process held the lock for longer than ``settings.lock_wait``.
    :raises StatementFailed: a statement failed; that migration left nothing applied.
    :raises Refused: a pending migration is ordered before an applied one (unless
        ``settings.allow_out_of_order``); ``single_transaction`` with a non-transactional
        migration pending.
    """
    say = reporter(report)
    result = RunReport("apply", dry_run=dry_run)
    started = time.monotonic()
    if dry_run:
        scripts, hooks = scripts_mod.load(settings.sources)
        conn = connect(open_database(settings), verb="apply --dry-run")
        try:
            conn.set_session(readonly=True)  # data steps count the rows they would touch
            applied = tracking.read_applied(conn, settings.migration_table)
            partial = partial_runs.read_partial(conn)
            _refuse_edited([p for p in tracking.edited(scripts, applied, partial)
                            if p["recorded"]])
            _refuse_unfinished(partial, "apply")
            plan = _plan_apply(scripts, {a.id for a in applied}, to)
            if not settings.allow_out_of_order:
                _refuse_out_of_order(scripts, {a.id for a in applied}, plan)
            if single_transaction:
                _refuse_non_transactional(plan + hooks if plan else [])
            result.migrations = [_dry_run_entry(s, "apply", conn) for s in plan]
        finally:
            conn.close()
        return result

    scripts, hooks = scripts_mod.scan(settings.sources)
    if to is not None:
        scripts_mod.target(scripts, to)
    with bad_files_first(scripts, hooks), \
            locked_connection(settings, "apply", say) as (dsn, conn), \
            contextlib.ExitStack() as stack:
        # Recomputed under the lock: a process that waited sees what the leader applied.
        applied = tracking.read_applied(conn, settings.migration_table)
        partial = partial_runs.read_partial(conn)
        _refuse_edited(tracking.edited(scripts, applied, partial))
        _refuse_unfinished(partial, "apply")
        if applied_as_on_disk(scripts, applied):
            return result  # the deploy path: no Python migration imported, no yoyo backend
        scripts, hooks = scripts_mod.prepared(scripts, hooks)
        plan = _plan_apply(scripts, {a.id for a in applied}, to)
        if not plan and all(a.checksum for a in applied):
            return result  # nothing up to --to pending
        if not settings.allow_out_of_order:
            _refuse_out_of_order(scripts, {a.id for a in applied}, plan)
        if single_transaction:
            _refuse_non_transactional(plan + hooks if plan else [])
        from ..engine.lock import backend_on
        from ..engine.runner import make_runner

        for name in create_schemas(conn, settings.create_schemas):
            say(f"created schema {name} (create_schemas: the history expects it)")
        backend = backend_on(settings, dsn, conn, "apply")
        result.adopted = _adopt(conn, scripts, applied)
        runner = stack.enter_context(contextlib.closing(make_runner(settings, backend, say)))
        if single_transaction and plan:
            release = plan + hooks
            for script, duration in zip(release, runner.apply_release(release)):
                if script.post_apply:
                    say(f"ran post-apply hook {script.id}")
                else:
                    result.migrations.append(_applied(script, duration, say))
            say(f"committed the release: {len(plan)} migration(s) in one transaction")
            return result
        try:
            for script, duration in runner.apply_grouped(plan):
                result.migrations.append(_applied(script, duration, say))
        except MigError as exc:
            if result.migrations:
                exc.message += ("\n  applied before it in this run (and still applied): "
                                + ", ".join(m["id"] for m in result.migrations))
            raise
        if plan:
            for hook in hooks:
                runner.apply(hook)
                say(f"ran post-apply hook {hook.id}")
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def rollback(settings: Settings, *, steps: int | None = None, to: str | None = None,
             all_applied: bool = False, dry_run: bool = False, yes: bool = False,
             force: bool = False, confirm: Callable[[list[str]], bool] | None = None,
             report: Reporter | Line | None = None) -> RunReport:
    """Roll back the newest ``steps`` migrations (default one), all applied after ``to``, or
    with ``all_applied`` every applied migration (back to the very beginning).

    More than one migration needs ``yes=True`` or a ``confirm`` callback that returns True.
    A migration without any rollback, or holding a data step without a backward function, is
    refused unless ``force=True`` (what it changed then stays as it is). An applied migration
    whose file is gone (applied from another branch) is rolled back with the rollback SQL
    stored when it was applied; its entry in the report has ``"stored": True``.
    :raises Refused: more than one migration and no confirmation; a migration without a
        rollback or an irreversible data migration, or one whose file is gone and whose
        rollback was not stored (a Python migration's), without ``force``.
    """
    say = reporter(report)
    started = time.monotonic()
    if sum((steps is not None, to is not None, all_applied)) > 1:
        raise MigError("give one of --steps, --to and --all, not several")
    if steps is not None and steps < 1:
        raise MigError("--steps must be at least 1")
    scripts, _ = scripts_mod.load(settings.sources)
    result = RunReport("rollback", dry_run=dry_run)

    def checked_plan(conn: connection) -> list[Script | StoredScript]:
        """The plan, refused exactly as the real rollback refuses it (dry runs too)."""
        applied = tracking.read_applied(conn, settings.migration_table)
        partial = partial_runs.read_partial(conn)
        # A file that is gone is no obstacle: its stored rollback is used if it is rolled back.
        _refuse_edited([p for p in tracking.edited(scripts, applied, partial)
                        if p["problem"] != "missing"])
        plan = undo.plan(conn, scripts, applied, steps=len(applied) if all_applied else steps,
                         to=to, force=force)
        _refuse_unfinished(partial, "rollback", plan)
        if not force:
            undo.refuse_irreversible(plan)
        if len(plan) > 1 and not yes and not (confirm and confirm([s.id for s in plan])):
            raise NeedsConfirmation(
                f"this would roll back {len(plan)} migrations: {', '.join(s.id for s in plan)}",
                hint="pass --yes to confirm rolling back more than one migration",
            )
        return plan

    if dry_run:
        conn = connect(open_database(settings), verb="rollback --dry-run")
        try:
            plan = checked_plan(conn)
        finally:
            conn.close()
        result.migrations = [_dry_run_entry(s, "rollback") for s in plan]
        return result

    from ..engine.lock import locked_backend
    from ..engine.runner import make_runner

    with locked_backend(settings, "rollback", say) as backend, contextlib.ExitStack() as stack:
        plan = checked_plan(backend.connection)
        skipped = undo.irreversible(plan) if force else {}
        runner = stack.enter_context(contextlib.closing(make_runner(settings, backend, say)))
        for script in plan:
            # a StoredScript stands in for a Script there (the runner's annotations say Script)
            duration = runner.rollback(script, forced=skipped.get(script.id))  # type: ignore[arg-type]
            noop = _runs_nothing(script, "rollback")
            entry: dict[str, Any] = {"id": script.id, "duration_ms": duration, "empty": noop}
            done = f"{_EMPTY}; {duration} ms" if noop else f"{duration} ms"
            if isinstance(script, StoredScript):
                entry["stored"] = True
                say(f"rolled back {script.id} ({done}) using the rollback stored when it was"
                    " applied: its file is gone")
            else:
                say(f"rolled back {script.id} ({done})")
            result.migrations.append(entry)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def redo(settings: Settings, *, force: bool = False,
         report: Reporter | Line | None = None) -> RunReport:
    """Roll back the newest applied migration and apply it again: for development, after
    editing a migration's rollback or trying one out. Each half is :func:`rollback` and
    :func:`apply`, with their checks: an edited applied migration is refused (``mig repair``
    accepts it first), one that cannot be undone needs ``force``. The report lists the
    migration twice, ``"action": "rollback"`` then ``"apply"``, each with its duration.

    :raises Refused: the newest applied migration's file is gone (it could be rolled back, not
        applied again); :class:`~mig.errors.CannotUndo` as :func:`rollback` raises it.
    :raises MigError: applying it again failed: the message says it is now rolled back.
    """
    say = reporter(report)
    started = time.monotonic()
    result = RunReport("redo")
    scripts, _ = scripts_mod.scan(settings.sources)
    conn = connect(open_database(settings), verb="redo")
    try:
        applied = tracking.read_applied(conn, settings.migration_table)
    finally:
        conn.close()
    if not applied:
        return result
    newest = applied[-1].id
    if newest not in {s.id for s in scripts}:
        raise Refused(
            f"{newest} is the newest applied migration, but its file is gone: redo could roll"
            " it back, not apply it again",
            hint="restore its file (the branch it came from), or roll it back alone with"
            " 'mig rollback'")
    back = rollback(settings, steps=1, force=force, report=say)
    for entry in back.migrations:
        result.migrations.append({"action": "rollback", **entry})
    if not back.migrations:
        return result
    again = back.migrations[0]["id"]
    try:
        forward = apply(settings, to=again, report=say)
    except MigError as exc:
        exc.message += (f"\n  {again} was rolled back by this redo and is pending now: fix it"
                        " and run 'mig apply'")
        raise
    for entry in forward.migrations:
        result.migrations.append({"action": "apply", **entry})
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def repair(settings: Settings, *, report: Reporter | Line | None = None) -> list[dict]:
    """Accept the current checksums of edited applied migrations, and follow renamed files.

    A missing file whose recorded checksum matches exactly one pending file is taken as a
    rename: the record moves to the new id. Every change is written to ``_mig_log``.
    :raises ChecksumMismatch: an applied migration is missing and no renamed file matches it.
    """
    say = reporter(report)
    scripts, _ = scripts_mod.load(settings.sources)
    repaired: list[dict] = []
    from ..engine.lock import locked_backend

    with locked_backend(settings, "repair", say) as backend:
        conn = backend.connection
        applied = tracking.read_applied(conn, settings.migration_table)
        applied_ids = {a.id for a in applied}
        problems = tracking.edited(scripts, applied, partial_runs.read_partial(conn))
        unresolved = []
        backend.begin()
        for p in problems:
            if p["problem"] == "edited-partial":
                partial_runs.accept_partial(conn, p["id"], p["current"])
                tracking.log_event(conn, p["id"], "repair",
                                   f"partial run resumes from checksum {p['recorded']} ->"
                                   f" {p['current']}")
                repaired.append({**p, "action": "the unfinished run resumes from the file as"
                                 " it is now"})
                continue
            if p["problem"] == "edited":
                tracking.set_checksum(conn, p["id"], p["current"])
                tracking.log_event(conn, p["id"], "repair",
                                   f"checksum {p['recorded']} -> {p['current']}")
                repaired.append({**p, "action": "accepted new checksum"})
                continue
            matches = [s for s in scripts if s.id not in applied_ids and p["recorded"]
                       and s.checksum == p["recorded"]]
            if len(matches) != 1:
                unresolved.append(p)
                continue
            new = matches[0]
            tracking.rename(backend, p["id"], new)
            tracking.log_event(conn, new.id, "repair", f"renamed from {p['id']}")
            repaired.append({**p, "action": f"renamed to {new.id}"})
        if unresolved:
            backend.rollback()
            _refuse_edited(unresolved)
        backend.commit()
    for r in repaired:
        say(f"repaired {r['id']}: {r['action']}")
    return repaired


def new(settings: Settings, name: str, *, python: bool = False) -> list[Path]:
    """Create a timestamp-prefixed migration after the newest one; returns the new files.

    The new migration is added to the history lock file (``mig.sum``), which is created
    when missing; the entries already there are kept as they are.
    """
    from ..disk import sumfile as history
    from ..disk.authoring import new_migration

    scripts, _ = scripts_mod.load(settings.sources, checked=False)
    history.check_writable(settings.sources)  # a lock file in conflict: create nothing
    paths = new_migration(settings.sources[0], name, python=python,
                          after=scripts[-1].id if scripts else None,
                          templates=settings.templates)
    scripts, hooks = scripts_mod.load(settings.sources, checked=False)
    history.append(settings.sources, scripts + hooks,
                   [s for s in scripts + hooks if s.path in paths])
    return paths
