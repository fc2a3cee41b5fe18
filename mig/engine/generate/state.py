"""The planner's state and the helpers every kind of object uses: definitions looked up, the
schema a statement runs in, units and statements made, drops noted."""

from __future__ import annotations

from collections.abc import Iterable

from ...reports import DestructiveChange
from ..comparison import OwnedSchema
from ..depends import Dependencies, Key
from ..snapshot import SECTIONS as SECTION_WORDS
from .definitions import Tables
from .model import CHILD_SECTIONS, MAIN, RANK, Rename, Statement, Unit
from .quoting import split


class PlannerState:
    """What the planner knows and collects: the two snapshots and their dependencies, the
    changes between them, and the units of the plan, with the helpers every kind uses."""

    changed: dict[str, dict[str, str]]  # section -> name -> change, set as the run begins
    rename_of: dict[str, str]  # old column key -> new column key, set by the renamed columns

    def __init__(self, before: OwnedSchema, after: OwnedSchema, before_deps: Dependencies,
                 after_deps: Dependencies, renames: tuple[Rename, ...], *, safe: bool) -> None:
        self.before_owned, self.after_owned = before, after
        self.old, self.new = before.snapshot, after.snapshot
        self.old_deps, self.new_deps = before_deps, after_deps
        self.renames = renames
        self.safe = safe
        self.tables = Tables(self.old, self.new)
        self.units: list[Unit] = []
        self.problems: list[str] = []
        self.destructive: list[DestructiveChange] = []
        self.warnings: list[str] = []
        self.made = before_deps.made | after_deps.made
        self.attach: list[tuple[Unit, Key]] = []  # made after its object is made
        self.before_drop: list[tuple[Unit, Key]] = []  # put back after its object is
        self.replaced_functions: set[str] = set()
        self.reordered: set[str] = set()  # tables whose rollback moves a column to the end
        self.forced: set[Key] = set()  # unchanged objects made again with what they need
        self.owned_needs: list[tuple[Unit, list[Key]]] = []  # OWNED BY: sequence and column
        self.added_labels: dict[str, list[str]] = {}  # enum values added, by type
        self.rebuilt_types: set[str] = set()  # enums made again: they set columns' defaults

    # helpers --------------------------------------------------------------------------------
    def get(self, side: dict, section: str, name: str) -> str | None:
        """The definition of ``name`` in ``section`` of ``side``, or None."""
        return side.get(section, {}).get(name)

    def schema_of(self, section: str, name: str) -> str:
        """The schema an object's statements run in."""
        if section in ("schemas", "extensions"):
            return "public"
        if section in CHILD_SECTIONS:
            name = self.tables.split(name)[0]
        return split(name)[0]

    def add(self, action: str, key: Key, up: list[Statement], down: list[Statement], *,
            rank: str | None = None, phase: int = MAIN, covers: Iterable[Key] = (),
            plain: tuple[list[Statement], list[Statement]] | None = None) -> Unit:
        """A unit of the plan added: an object's change and its reverse."""
        unit = Unit(action, key, up, down, RANK[rank or key[0]], phase,
                     {key, *covers}, plain)
        self.units.append(unit)
        return unit

    def stmt(self, text: str, schema: str, *, note: str | None = None,
             transactional: bool = True) -> Statement:
        """A statement, ended with a semicolon."""
        return Statement(text if text.endswith(";") else text + ";", schema, transactional, note)

    def drop_note(self, section: str, name: str, rule: str, what: str) -> str | None:
        """The comment above the drop of an object: a drop that the plan makes again is said
        so, with squawk's ban of such a drop switched off for it; a drop for good is a
        destructive change (``what`` says it), which squawk's ban leaves to the migration's
        allow-destructive marker."""
        if name in self.new.get(section, {}):
            return f"made again below\nsquawk-ignore {rule}"
        kind = SECTION_WORDS.get(section, section)
        self.destructive.append(DestructiveChange(kind, name, what))
        return None

    def is_new_table(self, table: str) -> bool:
        """Whether ``table`` is made by the plan."""
        return table not in self.old.get("tables", {})

    def existing_table(self, table: str) -> bool:
        """Whether ``table`` is there before and after (in use while the plan runs)."""
        return table in self.old.get("tables", {}) and table in self.new.get("tables", {})

    def names(self, section: str, change: str | None = None) -> list[str]:
        """The names changed in ``section``, sorted: all, or those of one ``change``."""
        return sorted(n for n, c in self.changed.get(section, {}).items()
                      if change is None or c == change)
