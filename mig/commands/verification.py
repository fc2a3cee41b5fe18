"""Rollback verification: prove on a scratch database that every migration's rollback restores
exactly the schema it started from.

For each migration in order: snapshot the schema, apply the migration, roll it back, snapshot
again and require the two snapshots to be equal, then apply it again and require the schema it
produced the first time. Then roll the whole chain back one migration at a time, checking each
step against the schema that migration started from, down to the empty schema, and apply it all
again. Schemas are compared through :mod:`mig.engine.snapshot` (the PostgreSQL catalogs), never by
reading the migration files.

The scratch database is created on the server of the given URL (or the embedded server) under a
new name, and dropped afterwards unless ``keep=True``; the database named in the URL is only used
to connect and is never changed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..dsn import Dsn
from ..engine.comparison import diff, scope
from ..engine.scratch import Scratch, ScratchEngine, scratch_server
from ..engine.snapshot import Snapshot
from ..errors import MigError, MigrationError, RollbackMismatch, VerificationFailed
from ..records import JsonRecord
from ..reports import Line, Reporter, reporter


@dataclass(frozen=True)
class Verified(JsonRecord):
    """A migration that passed its checks, and which they were."""

    id: str
    checks: tuple[str, ...]


@dataclass(frozen=True)
class CheckFailed(JsonRecord):
    """A failed check: the migration, the phase (``apply``, ``rollback``, ``reapply``, ``chain
    rollback``, ...), the error's message and the differing lines (None when a statement
    failed)."""

    id: str
    phase: str
    message: str
    diff: tuple[str, ...] | None = None


@dataclass
class VerifyReport(JsonRecord):
    """What :func:`verify` checked: the migrations in order and the scratch database used; filled
    in as the checks run."""

    JSON_DERIVED: ClassVar[dict[str, str]] = {"ok": ""}

    database: str
    kept: bool = False
    chain: bool = False
    duration_ms: int = 0
    migrations: list[Verified] = field(default_factory=list)
    failures: list[CheckFailed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failures


def verify(
    settings: Settings,
    *,
    scratch: str | Dsn | None = None,
    schema: str | Sequence[str] | None = None,
    keep: bool = False,
    chain: bool = False,
    keep_going: bool = False,
    report: Reporter | Line | None = None,
) -> VerifyReport:
    """Apply, roll back and re-apply every migration of ``settings.sources`` on a scratch
    database.

    :param scratch: URL of a server to create the scratch database on (the database it names
        is only used to connect; the configured database's own URL is given its password
        file); default: the embedded server, never the configured database's server, so that
        no scratch database lands on a shared or production server unasked.
    :param schema: the schema compared, or several; default: every schema but the system's
        and those an extension owns (a schema target's: see
        :func:`mig.engine.comparison.scope`).
    :param keep: keep the scratch database (its URL is in the report) instead of dropping it.
    :param chain: only the chain checks: apply every migration, roll them all back newest
        first (each must restore the schema from before it, down to the empty one), apply
        them again; for histories whose rollbacks only work in that order.
    :param keep_going: check every migration and report each failing one (a failure rebuilds
        the scratch database up to that migration and goes on), instead of stopping at the
        first.
    :returns: a :class:`VerifyReport` listing every migration checked.
    :raises RollbackMismatch: a rollback left the schema different; names the migration and carries
        the difference.
    :raises StatementFailed: a migration or its rollback failed to run.
    :raises VerificationFailed: with ``keep_going``, any check failed (all are in its
        ``report``).
    Each of these carries the report so far as ``report`` (the kept database among it).
    :raises DatabaseUnavailable: the server is unreachable or refuses to create a database.
    """
    say = reporter(report)
    scripts, hooks = scripts_mod.load(settings.sources)
    started = time.monotonic()
    result = VerifyReport(database="", kept=keep, chain=chain)
    try:
        with scratch_server(settings, scratch, keep_running=keep) as server, \
                Scratch(server, keep=keep, say=say) as scratch_db:
            verifier = _Verifier(scratch_db, settings, hooks, scope(settings, schema), scripts,
                                 say, result,
                                 keep_going=keep_going)
            say(f"verifying {len(scripts)} migration(s) on scratch database"
                f" {verifier.engine.dbname}")
            try:
                verifier.run_chain() if chain else verifier.run()
            finally:
                verifier.close()
    except MigError as exc:
        result.duration_ms = int((time.monotonic() - started) * 1000)
        exc.report = result  # type: ignore[attr-defined]
        raise
    result.duration_ms = int((time.monotonic() - started) * 1000)
    if result.failures:
        raise _failed(result)
    return result


def _failed(result: VerifyReport) -> VerificationFailed:
    lines = [f"  {f.id} ({f.phase}): {f.message.splitlines()[0]}" for f in result.failures]
    return VerificationFailed(
        f"{len(result.failures)} check(s) failed:\n" + "\n".join(lines),
        migration_id=result.failures[0].id, report=result,
        hint="each is shown above with what differs; fix the rollbacks named")


# The checks of the whole chain, after each migration's own.
_CHAIN = ("chain rollback", "chain reapply")


# What each check compares, and how to fix a failure: (message, hint).
_PHASES = {
    "rollback": (
        "rolling back did not restore the schema from before it",
        "make the rollback undo exactly what the migration does",
    ),
    "reapply": (
        "applying it again after its rollback gave a different schema",
        "the rollback leaves something behind that changes the next apply",
    ),
    "chain rollback": (
        "rolling the whole chain back through it did not restore the schema from before it",
        "make the rollback undo exactly what the migration does",
    ),
    "chain reapply": (
        "applying the whole chain again gave a different schema",
        "a migration depends on state that rollbacks leave behind",
    ),
}


class _Verifier:
    """Runs the checks on the scratch database, recording each migration checked and (with
    ``keep_going``) each failure, rebuilding the scratch database to go on after one."""

    def __init__(self, scratch: Scratch, settings: Settings, hooks: list,
                 schemas: list[str] | None, scripts: list, say: Reporter, result: VerifyReport,
                 *, keep_going: bool) -> None:
        self.scratch = scratch
        self.settings = settings
        self.hooks = hooks
        self.schemas = schemas
        self.scripts = scripts
        self.say = say
        self.result = result
        self.keep_going = keep_going
        self.engine = self._engine()
        # After a first failure: a second scratch database holding the first ``_copy_at``
        # migrations, which a rebuild brings up to date and clones (see rebuild).
        self._copy: Scratch | None = None
        self._copy_at = 0

    def _engine(self, scratch: Scratch | None = None) -> ScratchEngine:
        where = scratch or self.scratch
        engine = ScratchEngine(dataclasses.replace(self.settings, database=where.dsn),
                               self.hooks, self.schemas)
        if scratch is None:
            self.result.database = engine.masked
        return engine

    def close(self) -> None:
        try:
            self.engine.close()
        finally:
            if self._copy is not None:
                self._copy.__exit__(None, None, None)

    def check(self, script: scripts_mod.Script, phase: str, expected: Snapshot) -> None:
        """Require the scratch database's schema to be ``expected``.

        :raises RollbackMismatch: it differs; names ``script`` and carries the difference.
        """
        lines = diff(expected, self.engine.snapshot())
        if not lines:
            return
        what, hint = _PHASES[phase]
        shown = "\n".join(f"  {line}" for line in lines)
        where = (
            script.rollback_path if "rollback" in phase and script.rollback_path else script.path
        )
        if "rollback" in phase and script.rollback_empty:
            # as mig rollback sees it: a rollback of comments only undoes nothing
            what += ": its rollback file holds no statement"
            hint = "write a rollback that restores the previous schema"
        raise RollbackMismatch(
            f"{script.id}: {what} ({where}).\n"
            f"  ('-' is the expected schema, '+' what the database has instead)\n{shown}",
            migration_id=script.id,
            phase=phase,
            diff=lines,
            hint=hint,
        )

    def failed(self, script: scripts_mod.Script, phase: str, exc: MigError) -> None:
        """Record a failed check; raise it unless going on."""
        diff = getattr(exc, "diff", None)
        self.result.failures.append(CheckFailed(script.id, phase, exc.message,
                                                None if diff is None else tuple(diff)))
        if not self.keep_going:
            raise exc
        self.say(f"FAILED {script.id} ({phase}): {exc.message.splitlines()[0]}")

    def rebuild(self, applied: list) -> None:
        """A new scratch database with ``applied`` (the first migrations) applied, to go on
        after a failure.

        It is a copy of a second scratch database that follows a few migrations behind: the
        migrations it lacks of ``applied`` are applied there first, so that each is applied
        there once in a whole run however many migrations fail, instead of all before them
        again for each failure. Only when it is ahead of ``applied`` (the chain's rollbacks go
        backwards) is it built again from the empty database.
        """
        self.engine.close()
        if self._copy is None:
            self._copy = Scratch(self.scratch.server, keep=False, say=self.say).__enter__()
        elif self._copy_at > len(applied):
            self._copy.fresh()
            self._copy_at = 0
        copy = self._engine(self._copy)
        try:
            for script in applied[self._copy_at:]:
                copy.apply(script)
                self._copy_at += 1
        finally:
            copy.close()  # a database is copied with nobody connected to it
        assert self._copy.dsn is not None
        self.scratch.fresh(template=str(self._copy.dsn.dbname))
        self.engine = self._engine()

    def run(self) -> None:
        """Each migration on its own (apply, roll back, apply again), then the chain."""
        before: dict[str, Snapshot] = {}
        now: Snapshot | None = None  # the schema now, when a check has just read it
        for index, script in enumerate(self.scripts):
            before[script.id] = now if now is not None else self.engine.snapshot()
            now = None
            phase = "apply"
            try:
                # an empty migration needs no rollback file: it ran nothing
                if script.is_sql and script.rollback_path is None and not script.empty:
                    phase = "rollback"
                    self.engine.apply(script)
                    raise MigrationError(
                        f"{script.id} has no rollback file ({script.id}.rollback.sql)",
                        migration_id=script.id,
                        path=str(script.path),
                        hint="write a rollback that restores the previous schema",
                    )
                self.engine.apply(script)
                applied = self.engine.snapshot()
                phase = "rollback"
                self.engine.rollback(script)
                self.check(script, "rollback", before[script.id])
                phase = "reapply"
                self.engine.apply(script)
                self.check(script, "reapply", applied)
                now = applied  # what the check found: the schema the next one starts from
            except MigError as exc:
                self.failed(script, phase, exc)
                if phase == "apply":
                    return  # the migrations after it need it
                self.rebuild(self.scripts[:index + 1])
                continue
            self.result.migrations.append(Verified(script.id, ("rollback", "reapply")))
            self.say(f"ok {script.id}: its rollback restores the schema; re-applying reproduces it")
        if not self.scripts or self.result.failures:
            return  # the chain checks would only repeat what failed
        if self._chain(before):
            self.result.migrations = [dataclasses.replace(v, checks=(*v.checks, *_CHAIN))
                                      for v in self.result.migrations]

    def run_chain(self) -> None:
        """Only the chain: apply everything, roll it all back newest first, apply it again."""
        before: dict[str, Snapshot] = {}
        for script in self.scripts:
            before[script.id] = self.engine.snapshot()
            try:
                self.engine.apply(script)
            except MigError as exc:
                self.failed(script, "apply", exc)
                return
        if self.scripts:
            self._chain(before)
        failed = {f.id for f in self.result.failures}
        self.result.migrations = [Verified(s.id, _CHAIN) for s in self.scripts
                                  if s.id not in failed]

    def _chain(self, before: dict[str, Snapshot]) -> bool:
        """Roll the chain back newest first, each step compared with the schema from before
        that migration, then apply it all again; whether every check passed."""
        head = self.engine.snapshot()
        ok = True
        for index in reversed(range(len(self.scripts))):
            script = self.scripts[index]
            try:
                self.engine.rollback(script)
                self.check(script, "chain rollback", before[script.id])
            except MigError as exc:
                self.failed(script, "chain rollback", exc)
                ok = False
                self.rebuild(self.scripts[:index])
        if ok:
            self.say("ok: the whole chain rolls back to the empty schema")
        last = self.scripts[-1]
        try:
            for script in self.scripts:
                last = script
                self.engine.apply(script)
            self.check(last, "chain reapply", head)
        except MigError as exc:
            self.failed(last, "chain reapply", exc)
            return False
        self.say("ok: the whole chain applies again to the same schema")
        return ok
