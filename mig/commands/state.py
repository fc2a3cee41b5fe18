"""The migration state of a database: what ``mig status`` reports, and whether it is at head.

:func:`status` tells the whole state (applied, pending, edited, unfinished; with ``check``, the
records compared with the catalog); :func:`at_head` proves the common case, a database at head,
from one query. The verbs that change the state (:mod:`mig.commands.migrate`) share the two
checks they start from: :func:`applied_as_on_disk` and :func:`bad_files_first`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2.errors
from psycopg2.extensions import connection

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk.scripts import Script
from ..engine import consistency, tracking
from ..engine.connect import connect, open_database
from ..errors import BadMigrationFile, DatabaseUnavailable, MigError
from ..reports import StatusReport


def _partial_entry(run: tracking.Partial, scripts: list[Script]) -> dict[str, Any]:
    """A status entry for the unfinished run ``run``, with the hint that goes on from it."""
    on_disk = {s.id: s for s in scripts}
    script = on_disk.get(run.id)
    edited = script is not None and run.checksum is not None and run.checksum != script.checksum
    if edited:
        hint = ("its file was edited since the run started: restore it, or check by hand which"
                " statements the database holds and run 'mig repair'")
    elif run.direction == "apply":
        hint = "run 'mig apply' to resume it (completed steps are not run again)"
    else:
        hint = "run 'mig rollback' to finish rolling it back (completed steps are not run again)"
    return {
        "id": run.id,
        "state": "partial" if run.direction == "apply" else "rolling back",
        "direction": run.direction,
        "done": run.done,
        "steps": run.steps,
        "summary": run.summary,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "started_by": run.started_by,
        "edited": edited,
        "hint": hint,
    }


def applied_as_on_disk(scripts: list[Script], applied: list[tracking.Applied]) -> bool:
    """Every migration on disk is applied with its file's checksum: nothing to import."""
    recorded = {a.id: a.checksum for a in applied}
    return all(recorded.get(s.id) == s.checksum for s in scripts)


@contextlib.contextmanager
def bad_files_first(scripts: list[Script], hooks: list[Script]) -> Iterator[None]:
    """On any refusal, a migration file that does not import is the error reported, as when
    every file is imported before connecting (the at-head path imports none)."""
    try:
        yield
    except BadMigrationFile:
        raise
    except MigError:
        scripts_mod.prepared(scripts, hooks)
        raise



@dataclass(frozen=True)
class Head:
    """A database proven at head by :func:`at_head`: ``version`` is its newest migration."""

    version: str | None


def at_head(settings: Settings, scripts: list[Script], *,
            conn: connection | None = None) -> Head | None:
    """Whether the database is at head, from one connection and one query: every migration
    in ``scripts`` (:func:`mig.disk.scripts.scan`, which a caller checking many databases
    does once) applied with its file's checksum, nothing applied that is not on disk, no
    unfinished run. None when that is not proven (behind, edited, a record without mig's
    checksum, tables missing or unreadable): :func:`status` then tells the whole state.
    Whenever this returns a :class:`Head`, :func:`status` reports ``current``.

    :param conn: an open autocommit connection of ``settings`` to ask on (a fleet asks more
        of a target on the same connection); by default one of its own.
    """
    if conn is not None:
        found = tracking.read_head(conn, settings.migration_table)
    else:
        own = connect(open_database(settings), verb="status", watch_client=False)
        try:
            found = tracking.read_head(own, settings.migration_table)
        finally:
            own.close()
    if found is None:
        return None
    applied, unfinished = found
    recorded = dict(applied)
    if unfinished or len(recorded) != len(scripts):
        return None
    if not all(s.checksum is not None and recorded.get(s.id) == s.checksum for s in scripts):
        return None
    return Head(applied[-1][0] if applied else None)


def status(settings: Settings, *, check: bool = False) -> StatusReport:
    """Applied (when, by whom), pending, edited and partly applied or rolled back migrations,
    and indexes left INVALID. Changes nothing.

    An applied migration whose file is gone is listed under ``edited`` with ``problem``
    ``"missing"`` and ``rollback``: ``"sql"`` (stored: ``rollback`` can undo it without the
    file), ``"python"`` (its file is needed), ``"none"``, or ``"unknown"`` (applied before
    rollbacks were stored).

    :param check: also compare the records with the catalog (``report.problems``, see
        :mod:`mig.consistency`): unfinished runs, invalid indexes, leftover scratch databases
        of ``mig verify``, relations an applied migration creates that the catalog lacks.
    """
    scripts, hooks = scripts_mod.scan(settings.sources)
    with bad_files_first(scripts, hooks):
        dsn = open_database(settings)
        conn = connect(dsn, verb="status")
        try:
            applied = tracking.read_applied(conn, settings.migration_table)
            on_disk = {s.id for s in scripts}
            stored = tracking.stored_rollbacks(conn, [a.id for a in applied
                                                      if a.id not in on_disk])
            partial = tracking.read_partial(conn)
            invalid = consistency.invalid_indexes(conn)
            if check:
                loaded, _ = scripts_mod.prepared(scripts, hooks)
                by_id = {s.id: s for s in loaded}
                problems = _check(conn, [by_id[a.id] for a in applied if a.id in by_id
                                         and a.checksum == by_id[a.id].checksum],
                                  partial, invalid, loaded)
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise DatabaseUnavailable(
                f"{dsn.masked}: this role may not read the migration records: "
                f"{str(exc).strip().splitlines()[0]}",
                hint="the application role can read them once the "
                "application_role_privileges migration is applied (until then, 'mig wait' "
                "keeps waiting)",
            ) from None
        finally:
            conn.close()
    if not applied_as_on_disk(scripts, applied):
        scripts, _ = scripts_mod.prepared(scripts, hooks)
    applied_ids = {a.id for a in applied}
    report = StatusReport(database=dsn.masked)
    for a in applied:
        report.applied.append({
            "id": a.id,
            "applied_at": a.applied_at.isoformat() if isinstance(a.applied_at, datetime) else None,
            "applied_by": a.applied_by,
            "checksum": a.checksum,
        })
    report.pending = [{"id": s.id, "path": str(s.path)} for s in scripts if s.id not in applied_ids]
    report.edited = tracking.edited(scripts, applied, partial)
    for problem in report.edited:
        if problem["problem"] == "missing":
            found = stored.get(problem["id"])
            problem["rollback"] = (found.kind if found is not None and found.kind
                                   else "unknown")
    report.partial = [_partial_entry(run, scripts) for run in partial]
    report.invalid_indexes = invalid
    if check:
        report.problems = [p.to_json() for p in problems]
    return report


def _check(conn: connection, applied: list[Script], partial: list[tracking.Partial],
           invalid: list[dict[str, Any]], scripts: list[Script]) -> list[consistency.Problem]:
    """What ``mig status --check`` finds: unfinished runs, invalid indexes, leftover scratch
    databases, relations that ``applied`` migrations create and the catalog lacks."""
    problems: list[consistency.Problem] = []
    for run in partial:
        entry = _partial_entry(run, scripts)
        problems.append(consistency.Problem(
            "partial", run.id, f"{run.id} is {run.summary}", entry["hint"]))
    expected = consistency.expected_relations(applied)
    for index in invalid:
        name = f"{index['schema']}.{index['name']}"
        owner = expected.get(name) or expected.get(index["name"])
        if owner:
            fix = (f"{index['rebuild']} (it belongs to {owner}, which is recorded as applied)")
        else:
            fix = (f"{index['sql']} then 'mig apply' builds it again (a partial migration's"
                   " resume does both)")
        problems.append(consistency.Problem(
            "invalid-index", name, f"index {name} on {index['table']} is INVALID (an"
            " interrupted CREATE INDEX CONCURRENTLY left it): queries do not use it, writes"
            " still maintain it", fix))
    for name in consistency.leftover_scratch_databases(conn):
        problems.append(consistency.Problem(
            "scratch-database", name, f"database {name} is a scratch database an interrupted"
            " 'mig verify' left", f'DROP DATABASE "{name}"; (the next mig verify drops it too)'))
    for relation, owner in consistency.missing_relations(conn, applied):
        problems.append(consistency.Problem(
            "missing-object", relation, f"{owner} is recorded as applied, but {relation},"
            " which it creates, is not in the database",
            "find out who dropped it; restore it by hand, or roll the migration back and apply"
            " it again"))
    return problems
