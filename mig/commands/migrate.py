"""Verbs that change the migration state: apply, rollback, repair, new.

Each verb takes resolved :class:`~mig.config.Settings` and returns a report object; progress
lines go to the optional ``report`` callable. Errors are :class:`~mig.errors.MigError`
subclasses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg2.extensions import connection

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk.scripts import Script
from ..engine import partial as partial_runs
from ..engine import tracking, undo
from ..engine.connect import session, transaction
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
from ..reports import (
    Edited,
    Line,
    Repair,
    RepairReport,
    Reporter,
    RunEntry,
    RunReport,
    reporter,
)
from ..yoyo import steps as yoyo_steps
from .state import applied_as_on_disk, bad_files_first

if TYPE_CHECKING:  # yoyo's backends are imported by those who run migrations
    from ..yoyo.backend import Backend


# -- shared steps ----------------------------------------------------------------------------
def _refuse_edited(problems: list[Edited]) -> None:
    if not problems:
        return
    raise ChecksumMismatch(
        "applied migrations no longer match their files:\n"
        + "\n".join(f"  {p.describe()}" for p in problems),
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


def _refuse_part_squashed(squashes: list[tracking.Squashed]) -> None:
    """Refuse a database part way through the migrations a squash on disk replaced: the
    squash builds them all, from nothing, and the files of the others are gone."""
    for squash in squashes:
        if squash.missing:
            raise Refused(
                f"{squash.script.id} squashes migrations this database applied only some of:"
                f" applied {', '.join(a.id for a in squash.applied)}; not applied"
                f" {', '.join(squash.missing)}",
                hint="apply the release from before the squash first (it has their files:"
                " 'git checkout' it and run 'mig apply'), then this one; docs/adopt.md"
                " (squashing the history) has the order of a rollout")


def _record_squashes(conn: connection, backend: Backend,
                     squashes: list[tracking.Squashed]) -> tuple[str, ...]:
    """Record each squash whose replaced migrations are all applied, in one transaction (the
    run's report says so: :meth:`RunReport.lines`)."""
    if not squashes:
        return ()
    with transaction(conn):
        for squash in squashes:
            tracking.record_squash(backend, squash)
    return tuple(squash.script.id for squash in squashes)


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
                   conn: connection | None = None) -> RunEntry:
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
    return RunEntry(id=script.id, path=str(script.path), transactional=script.transactional,
                    sql=text, empty=_runs_nothing(script, direction),
                    stored=isinstance(script, StoredScript))


def _since(started: float) -> int:
    """Milliseconds since ``started`` (a :func:`time.monotonic` reading)."""
    return int((time.monotonic() - started) * 1000)


#: How a progress line marks a migration that runs nothing (only its records change).
_EMPTY = "empty: nothing to run"


def _runs_nothing(script: Script | StoredScript, direction: str) -> bool:
    """Whether ``script`` is an empty migration with nothing to run in ``direction`` (an empty
    migration's rollback file may still hold statements, which then run)."""
    return script.empty and (direction == "apply" or script.rollback_empty)


def _applied(script: Script, duration: int, say: Reporter) -> RunEntry:
    """The report entry of an applied migration, its progress line said."""
    if script.empty:
        say(f"applied {script.id} ({_EMPTY}; {duration} ms)")
    else:
        say(f"applied {script.id} ({duration} ms)")
    return RunEntry(id=script.id, duration_ms=duration, empty=script.empty)


@dataclass(frozen=True)
class ApplyPlan:
    """What an apply runs: ``pending`` (in order; empty: nothing), with the post-apply
    ``hooks``, from ``scripts`` as they are on disk, over the ``applied`` records (as the
    ``squashes`` to record leave them)."""

    applied: list[tracking.Applied]
    scripts: list[Script]
    hooks: list[Script]
    pending: list[Script]
    # squashes whose replaced migrations are all applied: recorded as applied, not run
    squashes: list[tracking.Squashed] = dataclasses.field(default_factory=list)


def plan_apply(conn: connection, settings: Settings, scripts: list[Script],
               hooks: list[Script], *, to: str | None,
               single_transaction: bool) -> ApplyPlan:
    """The migrations an apply runs on ``conn``'s database, every refusal raised first: the
    same for a dry run and the real one.

    ``scripts`` and ``hooks`` are :func:`mig.disk.scripts.scan`'s; they are imported
    (:func:`mig.disk.scripts.prepared`) only when the database is not at head.
    :raises ChecksumMismatch: an applied migration was edited, deleted or renamed.
    :raises Unfinished: a rollback of a non-transactional migration did not finish.
    :raises Refused: out of order, or non-transactional under ``single_transaction``.
    """
    recorded = tracking.read_applied(conn, settings.migration_table)
    partial = partial_runs.read_partial(conn)
    squashes = tracking.squashed(scripts, recorded)
    _refuse_part_squashed(squashes)
    _refuse_edited(tracking.edited(scripts, recorded, partial))
    _refuse_unfinished(partial, "apply")
    applied = tracking.as_squashed(recorded, squashes)
    if applied_as_on_disk(scripts, applied):
        # the deploy path: no Python migration imported, no yoyo backend
        return ApplyPlan(applied, scripts, hooks, [], squashes)
    scripts, hooks = scripts_mod.prepared(scripts, hooks)
    pending = _plan_apply(scripts, {a.id for a in applied}, to)
    if not settings.allow_out_of_order:
        _refuse_out_of_order(scripts, {a.id for a in applied}, pending)
    if single_transaction:
        _refuse_non_transactional(pending + hooks if pending else [])
    return ApplyPlan(applied, scripts, hooks, pending, squashes)


def plan_rollback(conn: connection, settings: Settings, scripts: list[Script], *,
                  steps: int | None, to: str | None, all_applied: bool, force: bool,
                  yes: bool, confirm: Callable[[list[str]], bool] | None
                  ) -> list[Script | StoredScript]:
    """The migrations a rollback takes back on ``conn``'s database, newest first, every
    refusal raised first: the same for a dry run and the real one (see :func:`rollback`)."""
    applied = tracking.read_applied(conn, settings.migration_table)
    partial = partial_runs.read_partial(conn)
    # A file that is gone is no obstacle: its stored rollback is used if it is rolled back.
    _refuse_edited([p for p in tracking.edited(scripts, applied, partial)
                    if p.kind != "missing"])
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
    started = time.monotonic()
    scripts, hooks = scripts_mod.scan(settings.sources)
    if to is not None:
        scripts_mod.target(scripts, to)
    if dry_run:
        with bad_files_first(scripts, hooks), \
                session(settings, "apply --dry-run", readonly=True) as conn:
            plan = plan_apply(conn, settings, scripts, hooks, to=to,
                              single_transaction=single_transaction)
            entries = [_dry_run_entry(s, "apply", conn) for s in plan.pending]
        return RunReport("apply", dry_run=True, migrations=entries,
                         squashed=tuple(s.script.id for s in plan.squashes))

    with bad_files_first(scripts, hooks), \
            locked_connection(settings, "apply", say) as (dsn, conn), \
            contextlib.ExitStack() as stack:
        # Planned under the lock: a process that waited sees what the leader applied.
        plan = plan_apply(conn, settings, scripts, hooks, to=to,
                          single_transaction=single_transaction)
        if not plan.pending and not plan.squashes and all(a.checksum for a in plan.applied):
            return RunReport("apply")  # nothing (up to --to) pending, nothing to adopt
        from ..engine.lock import backend_on
        from ..engine.runner import make_runner

        for name in create_schemas(conn, settings.create_schemas):
            say(f"created schema {name} (create_schemas: the history expects it)")
        backend = backend_on(settings, dsn, conn, "apply")
        squashed = _record_squashes(conn, backend, plan.squashes)
        adopted = _adopt(conn, plan.scripts, plan.applied)
        runner = stack.enter_context(contextlib.closing(make_runner(settings, backend, say)))
        done: list[RunEntry] = []
        if single_transaction and plan.pending:
            release = plan.pending + plan.hooks
            for script, duration in zip(release, runner.apply_release(release)):
                if script.post_apply:
                    say(f"ran post-apply hook {script.id}")
                else:
                    done.append(_applied(script, duration, say))
            say(f"committed the release: {len(plan.pending)} migration(s) in one transaction")
            return RunReport("apply", migrations=done, adopted=adopted, squashed=squashed)
        try:
            for script, duration in runner.apply_grouped(plan.pending):
                done.append(_applied(script, duration, say))
        except MigError as exc:
            if done:
                exc.message += ("\n  applied before it in this run (and still applied): "
                                + ", ".join(m.id for m in done))
            raise
        if plan.pending:
            for hook in plan.hooks:
                runner.apply(hook)
                say(f"ran post-apply hook {hook.id}")
    return RunReport("apply", duration_ms=_since(started), migrations=done,
                     adopted=adopted, squashed=squashed)


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

    def planned(conn: connection) -> list[Script | StoredScript]:
        return plan_rollback(conn, settings, scripts, steps=steps, to=to,
                             all_applied=all_applied, force=force, yes=yes, confirm=confirm)

    if dry_run:
        with session(settings, "rollback --dry-run") as conn:
            plan = planned(conn)
        return RunReport("rollback", dry_run=True,
                         migrations=[_dry_run_entry(s, "rollback") for s in plan])

    from ..engine.lock import locked_backend
    from ..engine.runner import make_runner

    with locked_backend(settings, "rollback", say) as backend, contextlib.ExitStack() as stack:
        plan = planned(backend.connection)
        skipped = undo.irreversible(plan) if force else {}
        runner = stack.enter_context(contextlib.closing(make_runner(settings, backend, say)))
        done: list[RunEntry] = []
        for script in plan:
            # a StoredScript stands in for a Script there (the runner's annotations say Script)
            duration = runner.rollback(script, forced=skipped.get(script.id))  # type: ignore[arg-type]
            noop = _runs_nothing(script, "rollback")
            stored = isinstance(script, StoredScript)
            took = f"{_EMPTY}; {duration} ms" if noop else f"{duration} ms"
            say(f"rolled back {script.id} ({took})" + (
                " using the rollback stored when it was applied: its file is gone"
                if stored else ""))
            done.append(RunEntry(id=script.id, duration_ms=duration, empty=noop, stored=stored))
    return RunReport("rollback", duration_ms=_since(started), migrations=done)


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
    scripts, _ = scripts_mod.scan(settings.sources)
    with session(settings, "redo") as conn:
        applied = tracking.read_applied(conn, settings.migration_table)
    if not applied:
        return RunReport("redo")
    newest = applied[-1].id
    if newest not in {s.id for s in scripts}:
        raise Refused(
            f"{newest} is the newest applied migration, but its file is gone: redo could roll"
            " it back, not apply it again",
            hint="restore its file (the branch it came from), or roll it back alone with"
            " 'mig rollback'")
    back = rollback(settings, steps=1, force=force, report=say)
    done = [dataclasses.replace(entry, action="rollback") for entry in back.migrations]
    if not back.migrations:
        return RunReport("redo")
    again = back.migrations[0].id
    try:
        forward = apply(settings, to=again, report=say)
    except MigError as exc:
        exc.message += (f"\n  {again} was rolled back by this redo and is pending now: fix it"
                        " and run 'mig apply'")
        raise
    done += [dataclasses.replace(entry, action="apply") for entry in forward.migrations]
    return RunReport("redo", duration_ms=_since(started), migrations=done)


def repair(settings: Settings, *, report: Reporter | Line | None = None) -> RepairReport:
    """Accept the current checksums of edited applied migrations, and follow renamed files.

    A missing file whose recorded checksum matches exactly one pending file is taken as a
    rename: the record moves to the new id. Every change is written to ``_mig_log``.
    :raises ChecksumMismatch: an applied migration is missing and no renamed file matches it.
    """
    say = reporter(report)
    scripts, _ = scripts_mod.load(settings.sources)
    repaired: list[Repair] = []
    from ..engine.lock import locked_backend

    with locked_backend(settings, "repair", say) as backend:
        conn = backend.connection
        applied = tracking.read_applied(conn, settings.migration_table)
        applied_ids = {a.id for a in applied}
        problems = tracking.edited(scripts, applied, partial_runs.read_partial(conn))
        unresolved = []
        backend.begin()
        for p in problems:
            if p.kind == "edited-partial" and p.current is not None:
                partial_runs.accept_partial(conn, p.id, p.current)
                tracking.log_event(conn, p.id, "repair", f"partial run resumes from checksum"
                                   f" {p.recorded} -> {p.current}")
                repaired.append(Repair(p, "the unfinished run resumes from the file as it is"
                                       " now"))
                continue
            if p.kind == "edited" and p.current is not None:
                tracking.set_checksum(conn, p.id, p.current)
                tracking.log_event(conn, p.id, "repair", f"checksum {p.recorded} -> {p.current}")
                repaired.append(Repair(p, "accepted new checksum"))
                continue
            matches = [s for s in scripts if s.id not in applied_ids and p.recorded
                       and s.checksum == p.recorded]
            if len(matches) != 1:
                unresolved.append(p)
                continue
            new = matches[0]
            tracking.rename(backend, p.id, new)
            tracking.log_event(conn, new.id, "repair", f"renamed from {p.id}")
            repaired.append(Repair(p, f"renamed to {new.id}"))
        if unresolved:
            backend.rollback()
            _refuse_edited(unresolved)
        backend.commit()
    for r in repaired:
        say(f"repaired {r.edited.id}: {r.action}")
    return RepairReport(repaired)


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
