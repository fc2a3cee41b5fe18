"""Rolling back a migration whose file is gone, from the rollback stored when it was applied.

After switching branches, a migration applied from the other branch has no file here. Its
rollback SQL was stored in ``_mig_migrations`` when it was applied
(:mod:`mig.engine.tracking`), so a :class:`StoredScript` stands in for the missing file: the
runner rolls it back as it would the file (in one transaction, or statement by statement for
a non-transactional migration) and removes its records. A Python migration's rollback is
code, which is not stored: its file is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..disk import sqltext
from ..errors import Refused
from ..yoyo import steps as yoyo_steps
from . import tracking


@dataclass
class StoredScript:
    """A migration known only from its records (the parts of :class:`mig.scripts.Script` the
    runner uses to roll it back)."""

    id: str
    stored: tracking.StoredRollback
    post_apply: bool = False
    is_sql: bool = True
    rollback_path: None = None

    @property
    def path(self) -> Path:
        """A stand-in path for messages: the file is gone."""
        return Path(f"(stored rollback of {self.id})")

    @property
    def transactional(self) -> bool:
        """Whether the migration ran in one transaction when it was applied."""
        return self.stored.transactional

    @property
    def checksum(self) -> str:
        """What an interrupted non-transactional rollback of it resumes from: the stored SQL."""
        import hashlib

        return "stored:" + hashlib.sha256(self.rollback_sql.encode()).hexdigest()

    @property
    def empty(self) -> bool:
        """Whether the migration ran nothing and has nothing to roll back: rolling it back
        only removes its records."""
        return self.stored.kind == tracking.ROLLBACK_EMPTY

    @property
    def rollback_empty(self) -> bool:
        """Whether rolling it back runs nothing (no statement stored)."""
        return not sqltext.statements(self.rollback_sql)

    @property
    def rollback_sql(self) -> str:
        """The rollback SQL stored when it was applied."""
        return self.stored.sql or ""

    @property
    def steps(self) -> list:
        """The stored rollback's statements as rollback-only steps."""
        # yoyo keeps a rollback file's statements in reverse and the runner reverses them again.
        return [yoyo_steps.rollback_step(s.text)
                for s in reversed(sqltext.statements(self.rollback_sql))]

    def option(self, name: str) -> str | None:
        """No per-migration settings: the run's apply."""
        return None  # the run's lock_timeout and statement_timeout

    def lock_attempts(self, default: int) -> int:
        """The run's number of lock attempts."""
        return default

    def line_of(self, statement: str) -> int | None:
        """No file, so no line."""
        return None


def stand_in(migration_id: str, stored: tracking.StoredRollback | None, *,
             force: bool) -> StoredScript:
    """The stand-in for the missing file of applied migration ``migration_id``.

    An empty migration (stored as such) stands in as one whose rollback runs nothing.
    :raises Refused: nothing usable was stored (a Python migration, one applied before mig
        stored rollbacks, one without a rollback) and ``force`` is false.
    """
    kind = stored.kind if stored is not None else None
    if kind in (tracking.ROLLBACK_SQL, tracking.ROLLBACK_EMPTY) or force:
        return StoredScript(migration_id, stored or tracking.StoredRollback(
            migration_id, None, None, transactional=True))
    why = {
        tracking.ROLLBACK_PYTHON: "its rollback is Python code, which only its file holds",
        tracking.ROLLBACK_NONE: "it has no rollback",
        None: "it was applied before mig stored rollbacks",
    }.get(kind, f"its stored rollback is of a kind this mig does not know ({kind!r})")
    raise Refused(
        f"{migration_id} is applied but its file is gone, and {why}",
        hint="restore the file (e.g. check out the branch that has it) and roll back again, or"
        " pass --force (force=True) to forget the record: the schema stays as it is",
    )
