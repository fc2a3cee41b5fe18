"""The plan made: every kind's changes rendered, objects made again with what they need, and
the units put in dependency order."""

from __future__ import annotations

from collections.abc import Iterable

from ...ordering import Cycle, stable_order
from ..comparison import OwnedSchema, differences
from ..depends import Dependencies, Key
from ..snapshot import SECTIONS as SECTION_WORDS
from .constraints import ConstraintPlanner, index_table
from .definitions import Column
from .model import AFTER, CHILD_SECTIONS, MAIN, CannotGenerate, Plan, Rename, Statement, Unit
from .objects import ObjectPlanner, function_head
from .privileges import PrivilegePlanner
from .tables import TablePlanner

# The snapshot's sections the generator writes.
_HANDLED = frozenset({"schemas", "extensions", "collations", "types", "sequences", "tables",
                      "columns", "constraints", "indexes", "statistics", "views", "functions",
                      "triggers", "rules", "policies", "comments", "grants",
                      "default_privileges"})
# Objects a changed definition is written for by dropping and making them again.
_REMADE = ("views", "indexes", "constraints", "triggers", "rules", "policies", "statistics",
           "functions")


def plan(before: OwnedSchema, after: OwnedSchema, before_deps: Dependencies,
         after_deps: Dependencies, *, renames: Iterable[Rename] = (), safe: bool = True) -> Plan:
    """The statements that take ``before`` to ``after`` and back.

    :param before_deps: the dependencies of ``before``'s objects (drops are ordered by them).
    :param after_deps: the dependencies of ``after``'s objects (creations are ordered by them).
    :param renames: columns renamed (a column dropped and one added are never guessed to be
        one renamed).
    :param safe: render changes to tables of ``before`` in their forms safe under load
        (``CREATE INDEX CONCURRENTLY``, constraints ``NOT VALID`` then validated,
        ``SET NOT NULL`` through a validated check); ``False``: plain statements in one
        transaction (for a schema built from nothing, as a squash does).
    :raises CannotGenerate: a change the generator cannot render.
    """
    return _Planner(before, after, before_deps, after_deps, tuple(renames), safe=safe).run()


def _phased(statement: Statement, phase: int) -> Statement:
    return Statement(statement.sql, statement.schema,
                     statement.transactional and phase == MAIN, statement.note, phase)


def _section_of(kind: str) -> str:
    from ..snapshot import SECTIONS
    for section, word in SECTIONS.items():
        if word == kind:
            return section
    return kind


class _Planner(PrivilegePlanner, ObjectPlanner, ConstraintPlanner, TablePlanner):
    """The plan of two snapshots: every kind's changes, ordered."""

    # the run --------------------------------------------------------------------------------
    def run(self) -> Plan:
        """The plan: every kind of change rendered, then put in order."""
        found = differences(self.before_owned, self.after_owned)
        changed: dict[str, dict[str, str]] = {}
        for d in found:
            section = _section_of(d.kind)
            changed.setdefault(section, {})[d.name] = d.change
        self.changed = changed
        self.owner_changed_indexes()
        unknown = sorted(set(changed) - _HANDLED)
        if unknown:
            raise CannotGenerate([f"{SECTION_WORDS.get(u, u)} {name}: the generator does not "
                                  "write this kind of object yet"
                                  for u in unknown for name in sorted(changed[u])])
        self.remake_dependents()
        self.renamed_columns()
        self.schemas_and_extensions()
        self.collations()
        self.types()
        self.sequences()
        self.tables_and_columns()
        self.constraints()
        self.indexes()
        self.views()
        self.functions()
        self.triggers()
        self.rules()
        self.statistics()
        self.policies()
        self.comments()
        self.grants()
        self.default_privileges()
        if self.problems:
            raise CannotGenerate(self.problems)
        self.enum_values_first()
        ordered = self.order()
        up: list[Statement] = []
        down: list[Statement] = []
        for unit in ordered:
            up += [_phased(s, unit.phase) for s in unit.up]
        for unit in reversed(ordered):
            down += [_phased(s, unit.phase) for s in unit.down]
        # the rollback runs the phases' rollbacks in reverse: AFTER's first
        down.sort(key=lambda s: -s.phase)
        return Plan(tuple(up), tuple(down), tuple(self.destructive),
                    tuple(dict.fromkeys(self.warnings)), tuple(sorted(self.reordered)))

    def remake_dependents(self) -> None:
        """What depends on an object the plan drops and makes again (a changed view, index,
        function whose signature's result changed), on a column whose type changes, or on an
        enum made again, is dropped before it and made again after it, though it did not
        change itself: a view reading a view, an index whose predicate names the enum."""
        dependents = self.old_deps.dependents()
        seeds: list[Key] = []
        for section, names in self.changed.items():
            for name, change in names.items():
                if change != "changed":
                    continue
                if section == "functions":
                    was, now = self.old["functions"][name], self.new["functions"][name]
                    if function_head(was) != function_head(now):
                        seeds.append((section, name))
                elif section in _REMADE:
                    seeds.append((section, name))
                elif section == "columns":
                    was, now = self.old["columns"][name], self.new["columns"][name]
                    if Column.parse(was).type != Column.parse(now).type:
                        seeds.append((section, name))
                elif section == "types":
                    seeds.append((section, name))
        seen = set(seeds)
        while seeds:
            key = seeds.pop()
            for user in sorted(dependents.get(key, ())):
                section, name = user
                if user in seen or section not in _REMADE or section == "functions":
                    continue
                if name not in self.old.get(section, {}) or name not in self.new.get(section, {}):
                    continue
                seen.add(user)
                self.changed.setdefault(section, {})[name] = "changed"
                self.forced.add(user)
                seeds.append(user)

    # order ----------------------------------------------------------------------------------
    def order(self) -> list[Unit]:
        """The units in dependency order, by the dependencies of both snapshots; a circle is a
        :class:`CannotGenerate`."""
        units = self.units
        makers: dict[Key, list[int]] = {}
        droppers: dict[Key, list[int]] = {}
        for index, unit in enumerate(units):
            for key in unit.covers:
                (droppers if unit.action == "drop" else makers).setdefault(key, []).append(index)
        for unit, target in self.attach:
            unit.extra_needs |= set(makers.get(target, []))
        index_of = {id(unit): index for index, unit in enumerate(units)}
        for unit, target in self.before_drop:
            for other in droppers.get(target, []):
                units[other].extra_needs.add(index_of[id(unit)])
        for unit, targets in self.owned_needs:
            for target in targets:
                unit.extra_needs |= set(makers.get(target, []))
                if target[0] == "columns":
                    table = self.tables.split(target[1])[0]
                    unit.extra_needs |= set(makers.get(("tables", table), []))
        dependents = self.old_deps.dependents()

        def child_table(key: Key) -> Key | None:
            if key[0] in CHILD_SECTIONS:
                return ("tables", self.tables.split(key[1])[0])
            return None

        needs: dict[int, set[int]] = {}
        for index, unit in enumerate(units):
            wanted = set(unit.extra_needs)
            if unit.action != "drop":
                for key in unit.covers:
                    for needed in self.new_deps.of(key):
                        wanted |= set(makers.get(needed, []))
                        parent = child_table(needed)
                        if parent is not None:
                            wanted |= set(makers.get(parent, []))
                    wanted |= set(droppers.get(key, []))
                    parent = child_table(key)
                    if parent is not None:
                        wanted |= set(makers.get(parent, []))
                    if key[0] == "indexes":
                        on = index_table(self.new.get("indexes", {}).get(key[1], ""))
                        if on:
                            wanted |= set(makers.get(("tables", on), []))
                            wanted |= set(makers.get(("views", on), []))
                # what used the old shape of what it changes goes first
                if unit.action == "alter":
                    for key in unit.covers:
                        for user in dependents.get(key, ()):
                            wanted |= set(droppers.get(user, []))
            else:
                for key in unit.covers:
                    for user in dependents.get(key, ()):
                        wanted |= set(droppers.get(user, []))
                        # a user that stays is altered away from it first (a column whose
                        # type changes from the type dropped); the rollback, run backwards,
                        # makes it again before the user goes back to it
                        wanted |= {i for i in makers.get(user, []) if units[i].action == "alter"}
                    # a child (constraint, trigger) goes before its table is dropped
                    for other, other_unit in enumerate(units):
                        if other_unit.action == "drop" and any(
                                child_table(k) == key for k in other_unit.covers):
                            wanted.add(other)
            wanted.discard(index)
            needs[index] = wanted
        # what the transactional body needs cannot wait for the migration after it
        moved = True
        while moved:
            moved = False
            for index, unit in enumerate(units):
                if unit.phase != AFTER:
                    for other in needs[index]:
                        if units[other].phase == AFTER and units[other].plain is not None:
                            plain = units[other].plain
                            assert plain is not None
                            dropped = units[other].action == "drop"
                            what = (f"index {units[other].key[1]}: "
                                    + ("dropped" if dropped else "built")
                                    + " in the transaction, under a lock that blocks writes "
                                    "(what the migration does next needs it "
                                    + ("gone)" if dropped else "there)"))
                            rule = ("require-concurrent-index-deletion" if dropped
                                    else "require-concurrent-index-creation")
                            units[other].up = [Statement(st.sql, st.schema,
                                                         note=f"{what}\nsquawk-ignore {rule}")
                                               for st in plain[0]]
                            units[other].down = plain[1]
                            units[other].phase = MAIN
                            units[other].plain = None
                            self.warnings.append(what)
                            moved = True
        given = sorted(range(len(units)), key=lambda i: (
            0 if units[i].action == "drop" else 1,
            -units[i].rank if units[i].action == "drop" else units[i].rank, i))
        try:
            ordered = stable_order(given, key=lambda i: i, needs=lambda i: needs[i])
        except Cycle as exc:
            raise CannotGenerate([
                "these objects need each other, in a cycle the generator cannot break: "
                + " -> ".join(f"{units[i].key[0]} {units[i].key[1]}" for i in exc.items)
            ]) from None
        return [units[i] for i in ordered]
