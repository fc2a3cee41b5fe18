"""Constraints and indexes rendered, in their safe forms on a table in use."""

from __future__ import annotations

import re

from ..depends import Key
from .definitions import INHERITED, Table
from .model import AFTER, Statement
from .quoting import ident, qname, qualified, split
from .safe import add_constraint_guarded, concurrently, not_valid_again
from .state import PlannerState

_SAFE_UNDER_LOAD = ("CHECK", "FOREIGN KEY")


def _constraint_rank(text: str) -> str:
    return "foreign_keys" if text.startswith("FOREIGN KEY") else "constraints"


_INDEX_TABLE = re.compile(r" ON (?:ONLY )?(\S+) USING ")


def index_table(text: str) -> str | None:
    """The snapshot name of the table an index definition is on."""
    found = _INDEX_TABLE.search(text)
    if found is None:
        return None
    name = found.group(1)
    parts = [p[1:-1].replace('""', '"') if p.startswith('"') else p
             for p in re.findall(r'"(?:[^"]|"")*"|[^.]+', name)]
    if len(parts) == 2 and parts[0] == "public":
        return parts[1]
    return ".".join(parts)


class ConstraintPlanner(PlannerState):
    """The constraints and the indexes."""

    def owner_changed_indexes(self) -> None:
        """An index of the same name and definition on both sides, owned by a constraint on
        one side only (a UNIQUE constraint turned into a plain unique index, or back), is
        changed: the constraint's drop takes its index with it, so the plain one is made
        after it (and dropped before the constraint is added)."""
        old, new = self.old.get("indexes", {}), self.new.get("indexes", {})
        for name in sorted(old.keys() & new.keys()):
            if self.constraint_index(self.old, name, old[name]) != \
                    self.constraint_index(self.new, name, new[name]):
                self.changed.setdefault("indexes", {}).setdefault(name, "changed")

    def constraint_covers(self, table: str, name: str, text: str) -> list[Key]:
        """The index a PRIMARY KEY, UNIQUE or EXCLUDE constraint owns, which it makes and
        drops: ordered against a plain index of the same name."""
        if text.startswith(("PRIMARY KEY", "UNIQUE", "EXCLUDE")):
            return [("indexes", qualified(self.schema_of("tables", table), name))]
        return []

    # constraints ----------------------------------------------------------------------------
    def constraint_sql(self, key: str, text: str) -> tuple[str, str, str, str]:
        """A constraint's table, name, schema, and definition without its inheritance note."""
        table, name = self.tables.split(key)
        return table, name, self.schema_of("tables", table), INHERITED.sub("", text)

    def constraints(self) -> None:
        """The constraints added, dropped and changed."""
        for key, change in self.changed.get("constraints", {}).items():
            was = self.get(self.old, "constraints", key)
            now = self.get(self.new, "constraints", key)
            if was is not None and INHERITED.search(was) or now is not None and \
                    INHERITED.search(now):
                continue  # made by the parent's constraint
            if change in ("missing", "changed"):
                assert was is not None
                table, name, schema, text = self.constraint_sql(key, was)
                drop = self.stmt(f"ALTER TABLE {qname(table)} DROP CONSTRAINT "
                                 f"{ident(name)}", schema)
                add = self.stmt(f"ALTER TABLE {qname(table)} ADD CONSTRAINT {ident(name)} "
                                f"{text}", schema)
                # one of a table dropped goes with it (a foreign key first: the table it
                # references may go before it), and comes back after it
                kept = table in self.new.get("tables", {}) or text.startswith("FOREIGN KEY")
                if table in self.new.get("tables", {}):
                    note = self.drop_note("constraints", key, "ban-drop-constraint",
                                          "drops the constraint: a guarantee others may rely on")
                    drop = Statement(drop.sql, drop.schema, note=note)
                elif kept:  # a foreign key of a table dropped: the table's drop says it
                    drop = Statement(drop.sql, drop.schema, note="squawk-ignore "
                                     "ban-drop-constraint")
                self.add("drop", ("constraints", key), [drop] if kept else [], [add],
                         rank=_constraint_rank(text),
                         covers=self.constraint_covers(table, name, text))
            if change in ("extra", "changed"):
                assert now is not None
                self.add_constraint(key, now)

    def add_constraint(self, key: str, definition: str) -> None:
        """A constraint added, in its safe form on a table in use where it has one."""
        table, name, schema, text = self.constraint_sql(key, definition)
        q = qname(table)
        drop = self.stmt(f"ALTER TABLE {q} DROP CONSTRAINT {ident(name)}", schema)
        rank = _constraint_rank(text)
        if self.safe and self.existing_table(table) and text.startswith(_SAFE_UNDER_LOAD) \
                and not text.endswith(" NOT VALID"):
            self.add("create", ("constraints", key),
                     [self.stmt(f"ALTER TABLE {q} ADD CONSTRAINT {ident(name)} {text} NOT VALID",
                                schema)], [drop], rank=rank)
            self.add("alter", ("validate", key),
                     [self.stmt(f"ALTER TABLE {q} VALIDATE CONSTRAINT {ident(name)}", schema,
                                note="squawk-ignore prefer-robust-stmts", transactional=False)],
                     [self.stmt(not_valid_again(table, name, text),
                                schema, transactional=False)],
                     rank="foreign_keys", phase=AFTER)
            self.units[-1].extra_needs = {len(self.units) - 2}
            return
        index = self.new.get("indexes", {}).get(qualified(schema, name))
        unique = re.match(r"(PRIMARY KEY|UNIQUE)(?: NULLS NOT DISTINCT)? \([^)]*\)"
                          r"(?: INCLUDE \([^)]*\))?(.*)$", text)
        if self.safe and self.existing_table(table) and unique and index is not None \
                and table not in self.changed_partitioned():
            # its index built CONCURRENTLY, then the constraint made of it
            self.add("create", ("indexes", qualified(schema, name)),
                     [self.stmt(concurrently(index), schema, transactional=False)],
                     [self.stmt(f"DROP INDEX CONCURRENTLY IF EXISTS "
                                f"{qname(qualified(schema, name))}", schema,
                                transactional=False)],
                     phase=AFTER, plain=([self.stmt(index, schema)], []))
            self.add("create", ("constraints", key),
                     [self.stmt(add_constraint_guarded(
                         table, name, f"{unique.group(1)} USING INDEX {ident(name)}"
                         f"{unique.group(2)}"), schema, transactional=False)],
                     [self.stmt(f"ALTER TABLE {q} DROP CONSTRAINT IF EXISTS {ident(name)}",
                                schema, transactional=False)],
                     rank="foreign_keys", phase=AFTER)
            self.units[-1].extra_needs = {len(self.units) - 2}
            return
        if self.existing_table(table) and text.startswith(("PRIMARY KEY", "UNIQUE")):
            self.warnings.append(
                f"constraint {key}: adding it builds its index under a lock that blocks writes "
                f"to {table}; on a large table build a unique index CONCURRENTLY first and add "
                "the constraint USING INDEX")
        self.add("create", ("constraints", key),
                 [self.stmt(f"ALTER TABLE {q} ADD CONSTRAINT {ident(name)} {text}", schema)],
                 [drop], rank=rank, covers=self.constraint_covers(table, name, text))

    def changed_partitioned(self) -> set[str]:
        """Partitioned tables (an index of theirs cannot be built CONCURRENTLY)."""
        return {name for name, text in self.new.get("tables", {}).items()
                if Table.parse(text).partition_key}

    # indexes --------------------------------------------------------------------------------
    def constraint_index(self, side: dict, name: str, text: str) -> bool:
        """Whether index ``name`` on ``side`` is the one of a primary key, unique or exclusion
        constraint (made and dropped with it)."""
        table = index_table(text)
        key = f"{table}.{split(name)[1]}" if table else None
        found = side.get("constraints", {}).get(key or "")
        return found is not None and found.startswith(("PRIMARY KEY", "UNIQUE", "EXCLUDE"))

    def indexes(self) -> None:
        """The indexes made, dropped and changed, built concurrently on a table in use."""
        for name in self.changed.get("indexes", {}):
            was = self.get(self.old, "indexes", name)
            now = self.get(self.new, "indexes", name)
            schema = self.schema_of("indexes", name)
            if was is not None and (INHERITED.search(was) or
                                    self.constraint_index(self.old, name, was)):
                was = None
            if now is not None and (INHERITED.search(now) or
                                    self.constraint_index(self.new, name, now)):
                now = None
            if now is not None and now.endswith(" -- INVALID"):
                self.warnings.append(f"index {name} is INVALID in the database (an interrupted"
                                     " CREATE INDEX CONCURRENTLY): it is left out")
                now = None
            if was is not None and was.endswith(" -- INVALID"):
                was = None
            # a partitioned table's index (ON ONLY as the catalog writes it) is made on its
            # partitions too, whose own are listed as inherited from it and left to it
            partitioned = " ON ONLY " in (was or "") + (now or "")
            was = was.replace(" ON ONLY ", " ON ", 1) if was is not None else None
            now = now.replace(" ON ONLY ", " ON ", 1) if now is not None else None
            if was is not None:
                table = index_table(was)
                if table not in self.new.get("tables", {}) and \
                        table not in self.new.get("views", {}):
                    self.add("drop", ("indexes", name), [], [self.stmt(was, schema)])
                else:
                    concurrent = self.safe and not partitioned
                    plain = ([self.stmt(f"DROP INDEX {qname(name)}", schema)],
                             [self.stmt(was, schema)])
                    if concurrent:
                        self.add("drop", ("indexes", name),
                                 [self.stmt(f"DROP INDEX CONCURRENTLY IF EXISTS {qname(name)}",
                                            schema, transactional=False)],
                                 [self.stmt(concurrently(was), schema, transactional=False)],
                                 phase=AFTER, plain=plain)
                    else:
                        self.add("drop", ("indexes", name), *plain)
            if now is not None:
                table = index_table(now)
                drop = [self.stmt(f"DROP INDEX {qname(name)}", schema)]
                if self.safe and table is not None and self.existing_table(table) and \
                        not partitioned:
                    self.add("create", ("indexes", name),
                             [self.stmt(concurrently(now), schema, transactional=False)],
                             [self.stmt(f"DROP INDEX CONCURRENTLY IF EXISTS {qname(name)}",
                                        schema, transactional=False)],
                             phase=AFTER, plain=([self.stmt(now, schema)], drop))
                else:
                    # an index of a table the plan makes goes with it on the way back
                    self.add("create", ("indexes", name), [self.stmt(now, schema)],
                             [] if table is not None and self.is_new_table(table) else drop)
