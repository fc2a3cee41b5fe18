"""``mig new NAME --from URL``: the migration that takes the history's schema to a database's,
generated, proven both ways on a scratch database, then written.

The history (every migration on disk) is built on a scratch database, as ``mig diff --to``
builds it; its schema and the schema of the database at ``URL`` are read from the catalogs
(:mod:`mig.engine.snapshot`) with their dependencies (:mod:`mig.engine.depends`), and
:func:`mig.engine.generate.plan` renders what takes one to the other. On that same scratch
database the generated migrations are applied (the schema must then equal the database's,
compared as ``mig diff`` compares) and rolled back (it must equal the history's again): only
then are the files written, and added to ``mig.sum`` as ``mig new`` adds its files.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk import sumfile
from ..dsn import Dsn
from ..engine import comparison, generate
from ..engine.connect import connect
from ..engine.depends import read_dependencies
from ..engine.proof import prove
from ..engine.scratch import ScratchEngine, scratch_database, scratch_server
from ..engine.snapshot import uncompared_objects
from ..errors import (
    ConfigError,
    DestructiveChanges,
    GenerationFailed,
    MigError,
    MigrationError,
)
from ..reports import GeneratedMigration, GenerateReport, Line, Reporter, reporter

_SUFFIX = {generate.BEFORE: "_enum_values", generate.MAIN: "", generate.AFTER: "_concurrently"}


def parse_rename(text: str) -> generate.Rename:
    """``table.old=new`` (``schema.table.old=new`` outside ``public``) as a
    :class:`~mig.engine.generate.Rename`.

    :raises ConfigError: not of that form.
    """
    found = re.fullmatch(r"(?P<table>.+)\.(?P<old>[^.=]+)=(?P<new>[^.=]+)", text)
    if found is None:
        raise ConfigError(f"--rename {text!r}: expected TABLE.OLD=NEW (e.g. users.mail=email)")
    return generate.Rename(found["table"], found["old"], found["new"])


def new_from(settings: Settings, name: str, source: str | Dsn, *,
             schemas: Iterable[str] = (), renames: Iterable[str | generate.Rename] = (),
             allow_destructive: bool = False, dry_run: bool = False,
             scratch: str | Dsn | None = None, report: Reporter | Line | None = None
             ) -> GenerateReport:
    """Write the migration (and its rollback) that takes the schema the history builds to the
    schema of the database at ``source``; with an empty history, the whole schema.

    Changes to tables the history already has are written in their forms safe under load:
    indexes ``CREATE INDEX CONCURRENTLY`` in a non-transactional migration of their own,
    checks and foreign keys added ``NOT VALID`` and validated there, ``SET NOT NULL`` through
    a validated check; enum values that the migration uses added before it, outside a
    transaction.

    :param name: the migration's name (its id is ``<timestamp>_<name>``).
    :param source: URL of the database whose schema the migration must give.
    :param schemas: the schemas compared (default: every schema but the system's and those
        of extensions).
    :param renames: columns renamed, ``table.old=new`` each: a dropped column and an added one
        are never guessed to be one renamed.
    :param allow_destructive: write changes that lose data (a dropped table, column, type,
        schema or enum value, a narrowing type change); without it they are refused.
    :param dry_run: generate and prove, but write nothing (the report holds the SQL).
    :param scratch: URL of the server to build and prove on; default: the embedded server.
    :returns: a :class:`~mig.reports.GenerateReport`.
    :raises DestructiveChanges: destructive changes without ``allow_destructive``.
    :raises GenerationFailed: a change the generator cannot render, an object the snapshot
        cannot compare (so cannot prove), or a proof that fails (each difference listed).
    :raises StatementFailed: a migration of the history fails on the scratch database (a
        generated statement that fails there is a :class:`GenerationFailed`).
    """
    say = reporter(report)
    wanted = list(schemas) or None
    moves = [r if isinstance(r, generate.Rename) else parse_rename(r) for r in renames]
    scripts, hooks = scripts_mod.load(settings.sources)
    sumfile.check_writable(settings.sources)
    dsn = Dsn.parse(source) if isinstance(source, str) else source
    ignore = (settings.migration_table,)
    conn = connect(dsn, verb="new")
    try:
        after = comparison.read_schema(conn, wanted, ignore)
        after_deps = read_dependencies(conn, wanted)
        unreadable = uncompared_objects(conn, wanted, ignore=ignore)
    finally:
        conn.close()
    if unreadable:
        raise GenerationFailed(
            f"{dsn.masked} holds objects mig cannot compare, so a migration for them could "
            "not be proven: " + ", ".join(unreadable),
            problems=[f"{u}: not compared by the snapshot" for u in unreadable],
            hint="write the migration for them by hand (mig new NAME), then run mig new --from"
            " again for the rest")
    with scratch_server(settings, scratch, major=after.version) as server, \
            scratch_database(server, keep=False) as scratch_dsn:
        engine = ScratchEngine(dataclasses.replace(settings, database=scratch_dsn), hooks,
                               wanted)
        try:
            say(f"building {len(scripts)} migration(s) on scratch database {engine.dbname}")
            for script in scripts:
                engine.apply(script)
            _require_roles(engine, after, server)
            before = comparison.read_schema(engine.backend.connection, wanted, ignore)
            before_deps = read_dependencies(engine.backend.connection, wanted)
            try:
                planned = generate.plan(before, after, before_deps, after_deps, renames=moves)
            except generate.CannotGenerate as exc:
                raise GenerationFailed(
                    "mig new --from cannot generate every change:\n"
                    + "\n".join(f"  {p}" for p in exc.problems),
                    problems=exc.problems, hint="write those changes by hand in a migration "
                    "of their own (mig new NAME), then run mig new --from again") from None
            result = GenerateReport(dsn.masked, tuple(wanted or ()), warnings=planned.warnings,
                                    destructive=planned.destructive)
            if planned.empty:
                return result
            if planned.destructive and not allow_destructive:
                raise DestructiveChanges(
                    "the migration would lose data; nothing was written:\n"
                    + "\n".join(f"  {d.describe()}" for d in planned.destructive),
                    destructive=[d.to_json() for d in planned.destructive],
                    hint="a dropped column that was renamed: --rename TABLE.OLD=NEW; if the "
                    "loss is intended: --allow-destructive")
            folder = settings.sources[0]
            with tempfile.TemporaryDirectory(prefix="mig-new-") as tmp:
                texts = _files(planned, name, Path(tmp), scripts[-1].id if scripts else None)
                loaded, _ = scripts_mod.load((*settings.sources, Path(tmp)))
                generated = [s for s in loaded if s.path.parent == Path(tmp)]
                say(f"proving {len(generated)} generated migration(s) on {engine.dbname}")
                try:
                    proof = prove(engine, generated, before, after, wanted,
                                  reordered=planned.reordered)
                except MigrationError as exc:
                    raise GenerationFailed(
                        "a generated statement fails on the scratch database; nothing was "
                        f"written:\n  {exc.message}", problems=[exc.message],
                        hint="write this change by hand (mig new NAME); the generator's "
                        "output for it is wrong") from None
                if not proof.ok:
                    raise GenerationFailed(
                        "the generated migration does not give the schema it must; nothing was"
                        " written:\n" + "\n".join(
                            [*(f"  after apply: {line}" for line in
                               comparison.lines(list(proof.up))),
                             *(f"  after rollback: {line}" for line in
                               comparison.lines(list(proof.down)))]),
                        up=[d.to_json() for d in proof.up],
                        down=[d.to_json() for d in proof.down],
                        hint="write this change by hand (mig new NAME); the generator's "
                        "output for it is wrong")
                migrations = tuple(GeneratedMigration(
                    mid, str(folder / f"{mid}.sql"), str(folder / f"{mid}.rollback.sql"),
                    transactional, up, down) for mid, transactional, up, down in texts)
                result = dataclasses.replace(result, migrations=migrations)
                if dry_run:
                    return result
                _write(settings, migrations)
                return dataclasses.replace(result, written=True)
        finally:
            engine.close()


def _files(planned: generate.Plan, name: str, folder: Path, after: str | None
           ) -> list[tuple[str, bool, str, str]]:
    """The plan's migrations written into ``folder``: (id, transactional, text, rollback)."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise MigError(f"migration name {name!r} has no letters or digits")
    now = datetime.now(timezone.utc)
    out = []
    depends = after
    for index, migration in enumerate(planned.migrations()):
        stamp = (now + timedelta(seconds=index)).strftime("%Y%m%d_%H%M%S")
        mid = f"{stamp}_{slug}{_SUFFIX[migration.phase]}"
        gone = planned.destructive if migration.phase == generate.MAIN else ()
        up, down = generate.render(migration, title=f"{name}: generated by mig new --from",
                                   depends=depends, destructive=gone)
        (folder / f"{mid}.sql").write_text(up, encoding="utf-8")
        (folder / f"{mid}.rollback.sql").write_text(down, encoding="utf-8")
        out.append((mid, migration.transactional, up, down))
        depends = mid
    return out


def _write(settings: Settings, migrations: tuple[GeneratedMigration, ...]) -> None:
    """The proven files written into the first migrations folder and added to ``mig.sum``."""
    paths = [Path(p) for m in migrations for p in (m.path, m.rollback_path)]
    for path in paths:
        if path.exists():
            raise MigError(f"{path} already exists")
    settings.sources[0].mkdir(parents=True, exist_ok=True)
    for m in migrations:
        Path(m.path).write_text(m.sql, encoding="utf-8")
        Path(m.rollback_path).write_text(m.rollback, encoding="utf-8")
    scripts, hooks = scripts_mod.load(settings.sources, checked=False)
    written = {Path(m.path) for m in migrations}
    sumfile.append(settings.sources, scripts + hooks,
                   [s for s in scripts + hooks if s.path in written])


def _require_roles(engine: ScratchEngine, after: comparison.OwnedSchema, server: Dsn) -> None:
    """The roles the database's grants and policies name exist on the scratch server, or the
    proof could not run them.

    :raises GenerationFailed: naming the missing roles.
    """
    wanted = generate.roles(after.snapshot) - {after.owner}
    with engine.backend.connection.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (sorted(wanted),))
        found = {row[0] for row in cur.fetchall()}
    missing = sorted(wanted - found)
    if missing:
        raise GenerationFailed(
            f"the database grants to roles that the scratch server {server.masked} does not "
            f"have, so the migration could not be proven there: {', '.join(missing)}",
            problems=[f"role {r} does not exist on the scratch server" for r in missing],
            hint="create them there (CREATE ROLE ...; the embedded server: mig db url gives its"
            " URL), or prove on a server that has them: --scratch-server URL")
