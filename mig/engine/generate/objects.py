"""Views, functions, triggers, rules, extended statistics and policies rendered."""

from __future__ import annotations

import re

from ...reports import DestructiveChange
from .definitions import INHERITED
from .quoting import balanced, function_name, ident, qname
from .state import PlannerState


def view_kind(text: str) -> str:
    """The SQL word of a view's kind: ``VIEW`` or ``MATERIALIZED VIEW``."""
    return "MATERIALIZED VIEW" if text.startswith("materialized ") else "VIEW"


def _view(name: str, text: str) -> str:
    kind = view_kind(text)
    body = text.removeprefix("materialized ")
    options = ""
    found = re.match(r"with \(([^)]*)\) ", body)
    if found:
        options = f" WITH ({found.group(1)})"
        body = body[found.end():]
    body = body.strip().removesuffix(";")
    return f"CREATE {kind} {qname(name)}{options} AS\n{body}"


def function_head(text: str) -> str:
    """A function's definition up to its body: what CREATE OR REPLACE cannot change."""
    return re.split(r"\n(?:AS |BEGIN ATOMIC)", text, maxsplit=1)[0].split("\n LANGUAGE")[0]


def _trigger(table: str, name: str, text: str) -> list[str]:
    states = {" (disabled)": "DISABLE", " (replica)": "ENABLE REPLICA",
              " (always)": "ENABLE ALWAYS"}
    for suffix, word in states.items():
        if text.endswith(suffix):
            return [text.removesuffix(suffix),
                    f"ALTER TABLE {qname(table)} {word} TRIGGER {ident(name)}"]
    return [text]


def _rule(table: str, name: str, text: str) -> list[str]:
    states = {" (disabled)": "DISABLE", " (replica)": "ENABLE REPLICA",
              " (always)": "ENABLE ALWAYS"}
    for suffix, word in states.items():
        if text.endswith(suffix):
            return [text.removesuffix(suffix).removesuffix(";"),
                    f"ALTER TABLE {qname(table)} {word} RULE {ident(name)}"]
    return [text.removesuffix(";")]


def _policy(table: str, name: str, text: str) -> str:
    found = re.match(r"(permissive|restrictive) for (\w+) to (.*?)(?= using \(| with check \(|$)",
                     text)
    assert found is not None, text
    mode, command, roles = found.groups()
    rest = text[found.end():]
    using = check = None
    if rest.startswith(" using ("):
        end = balanced(rest, len(" using "))
        using = rest[len(" using "):end]
        rest = rest[end:]
    if rest.startswith(" with check ("):
        end = balanced(rest, len(" with check "))
        check = rest[len(" with check "):end]
    who = ", ".join("PUBLIC" if r == "public" else ident(r) for r in roles.split(", "))
    out = (f"CREATE POLICY {ident(name)} ON {qname(table)} AS {mode.upper()} "
           f"FOR {command.upper()} TO {who}")
    if using:
        out += f" USING {using}"
    if check:
        out += f" WITH CHECK {check}"
    return out


class ObjectPlanner(PlannerState):
    """The views, functions, triggers, rules, statistics and policies."""

    # views ----------------------------------------------------------------------------------
    def views(self) -> None:
        """The views made, dropped and changed."""
        for name in self.changed.get("views", {}):
            schema = self.schema_of("views", name)
            was = self.get(self.old, "views", name)
            now = self.get(self.new, "views", name)
            if was is not None:
                if view_kind(was) == "MATERIALIZED VIEW" and now is not None:
                    self.destructive.append(DestructiveChange(
                        "view", name, "drops the materialized view to make it again (its rows"
                        " are computed again)"))
                note = self.drop_note("views", name, "ban-drop-view",
                                      "drops the view: what reads it fails")
                self.add("drop", ("views", name),
                         [self.stmt(f"DROP {view_kind(was)} {qname(name)}", schema,
                                    note=note)],
                         [self.stmt(_view(name, was), schema)])
            if now is not None:
                self.add("create", ("views", name), [self.stmt(_view(name, now), schema)],
                         [self.stmt(f"DROP {view_kind(now)} {qname(name)}", schema)])

    # functions ------------------------------------------------------------------------------
    def functions(self) -> None:
        """The functions and procedures made, dropped and replaced."""
        for name, change in self.changed.get("functions", {}).items():
            if ("functions", name) in self.made:
                continue  # a range type's constructors: the type makes them
            schema = self.schema_of("functions", name)
            was = self.get(self.old, "functions", name)
            now = self.get(self.new, "functions", name)
            for text in (was, now):
                if text is not None and not text.startswith("CREATE"):
                    self.problems.append(
                        f"{text.split(' ', 1)[0]} {name}: the generator does not write "
                        f"CREATE {text.split(' ', 1)[0].upper()} yet")
            if any(t is not None and not t.startswith("CREATE") for t in (was, now)):
                continue
            if change == "changed" and was is not None and now is not None \
                    and function_head(was) == function_head(now):
                self.add("alter", ("functions", name), [self.stmt(now, schema)],
                         [self.stmt(was, schema)])
                continue
            if change == "changed":
                self.replaced_functions.add(name)
            kind = "PROCEDURE" if (was or now or "").startswith(
                "CREATE OR REPLACE PROCEDURE") else "FUNCTION"
            if was is not None:
                note = self.drop_note("functions", name, "ban-drop-function",
                                      f"drops the {kind.lower()}: what calls it fails")
                self.add("drop", ("functions", name),
                         [self.stmt(f"DROP {kind} {function_name(name)}", schema, note=note)],
                         [self.stmt(was, schema)])
            if now is not None:
                self.add("create", ("functions", name), [self.stmt(now, schema)],
                         [self.stmt(f"DROP {kind} {function_name(name)}", schema)])

    # triggers, policies ---------------------------------------------------------------------
    def triggers(self) -> None:
        """The triggers made, dropped and changed."""
        for key in self.changed.get("triggers", {}):
            table, name = self.tables.split(key)
            schema = self.schema_of("tables", table)
            was = self.get(self.old, "triggers", key)
            now = self.get(self.new, "triggers", key)
            if was is not None and INHERITED.search(was):
                was = None  # made by the parent's trigger
            if now is not None and INHERITED.search(now):
                now = None
            drop = f"DROP TRIGGER {ident(name)} ON {qname(table)}"
            if was is not None:
                kept = table in self.new.get("tables", {}) or table in self.new.get("views", {})
                self.add("drop", ("triggers", key), [self.stmt(drop, schema)] if kept else [],
                         [self.stmt(s, schema) for s in _trigger(table, name, was)])
            if now is not None:
                self.add("create", ("triggers", key),
                         [self.stmt(s, schema) for s in _trigger(table, name, now)],
                         [self.stmt(drop, schema)])

    def rules(self) -> None:
        """The rules made, dropped and changed."""
        for key in self.changed.get("rules", {}):
            table, name = self.tables.split(key)
            schema = self.schema_of("tables", table)
            was = self.get(self.old, "rules", key)
            now = self.get(self.new, "rules", key)
            drop = f"DROP RULE {ident(name)} ON {qname(table)}"
            if was is not None:
                kept = table in self.new.get("tables", {}) or table in self.new.get("views", {})
                self.add("drop", ("rules", key), [self.stmt(drop, schema)] if kept else [],
                         [self.stmt(s, schema) for s in _rule(table, name, was)],
                         rank="triggers")
            if now is not None:
                self.add("create", ("rules", key),
                         [self.stmt(s, schema) for s in _rule(table, name, now)],
                         [self.stmt(drop, schema)], rank="triggers")

    def statistics(self) -> None:
        """The extended statistics made, dropped and changed."""
        for name in self.changed.get("statistics", {}):
            schema = self.schema_of("statistics", name)
            was = self.get(self.old, "statistics", name)
            now = self.get(self.new, "statistics", name)
            drop = f"DROP STATISTICS {qname(name)}"
            if was is not None:
                self.add("drop", ("statistics", name), [self.stmt(drop, schema)],
                         [self.stmt(was, schema)], rank="indexes")
            if now is not None:
                self.add("create", ("statistics", name), [self.stmt(now, schema)],
                         [self.stmt(drop, schema)], rank="indexes")

    def policies(self) -> None:
        """The row-level security policies made, dropped and changed."""
        for key in self.changed.get("policies", {}):
            table, name = self.tables.split(key)
            schema = self.schema_of("tables", table)
            was = self.get(self.old, "policies", key)
            now = self.get(self.new, "policies", key)
            drop = f"DROP POLICY {ident(name)} ON {qname(table)}"
            if was is not None:
                kept = table in self.new.get("tables", {})
                self.add("drop", ("policies", key), [self.stmt(drop, schema)] if kept else [],
                         [self.stmt(_policy(table, name, was), schema)])
            if now is not None:
                self.add("create", ("policies", key),
                         [self.stmt(_policy(table, name, now), schema)],
                         [self.stmt(drop, schema)])
