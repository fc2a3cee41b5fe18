"""The migration state of a database: what ``mig status`` reports, and whether it is at head.

:func:`status` tells the whole state (applied, pending, edited, unfinished; with ``check``, the
records compared with the catalog); :func:`at_head` proves the common case, a database at head,
from one query. The verbs that change the state (:mod:`mig.commands.migrate`) share the two
checks they start from: :func:`applied_as_on_disk` and :func:`bad_files_first`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
from psycopg2.extensions import connection

from ..about import VERSION
from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk.scripts import Script
from ..dsn import Dsn
from ..engine import consistency, tracking
from ..engine import partial as partial_runs
from ..engine.connect import connected, open_database, session
from ..errors import BadMigrationFile, DatabaseUnavailable, MigError
from ..reports import (
    Applied,
    CurrentReport,
    Edited,
    InvalidIndex,
    PartialRun,
    Pending,
    Problem,
    StatusReport,
)


def _partial_entry(run: partial_runs.Partial, scripts: list[Script]) -> PartialRun:
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
    return PartialRun(
        run.id, state="partial" if run.direction == "apply" else "rolling back",
        direction=run.direction, done=run.done, steps=run.steps, summary=run.summary,
        started_at=run.started_at, started_by=run.started_by, edited=edited, hint=hint)


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



@contextlib.contextmanager
def _readable(dsn: Dsn) -> Iterator[None]:
    """A role that may not read the migration records is told so (the application role, until
    the migration that grants it that is applied)."""
    try:
        yield
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise DatabaseUnavailable(
            f"{dsn.masked}: this role may not read the migration records: "
            f"{str(exc).strip().splitlines()[0]}",
            hint="the application role can read them once the "
            "application_role_privileges migration is applied (until then, 'mig wait' "
            "keeps waiting)",
        ) from None


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
        with session(settings, "status", watch_client=False) as own:
            found = tracking.read_head(own, settings.migration_table)
    return head_of(found, scripts)


def head_of(found: tuple[list[tuple[str, str | None]], bool] | None,
            scripts: list[Script]) -> Head | None:
    """:func:`at_head`'s answer from the records :func:`mig.engine.tracking.read_head` read."""
    if found is None:
        return None
    applied, unfinished = found
    recorded = dict(applied)
    if unfinished or len(recorded) != len(scripts):
        return None
    if not all(s.checksum is not None and recorded.get(s.id) == s.checksum for s in scripts):
        return None
    return Head(applied[-1][0] if applied else None)


def behind(found: tuple[list[tuple[str, str | None]], bool] | None,
           scripts: list[Script]) -> bool:
    """Whether the records :func:`mig.engine.tracking.read_head` read prove that
    :func:`status` reports the database not current, with nothing for an apply to adopt: it is
    not at head (:func:`head_of`) while every record has mig's checksum and names a migration
    on disk (a record without mig's checksum, or one a squash on disk replaced, may still be
    current). A caller that would read the status only to learn that goes straight on."""
    if found is None or head_of(found, scripts) is not None:
        return False
    on_disk = {s.id for s in scripts}
    return all(checksum is not None and id_ in on_disk for id_, checksum in found[0])


def status(settings: Settings, *, check: bool = False,
           scratch: str | Dsn | None = None) -> StatusReport:
    """Applied (when, by whom), pending, edited and partly applied or rolled back migrations,
    and indexes left INVALID. Changes nothing.

    An applied migration whose file is gone is listed under ``edited`` with ``problem``
    ``"missing"`` and ``rollback``: ``"sql"`` (stored: ``rollback`` can undo it without the
    file), ``"python"`` (its file is needed), ``"none"``, or ``"unknown"`` (applied before
    rollbacks were stored).

    :param check: also compare the records with the catalog (``report.problems``, see
        :mod:`mig.engine.consistency`): unfinished runs, invalid indexes, leftover scratch
        databases of ``mig verify``, and objects the applied history builds (on a scratch
        database, or from the cache of an earlier build of the same history) that the catalog
        lacks. A build that fails is a problem of kind ``unchecked``, never a missing object.
    :param scratch: with ``check``, the URL of the server to build the applied history on
        (the database it names is only used to connect); default: the embedded server.
    """
    scripts, hooks = scripts_mod.scan(settings.sources)
    with bad_files_first(scripts, hooks):
        dsn = open_database(settings)
        with connected(dsn, "status") as conn, _readable(dsn):
            # a squash whose replaced migrations are all applied stands for them, as the
            # next apply records it
            rows = tracking.read_applied(conn, settings.migration_table)
            squashes = tracking.squashed(scripts, rows)
            applied = tracking.as_squashed(rows, squashes)
            on_disk = {s.id for s in scripts}
            stored = tracking.stored_rollbacks(conn, [a.id for a in applied
                                                      if a.id not in on_disk])
            partial = partial_runs.read_partial(conn)
            recorded = tracking.read_recorded(conn)
            invalid = consistency.invalid_indexes(conn)
            problems: list[Problem] = []
            if check:
                loaded, loaded_hooks = scripts_mod.prepared(scripts, hooks)
                problems = _check(conn, settings, scratch, applied, partial, invalid,
                                  loaded, loaded_hooks)
    if not applied_as_on_disk(scripts, applied):
        scripts, _ = scripts_mod.prepared(scripts, hooks)
    applied_ids = {a.id for a in applied}

    def with_rollback(e: Edited) -> Edited:
        if e.kind != "missing":
            return e
        found = stored.get(e.id)
        return dataclasses.replace(e, rollback=found.kind if found is not None and found.kind
                                   else "unknown")

    def with_record(a: Applied) -> Applied:
        event = recorded.get(a.id)
        if event is None:
            return a
        return dataclasses.replace(a, recorded=event.how, recorded_at=event.at,
                                   recorded_by=event.by)

    return StatusReport(
        database=dsn.masked,
        applied=[with_record(a) for a in applied],
        pending=[Pending(s.id, s.path) for s in scripts if s.id not in applied_ids],
        edited=[with_rollback(e) for e in tracking.edited(scripts, applied, partial)],
        partial=[_partial_entry(run, scripts) for run in partial],
        invalid_indexes=invalid,
        problems=problems if check else None,
        part_squashed=tuple(
            f"{found.script.id} replaces migrations this database applied only some of:"
            f" applied {', '.join(a.id for a in found.applied)}; not applied"
            f" {', '.join(found.missing)}" for found in squashes if found.missing))


def _check(conn: connection, settings: Settings, scratch: str | Dsn | None,
           applied: list[tracking.Applied], partial: list[partial_runs.Partial],
           invalid: list[InvalidIndex], scripts: list[Script],
           hooks: list[Script]) -> list[Problem]:
    """What ``mig status --check`` finds: unfinished runs, invalid indexes, leftover scratch
    databases, and objects the applied history builds that the catalog lacks (or, when that
    history cannot be built, why nothing was compared)."""
    problems: list[Problem] = []
    for run in partial:
        entry = _partial_entry(run, scripts)
        problems.append(Problem(
            "partial", run.id, f"{run.id} is {run.summary}", entry.hint))
    ignore = (settings.migration_table,)
    # read before the build: building sweeps the scratch server's leftovers, as verify does
    leftovers = consistency.leftover_scratch_databases(conn)
    expected, unchecked = _expected(settings, scratch, applied, partial, scripts, hooks,
                                    major=conn.server_version // 10000)
    for index in invalid:
        name = f"{index.schema}.{index.name}"
        if expected is not None and name in expected.objects["indexes"]:
            fix = (f"{index.rebuild} (the applied migrations build it: the rebuilt index is"
                   " theirs)")
        else:
            fix = (f"{index.sql} then 'mig apply' builds it again (a partial migration's"
                   " resume does both)")
        problems.append(Problem(
            "invalid-index", name, f"index {name} on {index.table} is INVALID (an"
            " interrupted CREATE INDEX CONCURRENTLY left it): queries do not use it, writes"
            " still maintain it", fix))
    for name in leftovers:
        problems.append(Problem(
            "scratch-database", name, f"database {name} is a scratch database an interrupted"
            " 'mig verify' left", f'DROP DATABASE "{name}"; (the next mig verify drops it too)'))
    if unchecked is not None:
        problems.append(unchecked)
    if expected is None:
        return problems
    found = consistency.catalog_objects(conn, expected.schemas, ignore=ignore)
    for gone in consistency.missing_objects(expected, found):
        schema = gone.name.split(".", 1)[0]
        if gone.definition is not None:
            fix = f"find out who dropped it; {gone.definition}; builds it again"
        else:
            fix = ("find out who dropped it; restore it by hand ('mig diff --schema"
                   f" {schema}' shows its definition), or roll back the migration that"
                   " builds it and apply it again")
        problems.append(Problem(
            "missing-object", gone.name, f"{gone.kind} {gone.name} is not in the database,"
            " but the applied migrations build it", fix))
    return problems


def _expected(settings: Settings, scratch: str | Dsn | None, applied: list[tracking.Applied],
              partial: list[partial_runs.Partial], scripts: list[Script], hooks: list[Script],
              *, major: int) -> tuple[consistency.Expected | None, Problem | None]:
    """The objects the applied history builds, or the ``unchecked`` problem saying why they
    are not known.

    The history is the applied migrations in the order they were applied, less one whose run
    is unfinished (its own problem says what of it is there), applied with the post-apply
    hooks on a scratch database; the objects a fresh database has already are left out.
    """
    on_disk = {s.id: s for s in scripts}
    changed = [a.id for a in applied if a.id not in on_disk
               or (a.checksum is not None and a.checksum != on_disk[a.id].checksum)]
    if changed:
        return None, Problem(
            "unchecked", ", ".join(changed), f"no object was compared: {', '.join(changed)}"
            f" {'was' if len(changed) == 1 else 'were'} edited or removed since applied, so"
            " what the applied history built is not known",
            "restore the file(s) as they were applied ('mig status' lists them); 'mig diff'"
            " compares the schema with the files as they are now")
    unfinished = {run.id for run in partial}
    build = [on_disk[a.id] for a in applied if a.id not in unfinished]
    if not build:
        return consistency.Expected({section: frozenset() for section in consistency.COMPARED}
                                    ), None
    if isinstance(scratch, str):
        scratch = Dsn.parse(scratch)
    where = scratch.masked if scratch is not None else "the embedded server"
    cache = consistency.ExpectedCache(settings.project_dir / ".mig" / "check-cache")
    key = cache.key(VERSION, where, str(major), str(settings.embedded_dir),
                    settings.migration_table,
                    settings.schema or "", *(f"{s.id}={s.checksum}" for s in build),
                    *(f"hook {h.id}={h.checksum}" for h in hooks))
    expected = cache.get(key)
    if expected is not None:
        return expected, None
    try:
        expected = _build(settings, scratch, build, hooks, major=major)
    except (MigError, psycopg2.Error) as exc:
        text = str(exc).strip()
        hint = getattr(exc, "hint", None)
        return None, Problem(
            "unchecked", where, "no object was compared: the applied migrations could not be"
            f" built on a scratch database on {where}: {text}",
            (f"{hint}; " if hint else "") + "build on a server like this database's (its"
            " version, extensions and roles): --scratch-server URL or MIG_SCRATCH_SERVER")
    cache.put(key, expected)
    return expected, None


def _build(settings: Settings, scratch: Dsn | None, build: list[Script], hooks: list[Script],
           *, major: int) -> consistency.Expected:
    """The objects ``build`` creates when applied in order on a scratch database of
    ``scratch`` (default: the embedded server, run from binaries of the database's major
    version ``major`` where they are found), as ``mig apply`` applies them; the scratch
    database is dropped after."""
    from ..engine.scratch import scratch_engine

    ignore = (settings.migration_table,)
    with scratch_engine(settings, scratch, hooks, major=major) as engine:
        conn = engine.backend.connection
        before = consistency.catalog_objects(conn, ignore=ignore)
        for script in build:
            engine.apply(script)
        return consistency.catalog_objects(conn, ignore=ignore).without(before)


def current(settings: Settings) -> CurrentReport:
    """The newest applied migration (in the order they were applied: the one ``rollback``
    takes back first), when and by whom; ``migration`` is None when nothing is applied.
    Reads only the records: changes nothing, imports no migration file."""
    dsn = open_database(settings)
    with connected(dsn, "current") as conn:
        applied = tracking.read_applied(conn, settings.migration_table)
    if not applied:
        return CurrentReport(dsn.masked, None)
    newest = applied[-1]
    return CurrentReport(dsn.masked, newest.id, newest.applied_at, newest.applied_by)


def migration_ids(settings: Settings) -> list[str]:
    """The ids of the migrations on disk, in file-name order: what ``--to`` takes (the shell
    completion of ``mig apply --to`` offers them). Reads the folders only: no migration is
    imported, nothing connects.

    :raises MigError: a migrations folder does not exist; two files have one id.
    """
    scripts, _ = scripts_mod.scan(settings.sources)
    return [s.id for s in scripts]
