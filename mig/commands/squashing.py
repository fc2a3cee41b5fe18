"""``mig squash``: the migrations up to one replaced by one migration that builds the same
schema, proven before anything is written.

The history up to the target is built on a scratch database and its schema rendered from
nothing by the generator (:func:`mig.engine.generate.plan`, the before side the scratch
database as it was before the first migration). The rendered migration is then applied to a
fresh scratch database: its schema must equal the history's exactly (the comparison of ``mig
diff``), and its rollback must take it back to nothing. Any difference refuses the squash and
nothing is written.

The squashed migration declares what it replaced (``-- replaces: id ...``): a database that
applied all of them records it as applied without running it, one that applied some is refused
(:mod:`mig.engine.tracking`, ``squashed``). Data migrations in the range are dropped (a new
database has no rows to transform) unless kept: a kept one stays as it is, after the squash.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk import sumfile
from ..disk.kinds import is_data_migration
from ..disk.scripts import Script
from ..dsn import Dsn
from ..engine import comparison
from ..engine.comparison import OwnedSchema, read_schema
from ..engine.consistency import catalog_objects
from ..engine.depends import Dependencies, read_dependencies
from ..engine.generate import CannotGenerate, Plan, plan, render
from ..engine.scratch import scratch_engine
from ..errors import MigError, SquashRefused, did_you_mean
from ..reports import Line, Reporter, SquashReport, reporter

_PREFIX = re.compile(r"^[0-9][0-9_]*")


def squash_id(first: str, taken: Iterable[str] = ()) -> str:
    """The id of the squash of a history whose first migration is ``first``: its leading
    number (``20260128_104444``, ``0001``) and ``_squash``, so that it sorts where the
    migrations it replaced were; ``_squash_2`` (and on) when an id of ``taken`` (those it
    replaces, an earlier squash's among them) is that."""
    match = _PREFIX.match(first)
    prefix = match.group(0).rstrip("_") if match else first
    candidate, taken, number = f"{prefix or first}_squash", set(taken), 1
    while candidate in taken:
        number += 1
        candidate = f"{prefix or first}_squash_{number}"
    return candidate


def squash(settings: Settings, to: str, *, keep: Iterable[str] = (), dry_run: bool = False,
           scratch: str | Dsn | None = None, schema: str | Sequence[str] | None = None,
           report: Reporter | Line | None = None) -> SquashReport:
    """Replace the migrations up to and including ``to`` with one migration that builds the
    same schema from nothing.

    The history up to ``to`` is built on a scratch database, rendered by the generator, and
    the rendered migration proven on a fresh scratch database (same schema as the history's;
    its rollback leaves nothing) before anything is written. Then the replaced files are
    removed, the squash (``<number>_squash.sql`` and its rollback, declaring ``-- replaces:``)
    written, and ``mig.sum`` rewritten. Data migrations of the range are dropped, those named
    in ``keep`` stay (after the squash, in their order).

    :param keep: ids of data migrations in the range to keep.
    :param dry_run: prove everything, write nothing (the report holds the SQL).
    :param scratch: URL of the server to build on; default: the embedded server.
    :param schema: the schema(s) the squash renders (a name or several); default every schema
        but the system's and extensions' (for a schema target, its schema and those of
        ``create_schemas``).
    :raises UnknownMigration: ``to`` is no migration (the message names the nearest id).
    :raises MigError: a ``keep`` id is no data migration of the range; ``keep`` leaves
        nothing to squash; a migration that stays sorts at or before the squash's id.
    :raises SquashRefused: the history builds objects outside ``schema``, the generator cannot
        render the schema, or the squash does not build what the history builds
        (``differences``) or does not run; nothing is written.
    """
    say = reporter(report)
    sumfile.check_writable(settings.sources)
    scripts, hooks = scripts_mod.load(settings.sources)
    ids = scripts_mod.upto(scripts, to)
    replaced_range = [s for s in scripts if s.id in set(ids)]
    data = [s.id for s in replaced_range if is_data_migration(s)]
    kept = _kept(list(keep), data, ids)
    replaced = [s for s in replaced_range if s.id not in kept]
    if not replaced:
        raise MigError(f"nothing to squash up to {to}: --keep keeps every migration of it",
                       hint="keep fewer, or squash up to a later migration")
    remaining = [s for s in scripts if s.id not in {r.id for r in replaced}]
    earlier = [mid for s in replaced for mid in s.replaces + s.also_replaces]
    new_id = squash_id(replaced[0].id, [s.id for s in scripts] + earlier)
    early = [s.id for s in remaining if s.id <= new_id]
    if early:
        raise MigError(
            f"the squash would be {new_id}, but {', '.join(early)} sort(s) at or before it and"
            " stay: they would run before it on a new database",
            hint="squash to a migration after them, or rename them to sort after the"
            " migrations they need")
    ignore = (settings.migration_table,)
    schemas = comparison.scope(settings, schema)
    with scratch_engine(settings, scratch, hooks, schemas, say) as engine:
        conn = engine.backend.connection
        before = read_schema(conn, schemas, ignore)
        before_deps = read_dependencies(conn, schemas)
        present = catalog_objects(conn, ignore=ignore)
        say(f"building {len(replaced_range)} migration(s) on scratch database {engine.dbname}")
        for script in replaced_range:
            engine.apply(script)
        elsewhere = [name for name in catalog_objects(conn, ignore=ignore).without(
            present).schemas if schemas is not None and name not in schemas]
        if elsewhere:
            raise SquashRefused(
                f"the migrations up to {to} build objects in schema(s) {', '.join(elsewhere)}"
                f" too: the squash would render only {', '.join(schemas or [])}",
                differences=[], hint="leave --schema out (every schema is rendered), or name"
                " those schemas too")
        after = read_schema(conn, schemas, ignore)
        after_deps = read_dependencies(conn, schemas)
    rendered = _render(before, after, before_deps, after_deps)
    up, down = _texts(new_id, to, [s.id for s in replaced], earlier, rendered)
    with tempfile.TemporaryDirectory(prefix="mig-squash-") as proving:
        proof = _written(Path(proving), new_id, up, down)
        _prove(settings, scratch, hooks, schemas, proof, after, say)
    result = SquashReport(
        id=new_id, target=to, replaces=tuple(s.id for s in replaced),
        dropped=tuple(mid for mid in data if mid not in kept), kept=tuple(kept),
        dry_run=dry_run, sql=up if dry_run else None,
        warnings=tuple(rendered.warnings))
    if dry_run:
        return result
    folder = replaced[0].path.parent
    removed = []
    for script in replaced:
        for path in (script.path, script.rollback_path):
            if path is not None:
                path.unlink()
                removed.append(str(path))
    written = _written(folder, new_id, up, down)
    scripts, hooks = scripts_mod.scan(settings.sources)
    sumfile.write(settings.sources, scripts + hooks, force=True)
    say(f"wrote {written.path}: it replaces {len(replaced)} migration(s)")
    return SquashReport(
        id=new_id, target=to, replaces=result.replaces, dropped=result.dropped,
        kept=result.kept, warnings=result.warnings, path=str(written.path),
        removed=tuple(removed))


def _kept(keep: list[str], data: list[str], ids: list[str]) -> list[str]:
    """``keep`` checked: every id a data migration of the range; in the history's order."""
    for mid in keep:
        if mid in data:
            continue
        if mid in ids:
            raise MigError(
                f"--keep {mid}: it changes the schema, not only rows: the squash builds what"
                " it built", hint="--keep names data migrations only"
                + (f" (here: {', '.join(data)})" if data else " (this range has none)"))
        raise MigError(
            f"--keep {mid}: no data migration up to the squash's target{did_you_mean(mid, data)}",
            hint="--keep names data migrations of the range"
            + (f" (here: {', '.join(data)})" if data else " (this range has none)"))
    return [mid for mid in data if mid in set(keep)]


def _render(before: OwnedSchema, after: OwnedSchema, before_deps: Dependencies,
            after_deps: Dependencies) -> Plan:
    """The generator's plan from nothing to the history's schema, in one migration."""
    try:
        rendered = plan(before, after, before_deps, after_deps, safe=False)
    except CannotGenerate as exc:
        raise SquashRefused(
            "the generator cannot render the schema the history builds:\n"
            + "\n".join(f"  {p}" for p in exc.problems), differences=[],
            hint="squash up to a migration before the object it names") from None
    if len(rendered.migrations()) > 1:
        raise SquashRefused(
            "the schema the history builds needs statements outside a transaction, in more"
            " than one migration: the squash is one", differences=[],
            hint="squash up to a migration before the one that needs them")
    return rendered


def _texts(new_id: str, to: str, replaced: list[str], earlier: list[str], rendered: Plan
           ) -> tuple[str, str]:
    """The squash's file and its rollback file, as the generator renders a migration, with
    what the squash replaced in the leading comments (and what the squashes it replaced had
    replaced: ``earlier``)."""
    [migration] = rendered.migrations()
    up, down = render(migration, title=f"{new_id}: the schema the migrations up to and"
                      f" including {to} built, from nothing (mig squash)", depends=None)
    up_lines, down_lines = up.rstrip("\n").split("\n"), down.rstrip("\n").split("\n")
    up_lines[1:1] = [
        "-- A database that applied every migration it replaces records it as applied",
        "-- without running it (docs/adopt.md, \"Squashing the history\").",
        f"-- replaces: {' '.join(replaced)}",
        *([f"-- also-replaces: {' '.join(earlier)}"] if earlier else [])]
    down_lines[1:1] = [
        "-- It takes the schema back to nothing, tables included: their indexes are dropped",
        "-- without CONCURRENTLY as the tables themselves are.",
        "-- squawk-ignore-file require-concurrent-index-deletion"]
    return "\n".join(up_lines) + "\n", "\n".join(down_lines) + "\n"


def _written(folder: Path, new_id: str, up: str, down: str) -> Script:
    """The squash's two files written into ``folder``, read back as a migration."""
    (folder / f"{new_id}.sql").write_text(up, encoding="utf-8")
    (folder / f"{new_id}.rollback.sql").write_text(down, encoding="utf-8")
    found, _ = scripts_mod.scan((folder,))
    return next(s for s in found if s.id == new_id)


def _prove(settings: Settings, scratch: str | Dsn | None, hooks: list[Script],
           schemas: list[str] | None, squash_script: Script, expected: OwnedSchema,
           say: Reporter) -> None:
    """Apply the squash on a fresh scratch database: the schema must be ``expected``; roll it
    back: the schema must be what it was before.

    :raises SquashRefused: naming every difference.
    """
    ignore = (settings.migration_table,)
    with scratch_engine(settings, scratch, hooks, schemas, say) as engine:
        conn = engine.backend.connection
        empty = read_schema(conn, schemas, ignore)
        say(f"proving {squash_script.id} on scratch database {engine.dbname}")
        with _failed_proof("does not run"):
            engine.apply(squash_script)
        built = comparison.differences(expected, read_schema(conn, schemas, ignore))
        if built:
            raise _refusal("does not build what the history builds (missing: only the"
                           " history builds it, extra: only the squash does)", built)
        with _failed_proof("has a rollback that does not run"):
            engine.rollback(squash_script)
        left = comparison.differences(empty, read_schema(conn, schemas, ignore))
        if left:
            raise _refusal("is not undone by its rollback (extra: what the rollback leaves)",
                           left)


@contextlib.contextmanager
def _failed_proof(what: str) -> Iterator[None]:
    """A statement of the squash that fails on the scratch database refuses the squash."""
    try:
        yield
    except MigError as exc:
        raise SquashRefused(
            f"refusing to squash: the squashed migration {what} on a scratch database;"
            f" nothing was written:\n  {exc.message}", differences=[],
            hint="the generator rendered a statement the server refuses: squash up to a"
            " migration before the object it names") from None


def _refusal(what: str, found: list[comparison.Difference]) -> SquashRefused:
    return SquashRefused(
        f"refusing to squash: the squashed migration {what}; nothing was written:\n"
        + "\n".join(f"  {line}" for line in comparison.lines(found)),
        differences=[d.to_json() for d in found],
        hint="the generator cannot render these objects faithfully: squash up to a migration"
        " before the first that builds them")
