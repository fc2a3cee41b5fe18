"""yoyo's migration objects: made for the files found, loaded (the file parsed or imported),
their steps, what the file declares (``__depends__``, ``__transactional__``, ...), their ids
and hashes, and the Python migration file yoyo imports. A file's import is guarded: yoyo's
refusals, and a file that would end the process, come back as a :class:`LoadFailure`.

yoyo documents how a migration file is written, not the objects it makes of one: their
attributes are read here alone.

A migration's hash is what yoyo keys its rows with: derived from its id alone, so a record
can be written or removed for a migration whose file is gone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

#: A yoyo migration object (``Migration`` or ``PostApplyHookMigration``); yoyo has no types.
Migration = Any

#: The Python migration ``mig new --py`` writes: yoyo's ``step()``, and a data step in
#: comments. ``{name}`` is its title, ``{depends}`` its ``__depends__`` line (or nothing).
PYTHON_TEMPLATE = '''"""{name}"""

from yoyo import step

{depends}
# A change to many rows goes in a data step: batches walked by primary key, each committed
# with a checkpoint, retried, reported, counted by 'mig apply --dry-run' (docs/data-migrations.md).
# Uncomment it, or delete these lines:
#
# from mig.data import data_step
#
# __transactional__ = False  # one commit per batch: a re-run resumes after the last one
#
# def forward(batch):
#     batch.execute("UPDATE users SET email = lower(email) WHERE {{range}} AND {{where}}")
#
# def backward(batch):  # leave it out and the rollback is refused as irreversible
#     ...

steps = [
    step(
        "",  # apply
        "",  # rollback
    ),
    # data_step(forward, backward, table="users", where="email <> lower(email)"),
]
'''


@dataclass(frozen=True)
class LoadFailure:
    """yoyo could not load a migration file: its message, and what the file's import raised
    (None: yoyo gave its reason in the message alone); ``exit``: the file's import tried to
    end the process, with this call (``sys.exit(1)``, ``os._exit(0)``, ``os.abort()``)."""

    message: str
    cause: BaseException | None
    exit: str | None = None


class ProcessExit(BaseException):
    """``os._exit()`` or ``os.abort()`` called while a migration is imported; ``call`` is the
    call as written (``os._exit(0)``)."""

    def __init__(self, call: str) -> None:
        super().__init__(call)
        self.call = call


# A migration that calls os._exit() (or os.abort()) when imported would end mig's process on
# the spot: no except clause, finally or atexit runs, so `mig apply` would exit 0 having
# applied nothing. While a migration is imported those two functions raise instead, and the
# import fails as one calling sys.exit() does. Replacing them for the import's duration costs
# nothing and catches a call made anywhere the import runs (a helper function, a module it
# imports), where reading the source (ast) would only see calls written at the top level; a
# reference to the real function taken before the import is the one way around it.
@contextlib.contextmanager
def process_exit_refused() -> Iterator[None]:
    """While it lasts, ``os._exit()`` and ``os.abort()`` raise :class:`ProcessExit`."""
    def refused_exit(code: int) -> NoReturn:
        raise ProcessExit(f"os._exit({code!r})")

    def refused_abort() -> NoReturn:
        raise ProcessExit("os.abort()")

    saved = os._exit, os.abort
    setattr(os, "_exit", refused_exit)  # noqa: B010 - mypy refuses assigning a function
    setattr(os, "abort", refused_abort)  # noqa: B010
    try:
        yield
    finally:
        setattr(os, "_exit", saved[0])  # noqa: B010
        setattr(os, "abort", saved[1])  # noqa: B010


def make(migration_id: str, path: Path, *, post_apply: bool = False) -> Migration:
    """yoyo's object for the migration file ``path`` (a post-apply hook with ``post_apply``),
    its steps not yet loaded. yoyo resolves dependencies through a registry of every object it
    made, so the objects of one set of files are made together."""
    from yoyo.migrations import Migration, PostApplyHookMigration

    cls = PostApplyHookMigration if post_apply else Migration
    return cls(migration_id, str(path), source_dir=str(path.parent))


def load(migration: Migration) -> LoadFailure | None:
    """Load ``migration``'s steps (parse the SQL file, or import the Python one); what yoyo
    refused, or an import that tried to end the process (:func:`process_exit_refused`), as a
    :class:`LoadFailure`. Any other error of the file's import propagates."""
    from yoyo import exceptions

    try:
        with process_exit_refused():
            migration.load()
    except exceptions.BadMigration as exc:
        cause = exc.args[1] if len(exc.args) > 1 else exc.__cause__ or exc.__context__
        return LoadFailure(str(exc), cause if isinstance(cause, BaseException) else None)
    except (SystemExit, ProcessExit) as exc:  # must not end mig's own run
        migration.steps = None  # not loaded: asked again, it is refused again
        call = exc.call if isinstance(exc, ProcessExit) else f"sys.exit({exc.code!r})"
        return LoadFailure(f"the file calls {call} when imported", exc, exit=call)
    return None


def hash_of(migration_id: str) -> str:
    """The hash yoyo keys the rows of ``migration_id`` with."""
    from yoyo.migrations import get_migration_hash

    return str(get_migration_hash(migration_id))


def known_ids() -> set[str]:
    """The ids of every migration yoyo has made in this process: those a ``depends`` can
    resolve."""
    from yoyo.migrations import Migration

    return set(Migration._Migration__all_migrations)


def alias(migration_id: str, migration: Migration) -> None:
    """Let a dependency on ``migration_id``, which has no file any more, resolve to
    ``migration`` (the squash that replaced it)."""
    from yoyo.migrations import Migration

    Migration._Migration__all_migrations[migration_id] = migration


def is_loaded(migration: Migration) -> bool:
    """Whether ``migration``'s steps are loaded."""
    return bool(migration.loaded)


def steps_of(migration: Migration) -> list[Any] | None:
    """``migration``'s steps as loaded (``steps = [...]`` of the file; for an SQL file one
    step per statement); None before it is loaded."""
    steps: list[Any] | None = migration.steps
    return steps


def set_steps(migration: Migration, steps: list[Any] | None) -> None:
    """Replace ``migration``'s steps (None: it counts as not loaded, and loads again)."""
    migration.steps = steps


def declared(migration: Migration, name: str, *, default: Any = None) -> Any:
    """What the file of ``migration`` declares as ``name`` at its top level (``__depends__``,
    ``__transactional__``, ...; for an SQL file yoyo sets these from its directives), once
    loaded; ``default`` when it declares nothing of that name."""
    return getattr(migration.module, name, default)


def transactional(migration: Migration) -> bool:
    """Whether yoyo runs the loaded ``migration`` in a transaction."""
    return bool(migration.use_transactions)
