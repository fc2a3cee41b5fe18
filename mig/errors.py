"""One root for every error mig reports, with the exit codes the CLI turns them into.

Each subclass carries the data its message is built from (which file, which line, which
migration), so callers can act on an error without parsing its text. The CLI converts a
:class:`MigError` into a message and an exit code in exactly one place (``mig.cli``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .reports import Edited

# Exit codes, documented in docs/cli.md.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_LOCK_TIMEOUT = 3
EXIT_PENDING = 4
EXIT_DRIFT = 5  # mig diff, mig baseline: the live schema differs from its migrations'
EXIT_REFUSED = 6  # a rollback refused: it would lose what it cannot undo
EXIT_INCONSISTENT = 7  # mig status --check: the records and the catalog disagree
EXIT_CANARY = 8  # --fleet --canary: a canary target failed; the others were not started


class MigError(Exception):
    """Root of every error mig raises on purpose. ``str(err)`` is the user-facing message."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(MigError):
    """The settings could not be resolved: malformed URL, bad option value, unreadable ini."""

    exit_code = EXIT_USAGE


class BadListing(ConfigError):
    """A fleet listing that cannot run. ``problems`` holds every problem found, each a
    :class:`BadListing` of one with ``where`` (file and line, query row) set; a listing with
    one problem is that problem. No message shows a target's user name or password."""

    def __init__(self, message: str, *, where: str | None = None,
                 problems: list[BadListing] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.where = where
        self.problems = list(problems or [])

    @classmethod
    def of(cls, source: str, problems: list[BadListing]) -> BadListing:
        """One error for every problem of ``source`` (each line of the message is one)."""
        if len(problems) == 1:
            only = problems[0]
            return cls(only.message, where=only.where, problems=problems, hint=only.hint)
        hints = list(dict.fromkeys(p.hint for p in problems if p.hint))
        return cls(f"{source}: {len(problems)} problems\n"
                   + "\n".join(f"  {p.message}" for p in problems),
                   problems=problems, hint="; ".join(hints) or None)


class ServerError(MigError):
    """The embedded or local PostgreSQL server could not be started, found or stopped."""


class DataVersionMismatch(ServerError):
    """A server's data folder was made by another major version of PostgreSQL than its
    binaries are (``server_bin`` changed since): no server opens another major's data."""

    def __init__(self, message: str, *, datadir: str, data_version: str, bin_version: str,
                 bindir: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.datadir = datadir
        self.data_version = data_version
        self.bin_version = bin_version
        self.bindir = bindir


class DatabaseUnavailable(MigError):
    """The database could not be reached or refused the connection."""


class LockTimeout(MigError):
    """Another process held the migration lock for longer than the configured wait."""

    exit_code = EXIT_LOCK_TIMEOUT

    def __init__(self, message: str, *, holder: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.holder = holder


class MigrationError(MigError):
    """A migration could not be read, ordered or applied."""

    def __init__(
        self,
        message: str,
        *,
        migration_id: str | None = None,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.migration_id = migration_id
        self.path = path
        self.line = line


class BadMigrationFile(MigrationError):
    """A migration file that does not import, parse or resolve its dependencies."""


class ChecksumMismatch(MigrationError):
    """An applied migration was edited, deleted or renamed since it was applied."""

    def __init__(self, message: str, *, problems: Sequence[Edited], hint: str):
        super().__init__(message, hint=hint)
        self.problems = list(problems)


class StatementFailed(MigrationError):
    """A statement of a migration failed; nothing of that migration is recorded as applied.

    ``lock_timeout`` is true when it failed only because its lock was not granted within
    ``lock_timeout`` (after the configured attempts)."""

    lock_timeout = False


class ConnectionLost(MigrationError):
    """The connection to the database was lost while a migration ran; the message says what
    stays applied."""


class DataMigrationError(MigrationError):
    """A data step stopped: a batch could not get its locks after the configured attempts, a
    statement of a batch failed, or the step broke the batch contract.

    Batches committed before it stay committed: ``step`` names the data step and
    ``last_key`` the key (as text, one item per key column) after which a re-run resumes.
    """

    def __init__(
        self,
        message: str,
        *,
        migration_id: str | None = None,
        step: str | None = None,
        last_key: list[str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, migration_id=migration_id, hint=hint)
        self.step = step
        self.last_key = last_key


class RollbackMismatch(MigrationError):
    """``mig verify``: a rollback did not restore the schema its migration started from (or a
    re-apply did not reproduce the schema of the first apply). ``phase`` says which check,
    ``diff`` holds the differing lines. (Drift, in mig's words, is what ``mig diff`` finds: a
    live schema changed outside its migrations.)"""

    def __init__(
        self,
        message: str,
        *,
        migration_id: str,
        phase: str,
        diff: list[str],
        hint: str | None = None,
    ) -> None:
        super().__init__(message, migration_id=migration_id, hint=hint)
        self.phase = phase
        self.diff = diff


SchemaDrift = RollbackMismatch  # its earlier name, kept for existing callers


class FailedCheck(Protocol):
    """One failed check of ``mig verify`` (:class:`mig.commands.verification.CheckFailed`)."""

    @property
    def id(self) -> str:
        """The migration checked."""

    @property
    def phase(self) -> str:
        """The check that failed: ``apply``, ``rollback``, ``reapply``, ``chain rollback``..."""

    @property
    def message(self) -> str:
        """What went wrong."""

    @property
    def diff(self) -> tuple[str, ...] | None:
        """The differing lines; None when a statement failed."""


class VerifyFailures(Protocol):
    """What a failed ``mig verify`` reports (:class:`mig.commands.verification.VerifyReport`):
    each failed check, and the whole report as ``--json`` prints it."""

    @property
    def failures(self) -> Sequence[FailedCheck]:
        """Each failed check, in the order they failed."""

    def to_json(self) -> dict:
        """The report as ``--json`` prints it."""


class VerificationFailed(MigrationError):
    """``mig verify --keep-going``: one or more checks failed; ``report`` (the verify's report)
    lists every failure, each with ``id``, ``phase``, ``message`` and ``diff``."""

    def __init__(self, message: str, *, migration_id: str, report: VerifyFailures,
                 hint: str | None = None) -> None:
        super().__init__(message, migration_id=migration_id, hint=hint)
        self.report = report


class UnknownMigration(MigError):
    """``--to ID`` names no migration: ``migration_id`` is the id given, ``folders`` the
    migration folders looked in."""

    def __init__(self, message: str, *, migration_id: str, folders: list[str],
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.migration_id = migration_id
        self.folders = folders


class NotAtHead(MigError):
    """The database schema is not at the newest migration where that is required."""

    exit_code = EXIT_PENDING


class Refused(MigError):
    """An operation that needs explicit confirmation (``--yes``) or a force flag."""

    exit_code = EXIT_USAGE


class NeedsConfirmation(Refused):
    """A wide operation given neither ``--yes`` nor a confirmation on a terminal."""


class CannotUndo(Refused):
    """A rollback refused because it cannot undo a migration (no rollback, or an irreversible
    data step); ``force`` overrides it. Every such migration is named."""

    exit_code = EXIT_REFUSED


class Unfinished(MigError):
    """A non-transactional apply or rollback was interrupted; the command asked for would not
    finish it (the message names it and the command that does)."""


class SeedError(MigError):
    """Seed fixtures could not be read, validated or loaded; nothing was written.

    One problem carries ``file``, ``line`` and ``key`` (the row's natural key, e.g.
    ``{"key": "owner"}``). When validation finds several, the raised error lists all of them
    in ``problems`` (each itself a :class:`SeedError`) and names the first in its own fields.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: dict[str, object] | None = None,
        problems: list[SeedError] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line
        self.key = key
        self.problems = list(problems or [])


class BaselineRefused(MigError):
    """``mig baseline`` found the live schema different from what the migrations up to the
    target build (``differences``, as ``mig diff --json`` reports them), or holding objects it
    cannot compare (``unreadable``); nothing was recorded."""

    exit_code = EXIT_DRIFT

    def __init__(self, message: str, *, differences: list[dict], unreadable: list[str],
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.differences = differences
        self.unreadable = unreadable


class SquashRefused(MigError):
    """``mig squash`` could not prove the squashed migration: the generator cannot render the
    history's schema, or what it rendered builds another schema than the history's, or its
    rollback leaves something (``differences``, as ``mig diff --json`` reports them); nothing
    was written."""

    exit_code = EXIT_DRIFT

    def __init__(self, message: str, *, differences: list[dict],
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.differences = differences


class ImportRefused(MigError):
    """``mig import`` found problems in the folder it reads (or in the files it would write
    over); nothing was written. ``problems`` are ``(path, line or None, message)``."""

    def __init__(self, message: str, *, problems: list[tuple[str, int | None, str]],
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems


class ForeignHistoryUnreadable(MigError):
    """A table named like another tool's migration history that mig cannot read as that
    history: it lacks ``expected`` columns (``found`` are its columns), or its records say a
    migration stopped half-way (``dirty``)."""

    def __init__(self, message: str, *, table: str, expected: list[str] | None = None,
                 found: list[str] | None = None, dirty: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.table = table
        self.expected = list(expected or [])
        self.found = list(found or [])
        self.dirty = dirty


class DatabaseExists(MigError):
    """``mig db create`` was asked for a database that exists already; it was left as it is."""

    def __init__(self, name: str, *, where: str) -> None:
        super().__init__(
            f"database {name} already exists on {where}; nothing was created",
            hint="pick another name, or drop it first if it is a leftover "
            f"(DROP DATABASE \"{name}\")")
        self.name = name
        self.where = where


class TemplateBusy(MigError):
    """A database cannot be cloned from ``template`` while other sessions are connected to it
    (PostgreSQL refuses); ``sessions`` are those connected, each as a line of text."""

    def __init__(self, template: str, sessions: Iterable[object]) -> None:
        self.template = template
        self.sessions = [str(s) for s in sessions]
        listed = "".join(f"\n  {s}" for s in self.sessions) or (
            " (they have gone since; try again)")
        super().__init__(
            f"cannot clone template {template}: other sessions are connected to it, and "
            f"PostgreSQL copies a template only while nobody else is{listed}",
            hint=f"keep applications and tools off the template (connect to another database), "
            f"or end them: SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            f"datname = '{template}'; then run it again (nothing was created)")


class TemplateNotAtHead(NotAtHead):
    """The template a database is cloned from is not at the newest migration (``pending``,
    ``edited`` and ``partial`` migration ids say why); nothing was created."""

    def __init__(self, template: str, *, pending: list[str], edited: list[str],
                 partial: list[str], where: str) -> None:
        self.template = template
        self.pending = pending
        self.edited = edited
        self.partial = partial
        why = [f"{len(ids)} {what} ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})"
               for what, ids in (("pending", pending), ("edited", edited),
                                 ("unfinished", partial)) if ids]
        reason = "; ".join(why) or "its records cannot be read as at head"
        super().__init__(
            f"template {template} is not at the newest migration: {reason}; a clone would "
            "start behind, nothing was created",
            hint=f"bring the template to head first: mig apply --seed -d {where} "
            "(and keep it there after every release)")


def did_you_mean(name: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``known`` to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


class DestructiveChanges(Refused):
    """``mig new --from`` found changes that lose data (a dropped column, table, type, schema,
    enum value, a narrowing type change) and was not given ``--allow-destructive``: nothing
    was written. ``destructive`` lists each as ``{"kind", "name", "what"}``."""

    exit_code = EXIT_REFUSED

    def __init__(self, message: str, *, destructive: list[dict], hint: str | None = None
                 ) -> None:
        super().__init__(message, hint=hint)
        self.destructive = destructive


class GenerationFailed(MigError):
    """``mig new --from`` could not write a migration it proved: changes it cannot render
    (``problems``), or a generated migration whose apply does not give the database's schema
    (``up``) or whose rollback does not give the history's back (``down``), as
    ``mig diff --json`` lists differences. Nothing was written."""

    def __init__(self, message: str, *, problems: list[str] | None = None,
                 up: list[dict] | None = None, down: list[dict] | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])
        self.up = list(up or [])
        self.down = list(down or [])
