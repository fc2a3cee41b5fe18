"""One root for every error mig reports, with the exit codes the CLI turns them into.

Each subclass carries the data its message is built from (which file, which line, which
migration), so callers can act on an error without parsing its text. The CLI converts a
:class:`MigError` into a message and an exit code in exactly one place (``mig.cli``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

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
    target build (``differences``, as ``mig diff`` reports them), or holding objects it cannot
    compare (``unreadable``); nothing was recorded."""

    exit_code = EXIT_DRIFT

    def __init__(self, message: str, *, differences: list[dict], unreadable: list[str],
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.differences = differences
        self.unreadable = unreadable


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


def did_you_mean(name: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``known`` to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""
