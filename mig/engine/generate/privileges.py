"""What is attached to an object: its comment, the privileges granted on it (access control
lists read and compared), the default privileges, and the roles a plan names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from ..comparison import OWNER
from ..depends import Key
from ..snapshot import Snapshot
from .objects import view_kind
from .quoting import function_name, ident, literal, qname, split
from .state import PlannerState


def _acl(text: str | None) -> set[tuple[str, str, bool]]:
    """An ACL's (grantee, privilege letter, with grant option) triples; PUBLIC is ``""``."""
    result: set[tuple[str, str, bool]] = set()
    if not text:
        return result
    inner = text.strip("{}")
    for item in re.findall(r'((?:"(?:[^"]|"")*"|[^,=\s])*)=([a-zA-Z*]*)/', inner):
        grantee, privileges = item
        if grantee.startswith('"'):
            grantee = grantee[1:-1].replace('""', '"')
        letters = re.findall(r"([a-zA-Z])(\*?)", privileges)
        for letter, star in letters:
            result.add((grantee, letter, bool(star)))
    return result


_PRIVILEGES = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "D": "TRUNCATE",
               "x": "REFERENCES", "t": "TRIGGER", "X": "EXECUTE", "U": "USAGE", "C": "CREATE",
               "c": "CONNECT", "T": "TEMPORARY", "m": "MAINTAIN", "s": "SET",
               "A": "ALTER SYSTEM"}
# What PUBLIC may do with a new object of each kind of grant key, unasked.
_PUBLIC_DEFAULT = {"function": {("", "X", False)}, "type": {("", "U", False)}}
_DEFAULT_OBJECTS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES",
                    "n": "SCHEMAS"}
_DEFAULT_KIND = {"r": "table", "S": "sequence", "f": "function", "T": "type", "n": "schema"}


def roles(snapshot: Snapshot) -> set[str]:
    """The roles a schema's grants, policies and default privileges name (PUBLIC aside): they
    must exist wherever a migration that makes the schema runs."""
    found: set[str] = set()
    for section in ("grants", "default_privileges"):
        for key, text in snapshot.get(section, {}).items():
            found |= {grantee for grantee, _, _ in _acl(text)}
            if section == "default_privileges":
                found.add(key.partition(" in ")[0].rsplit(" ", 1)[0])
    for text in snapshot.get("policies", {}).values():
        to = re.match(r"\w+ for \w+ to (.*?)(?= using \(| with check \(|$)", text)
        if to:
            found |= set(to.group(1).split(", "))
    found.discard("")
    found.discard("public")
    return found


def _grantee(name: str) -> str:
    if name == OWNER:
        return "CURRENT_USER"
    return "PUBLIC" if name == "" else ident(name)


# What the owner of a new object of each kind may do with it, unasked (PostgreSQL 17 gave
# tables MAINTAIN).
_OWNER_DEFAULT = {"table": "arwdDxt", "sequence": "rwU", "function": "X", "type": "U",
                  "schema": "UC"}


def _owner_default(kind: str, version: int) -> set[tuple[str, str, bool]]:
    letters = _OWNER_DEFAULT.get(kind, "") + ("m" if kind == "table" and version >= 17 else "")
    return {(OWNER, letter, False) for letter in letters}


def _grant_statements(words: str, kind: str, was: set[tuple[str, str, bool]],
                      now: set[tuple[str, str, bool]], owner: str, old_owner: str, *,
                      keep_owner: bool = False) -> list[str]:
    """GRANT and REVOKE statements that take the ACL ``was`` to ``now``. ``words`` name the
    object (``TABLE public.users``; a column's ``public.users.email``; for default privileges
    ``TABLES``). The owner's own privileges are set aside, or, with ``keep_owner``, granted to
    and revoked from ``CURRENT_USER`` (the role the migration runs as owns what it makes)."""
    owners = {owner, old_owner, OWNER}
    if keep_owner:
        was = {(OWNER if g in owners else g, p, o) for g, p, o in was}
        now = {(OWNER if g in owners else g, p, o) for g, p, o in now}
    else:
        was = {item for item in was if item[0] not in owners}
        now = {item for item in now if item[0] not in owners}
    out = []
    on = words
    column = None
    if kind == "column":
        table, _, col = words.rpartition(".")
        on, column = f"TABLE {table}", col
    for grantee in sorted({g for g, _, _ in was | now}):
        gone = sorted({p for g, p, _ in was - now if g == grantee
                       and (g, p, False) not in now and (g, p, True) not in now})
        option_gone = sorted({p for g, p, o in was - now if g == grantee and o
                              and (g, p, False) in now})
        added = sorted({(p, o) for g, p, o in now - was if g == grantee})
        who = _grantee(grantee)

        def privileges(letters: Iterable[str]) -> str:
            names = [_PRIVILEGES[p] for p in letters]
            return ", ".join(f"{n} ({column})" if column else n for n in names)

        if gone:
            out.append(f"REVOKE {privileges(gone)} ON {on} FROM {who}")
        if option_gone:
            out.append(f"REVOKE GRANT OPTION FOR {privileges(option_gone)} ON {on} FROM {who}")
        plain = [p for p, o in added if not o]
        with_option = [p for p, o in added if o]
        if plain:
            out.append(f"GRANT {privileges(plain)} ON {on} TO {who}")
        if with_option:
            out.append(f"GRANT {privileges(with_option)} ON {on} TO {who} WITH GRANT OPTION")
    return out


class PrivilegePlanner(PlannerState):
    """What is attached to an object: comments, grants, and the default privileges."""

    # comments, grants -----------------------------------------------------------------------
    def object_of(self, kind: str, name: str) -> tuple[Key, str, str] | None:
        """The snapshot key, the SQL object words (``TABLE public.users``) and schema of a
        comment's or grant's key, or None when it no longer exists in ``after``... or before."""
        for side in (self.new, self.old):
            if kind == "relation":
                for section, word in (("tables", "TABLE"), ("views", None),
                                      ("indexes", "INDEX"), ("sequences", "SEQUENCE")):
                    text = side.get(section, {}).get(name)
                    if text is not None:
                        word = word or view_kind(text)
                        return (section, name), f"{word} {qname(name)}", split(name)[0]
            elif kind == "table":
                for section in ("tables", "views"):
                    if name in side.get(section, {}):
                        return (section, name), f"TABLE {qname(name)}", split(name)[0]
            elif kind == "column":
                table, col = self.tables.split(name)
                if name in side.get("columns", {}):
                    return (("columns", name), f"COLUMN {qname(table)}.{ident(col)}",
                            split(table)[0])
            elif kind == "function":
                if name in side.get("functions", {}):
                    return ("functions", name), f"ROUTINE {function_name(name)}", \
                        split(name)[0]
            elif kind == "sequence":
                if name in side.get("sequences", {}):
                    return ("sequences", name), f"SEQUENCE {qname(name)}", split(name)[0]
            elif kind == "type":
                text = side.get("types", {}).get(name)
                if text is not None:
                    word = "DOMAIN" if text.startswith("domain") else "TYPE"
                    return ("types", name), f"{word} {qname(name)}", split(name)[0]
            elif kind == "schema" and name in side.get("schemas", {}):
                return ("schemas", name), f"SCHEMA {ident(name)}", "public"
            elif kind in ("constraint", "trigger", "rule", "policy"):
                section = {"policy": "policies"}.get(kind, kind + "s")
                if name in side.get(section, {}):
                    table, child = self.tables.split(name)
                    return ((section, name), f"{kind.upper()} {ident(child)} ON {qname(table)}",
                            split(table)[0])
            elif kind == "collation" and name in side.get("collations", {}):
                return ("collations", name), f"COLLATION {qname(name)}", split(name)[0]
            elif kind == "statistics" and name in side.get("statistics", {}):
                return ("statistics", name), f"STATISTICS {qname(name)}", split(name)[0]
        return None

    def created(self, key: Key) -> bool:
        """Whether ``key`` is created by the plan (or made again)."""
        section, name = key
        if section == "columns":
            table = self.tables.split(name)[0]
            return name not in self.old.get("columns", {}) or self.created(("tables", table))
        return name not in self.old.get(section, {}) or self.remade(key)

    def remade(self, key: Key) -> bool:
        """Whether the plan drops ``key`` and creates it again (a changed view, index, ...)."""
        section, name = key
        return self.changed.get(section, {}).get(name) == "changed" and section in (
            "views", "indexes", "triggers", "policies", "constraints", "rules",
            "statistics") or (
            section == "functions" and name in self.replaced_functions)

    def attached(self, section: str, key: str, target: Key, was: str | None, now: str | None,
                 render: Callable[[str | None, str | None], list[str]], schema: str, *,
                 existed: bool | None = None) -> None:
        """A comment's or a grant's changes: set when its object is made (from what a new
        object has), put back on the way back when its object is dropped, changed from
        ``was`` to ``now`` when its object stays. ``render(a, b)`` gives the statements that
        take the object's ``a`` to ``b`` (None: what a new object has)."""
        section_of, name = target
        exists_before = name in self.old.get(section_of, {})
        exists_after = name in self.new.get(section_of, {})
        if section_of == "columns":
            table = self.tables.split(name)[0]
            exists_before = exists_before and table in self.old.get("tables", {})
            exists_after = exists_after and table in self.new.get("tables", {})
        if existed is not None:  # a renamed column: its old self
            exists_before = existed
        remade = self.remade(target)
        if exists_before and (not exists_after or remade) and was is not None:
            back = render(None, was)
            if back:
                self.add("drop", (section, key), [], [self.stmt(t, schema) for t in back],
                         rank=section)
                self.before_drop.append((self.units[-1], target))
        if exists_after and (not exists_before or remade or section_of == "columns" and
                             self.created(target)) and now is not None:
            made = render(None, now)
            if made:
                self.add("create", (section, key), [self.stmt(t, schema) for t in made], [],
                         rank=section)
                self.attach.append((self.units[-1], target))
        elif exists_before and exists_after and not remade and was != now:
            up, down = render(was, now), render(now, was)
            if up:
                self.add("create", (section, key), [self.stmt(t, schema) for t in up],
                         [self.stmt(t, schema) for t in down], rank=section)
                self.attach.append((self.units[-1], target))

    def renamed_key(self, kind: str, name: str, key: str) -> str:
        """The key a renamed column's comment or grant had before (else ``key``)."""
        if kind == "column":
            for old, new in self.rename_of.items():
                if new == name:
                    return f"column {old}"
        return key

    def comments(self) -> None:
        """The comments set, changed and removed."""
        keys = set(self.old.get("comments", {})) | set(self.new.get("comments", {}))
        for key in sorted(keys):
            kind, name = key.split(" ", 1)
            found = self.object_of(kind, name)
            if found is None:
                continue
            target, words, schema = found

            def render(a: str | None, b: str | None, words: str = words) -> list[str]:
                return [] if a == b else [
                    f"COMMENT ON {words} IS {literal(b) if b is not None else 'NULL'}"]

            if kind == "column" and name in self.rename_of:
                continue  # it moves with its column
            was_key = self.renamed_key(kind, name, key)
            self.attached("comments", key, target, self.get(self.old, "comments", was_key),
                          self.get(self.new, "comments", key), render, schema,
                          existed=True if was_key != key else None)

    def grants(self) -> None:
        """The privileges granted and revoked on each object."""
        keys = set(self.old.get("grants", {})) | set(self.new.get("grants", {}))
        for key in sorted(keys):
            kind, name = key.split(" ", 1)
            if kind in ("sequence", "function") and (kind + "s", name) in self.made:
                continue
            found = self.object_of(kind, name)
            if found is None:
                continue
            target, words, schema = found
            if kind == "column":
                words = words.removeprefix("COLUMN ")
            fresh = set() if kind == "column" else _PUBLIC_DEFAULT.get(kind, set()) | \
                _owner_default(kind, self.after_owned.version or self.before_owned.version)

            def render(a: str | None, b: str | None, words: str = words, kind: str = kind,
                       fresh: set = fresh) -> list[str]:
                return _grant_statements(words, kind, fresh if a is None else _acl(a),
                                         fresh if b is None else _acl(b),
                                         self.after_owned.owner, self.before_owned.owner,
                                         keep_owner=True)

            if kind == "column" and name in self.rename_of:
                continue  # it moves with its column
            was_key = self.renamed_key(kind, name, key)
            self.attached("grants", key, target, self.get(self.old, "grants", was_key),
                          self.get(self.new, "grants", key), render, schema,
                          existed=True if was_key != key else None)

    def default_privileges(self) -> None:
        """The default privileges granted and revoked."""
        for key in self.names("default_privileges"):
            head, _, in_schema = key.partition(" in ")
            role, objtype = head.rsplit(" ", 1)
            if objtype not in _DEFAULT_OBJECTS:
                continue
            kind = _DEFAULT_KIND[objtype]
            # a schema's default privileges add to the database's, from nothing
            base = set() if in_schema else _PUBLIC_DEFAULT.get(kind, set())
            old_text = self.get(self.old, "default_privileges",
                                key.replace(OWNER, self.before_owned.owner))
            new_text = self.get(self.new, "default_privileges",
                                key.replace(OWNER, self.after_owned.owner))
            was = _acl(old_text) if old_text is not None else base
            now = _acl(new_text) if new_text is not None else base
            prefix = "ALTER DEFAULT PRIVILEGES" + (
                "" if role == OWNER else f" FOR ROLE {ident(role)}") + (
                f" IN SCHEMA {ident(in_schema)}" if in_schema else "")
            words = f"{_DEFAULT_OBJECTS[objtype]}"
            up = [f"{prefix} {s}" for s in _grant_statements(
                words, kind, was, now, self.after_owned.owner, self.before_owned.owner)]
            down = [f"{prefix} {s}" for s in _grant_statements(
                words, kind, now, was, self.after_owned.owner, self.before_owned.owner)]
            if up:
                self.add("create", ("default_privileges", key),
                         [self.stmt(s, "public") for s in up],
                         [self.stmt(s, "public") for s in down])
