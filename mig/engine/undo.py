"""What a rollback undoes: which applied migrations it takes back, and which of them it cannot.

:func:`plan` chooses the migrations (the newest ``steps``, or every one applied after ``to``),
newest first; an applied migration whose file is gone is planned from the rollback stored when
it was applied (:mod:`mig.engine.stored`). :func:`irreversible` names the migrations whose
rollback would change nothing (no rollback at all) or leave data changed (a data step without
a backward function); :func:`refuse_irreversible` refuses them, all named at once. An empty
migration ran nothing, so forgetting it undoes it: it is never among them. The runner
(:mod:`mig.engine.runner`) then rolls the plan back.
"""

from __future__ import annotations

from psycopg2.extensions import connection

from ..disk.scripts import Script, ancestors, unknown_migration
from ..disk.sqltext import has_sql
from ..errors import CannotUndo
from ..yoyo import steps as yoyo_steps
from . import tracking
from .stored import StoredScript, stand_in


def plan(conn: connection, scripts: list[Script], applied: list[tracking.Applied], *,
         steps: int | None, to: str | None, force: bool) -> list[Script | StoredScript]:
    """What to roll back, newest applied first: the newest ``steps`` (default one) of
    ``applied``, or with ``to`` every one applied after it (and not among what it needs). A
    migration whose file is gone is rolled back from the rollback stored when it was applied.

    :raises UnknownMigration: ``to`` is neither a migration on disk nor an applied one.
    :raises Refused: a file is gone and its rollback was not stored, without ``force``.
    """
    by_id = {s.id: s for s in scripts}
    newest_first = list(reversed(applied))
    if to is not None:
        applied_ids = [a.id for a in applied]
        if to in by_id:
            keep = {to} | ancestors(by_id[to], scripts)
        elif to in applied_ids:  # its file is gone: keep what was applied up to it
            keep = set(applied_ids[: applied_ids.index(to) + 1])
        else:
            raise unknown_migration(to, scripts, applied_ids)
        chosen = [a.id for a in newest_first if a.id not in keep]
    else:
        chosen = [a.id for a in newest_first[: steps or 1]]
    gone = [mid for mid in chosen if mid not in by_id]
    stored = tracking.stored_rollbacks(conn, gone)
    return [by_id[mid] if mid in by_id else stand_in(mid, stored.get(mid), force=force)
            for mid in chosen]


def refuse_irreversible(plan: list[Script | StoredScript]) -> None:
    """Refuse to roll back a migration that has no rollback at all (rolling it back would
    only forget it was applied, and the next apply would then fail on what it left), or that
    holds a data step without a backward function. Every such migration of ``plan`` is named."""
    reasons = list(irreversible(plan).values())
    if not reasons:
        return
    head = reasons[0] if len(reasons) == 1 else (
        f"{len(reasons)} migrations of this rollback cannot be undone:\n"
        + "\n".join(f"  {r}" for r in reasons))
    raise CannotUndo(
        head,
        hint="write the missing rollbacks ('mig verify' proves they restore the schema), or"
        " pass --force (force=True) to roll back anyway: what those migrations changed stays"
        " as it is",
    )


def irreversible(plan: list[Script | StoredScript]) -> dict[str, str]:
    """Migration id -> why rolling it back cannot undo it, for each such migration of ``plan``."""
    reasons: dict[str, str] = {}
    for script in plan:
        if script.empty:
            continue  # it ran nothing: forgetting it undoes it (a rollback it has runs too)
        if script.is_sql:
            undoes = has_sql(script.rollback_sql)
            missing = f"no rollback file ({script.id}.rollback.sql holding statements)"
        else:
            undoes = any(yoyo_steps.action(inner, "rollback") is not None
                         for _, inner in yoyo_steps.flatten(script.steps))
            missing = "no step with a rollback"
        if not undoes:
            reasons[script.id] = (f"{script.id} has {missing}: rolling it back would change"
                                  " nothing in the database and only forget that it was"
                                  " applied")
            continue
        rollbacks = [yoyo_steps.action(inner, "rollback")
                     for _, inner in yoyo_steps.flatten(script.steps)]
        names = [getattr(r, "name", "?") for r in rollbacks if getattr(r, "irreversible", False)]
        if names:
            reasons[script.id] = (f"irreversible data migration {script.id}: data step(s)"
                                  f" {', '.join(names)} have no backward function")
    return reasons
