"""The typed plan: its statements, the migrations they are grouped in, its phases, the units
it is built of, and the renames a caller gives."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...reports import DestructiveChange
from ..depends import Key

#: Phases of a plan: each is a migration of its own.
BEFORE, MAIN, AFTER = 0, 1, 2


@dataclass(frozen=True)
class Statement:
    """One statement of a plan: its SQL (ending with ``;``), the schema whose search path it
    runs under, whether it can run inside a transaction, and a comment written above it."""

    sql: str
    schema: str = "public"
    transactional: bool = True
    note: str | None = None
    phase: int = MAIN


@dataclass(frozen=True)
class PlannedMigration:
    """One migration of a plan: its statements up and down, whether it runs in a transaction,
    and its phase (:data:`BEFORE`, :data:`MAIN`, :data:`AFTER`)."""

    phase: int
    transactional: bool
    up: tuple[Statement, ...]
    down: tuple[Statement, ...]


@dataclass(frozen=True)
class Plan:
    """What :func:`plan` renders: ``up`` in order, ``down`` in order (the reverse changes),
    the destructive changes, the warnings, and the tables whose rollback cannot put a dropped
    column back where it was (``reordered``: it is added at the end)."""

    up: tuple[Statement, ...]
    down: tuple[Statement, ...]
    destructive: tuple[DestructiveChange, ...] = ()
    warnings: tuple[str, ...] = ()
    reordered: tuple[str, ...] = ()  # tables whose rollback adds a dropped column at the end

    @property
    def empty(self) -> bool:
        """Whether there is nothing to do."""
        return not self.up

    def migrations(self) -> list[PlannedMigration]:
        """The plan split into the migrations that run it, in order: only the phases that
        have statements; each rollback holds the down statements of its phase."""
        result = []
        for phase in (BEFORE, MAIN, AFTER):
            up = tuple(s for s in self.up if s.phase == phase)
            if up:
                down = tuple(s for s in self.down if s.phase == phase)
                result.append(PlannedMigration(phase, phase == MAIN, up, down))
        return result


class CannotGenerate(Exception):
    """Changes the generator cannot render (yet): each a line naming the object and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- the plan ---------------------------------------------------------------------------------
@dataclass
class Unit:
    """A change and its reverse: the statements of one object, ordered as one."""

    action: str  # "drop", "alter", "create"
    key: Key
    up: list[Statement]
    down: list[Statement]
    rank: int
    phase: int = MAIN
    covers: set[Key] = field(default_factory=set)
    plain: tuple[list[Statement], list[Statement]] | None = None  # the in-transaction form
    extra_needs: set[int] = field(default_factory=set)


# Creation order among objects that do not need each other (dependencies come first anyway).
RANK = {"schemas": 0, "extensions": 1, "collations": 1, "types": 2, "sequences": 3,
         "tables": 4, "columns": 5, "constraints": 6, "indexes": 7, "views": 8,
         "functions": 9, "foreign_keys": 10, "triggers": 11, "policies": 12, "owned": 13,
         "comments": 14, "grants": 15, "default_privileges": 16}
CHILD_SECTIONS = ("columns", "constraints", "triggers", "policies", "rules")


@dataclass(frozen=True)
class Rename:
    """A column renamed: ``table`` (its snapshot name), ``old`` and ``new``."""

    table: str
    old: str
    new: str
