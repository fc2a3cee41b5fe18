"""yoyo's migration objects: made for the files found, loaded (the file parsed or imported),
their steps, what the file declares (``__depends__``, ``__transactional__``, ...), their ids
and hashes, and the Python migration file yoyo imports.

yoyo documents how a migration file is written, not the objects it makes of one: their
attributes are read here alone.

A migration's hash is what yoyo keys its rows with: derived from its id alone, so a record
can be written or removed for a migration whose file is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    (None: yoyo gave its reason in the message alone)."""

    message: str
    cause: BaseException | None


def make(migration_id: str, path: Path, *, post_apply: bool = False) -> Migration:
    """yoyo's object for the migration file ``path`` (a post-apply hook with ``post_apply``),
    its steps not yet loaded. yoyo resolves dependencies through a registry of every object it
    made, so the objects of one set of files are made together."""
    from yoyo.migrations import Migration, PostApplyHookMigration

    cls = PostApplyHookMigration if post_apply else Migration
    return cls(migration_id, str(path), source_dir=str(path.parent))


def load(migration: Migration) -> LoadFailure | None:
    """Load ``migration``'s steps (parse the SQL file, or import the Python one); what yoyo
    refused, as a :class:`LoadFailure`. Any other error of the file's import propagates."""
    from yoyo import exceptions

    try:
        migration.load()
    except exceptions.BadMigration as exc:
        cause = exc.args[1] if len(exc.args) > 1 else exc.__cause__ or exc.__context__
        return LoadFailure(str(exc), cause if isinstance(cause, BaseException) else None)
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
