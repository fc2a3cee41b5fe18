"""What each object of a schema needs, read from the catalog: ``pg_depend`` (and ``pg_rewrite``
for views, whose rule holds what they read), named as :mod:`mig.engine.snapshot` names them.

:func:`read_dependencies` gives, for every object of the user's schemas, the objects it needs
(``(section, name)`` keys of the snapshot: ``("tables", "users")``, ``("columns",
"billing.invoices.total")``, ``("functions", "f(integer)")``), so that a generator creates what
is needed first and drops in the reverse order, whatever the objects are called. An object of
an extension stands for its extension; a view's rule, a column's default, a domain's check and a
table's row type stand for the view, the column, the domain and the table.

Sequences owned by a column (``serial``) and identity sequences are set apart: ownership is no
need (the column's default needs the sequence, not the other way round).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from psycopg2 import sql
from psycopg2.extensions import TRANSACTION_STATUS_IDLE, connection

from .connect import fetch_row

Key = tuple[str, str]

# The user's schemas: not the system ones, not those an extension created.
_SCHEMAS = """
SELECT n.oid, n.nspname FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass
                  AND e.objid = n.oid AND e.deptype = 'e')
"""

# Every object of one schema that a snapshot names, as (catalog, oid, sub-id, section, name),
# names read under the schema's own search path (as the snapshot reads them). Row types and
# array types are given as the relation or element type they stand for (section '=' and the
# catalog and oid it stands for as 'classid oid').
_OBJECTS = """
SELECT 'pg_class'::regclass::oid, c.oid, 0,
       CASE c.relkind WHEN 'v' THEN 'views' WHEN 'm' THEN 'views' WHEN 'S' THEN 'sequences'
                      WHEN 'i' THEN 'indexes' WHEN 'I' THEN 'indexes' WHEN 'c' THEN 'types'
                      ELSE 'tables' END,
       c.relname
FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r','p','f','v','m','S','i','I','c')
UNION ALL
SELECT 'pg_class'::regclass::oid, a.attrelid, a.attnum, 'columns', c.relname || '.' || a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'f') AND a.attnum > 0
  AND NOT a.attisdropped
UNION ALL
SELECT 'pg_attrdef'::regclass::oid, d.oid, 0, 'columns', c.relname || '.' || a.attname
FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
WHERE c.relnamespace = %(ns)s
UNION ALL
SELECT 'pg_type'::regclass::oid, t.oid, 0,
       CASE WHEN t.typrelid <> 0 THEN '=' WHEN t.typelem <> 0 AND t.typsubscript =
            'array_subscript_handler'::regproc THEN '=' ELSE 'types' END,
       CASE WHEN t.typrelid <> 0 THEN 'pg_class ' || t.typrelid
            WHEN t.typelem <> 0 AND t.typsubscript = 'array_subscript_handler'::regproc
            THEN 'pg_type ' || t.typelem ELSE t.typname END
FROM pg_type t WHERE t.typnamespace = %(ns)s
UNION ALL
SELECT 'pg_proc'::regclass::oid, p.oid, 0, 'functions',
       p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
FROM pg_proc p WHERE p.pronamespace = %(ns)s
UNION ALL
SELECT 'pg_constraint'::regclass::oid, k.oid, 0,
       CASE WHEN k.conrelid <> 0 THEN 'constraints' ELSE 'types' END,
       CASE WHEN k.conrelid <> 0 THEN c.relname || '.' || k.conname ELSE t.typname END
FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
LEFT JOIN pg_type t ON t.oid = k.contypid
WHERE k.connamespace = %(ns)s
UNION ALL
SELECT 'pg_trigger'::regclass::oid, g.oid, 0, 'triggers', c.relname || '.' || g.tgname
FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
WHERE c.relnamespace = %(ns)s AND NOT g.tgisinternal
UNION ALL
SELECT 'pg_policy'::regclass::oid, p.oid, 0, 'policies', c.relname || '.' || p.polname
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = %(ns)s
UNION ALL
SELECT 'pg_collation'::regclass::oid, o.oid, 0, 'collations', o.collname
FROM pg_collation o WHERE o.collnamespace = %(ns)s
UNION ALL
SELECT 'pg_rewrite'::regclass::oid, r.oid, 0, 'views', c.relname
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE c.relnamespace = %(ns)s
"""

_EXTENSION_MEMBERS = """
SELECT e.classid, e.objid, x.extname FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
WHERE e.refclassid = 'pg_extension'::regclass AND e.deptype = 'e'
"""

_EDGES = """
SELECT classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype FROM pg_depend
WHERE deptype IN ('n', 'a', 'i') AND classid <> 0 AND refclassid <> 0
"""


@dataclass(frozen=True)
class Dependencies:
    """What each object needs (``needs[key]``: the keys it needs), the sequences owned by a
    column (``owned[sequence key] = column key``) and the objects another one makes (``made``:
    an identity column's sequence, a range type's constructor functions), which a generated
    migration leaves to what makes them."""

    needs: dict[Key, frozenset[Key]] = field(default_factory=dict)
    owned: dict[Key, Key] = field(default_factory=dict)
    made: frozenset[Key] = frozenset()

    def of(self, key: Key) -> frozenset[Key]:
        """What ``key`` needs (nothing when it is unknown)."""
        return self.needs.get(key, frozenset())

    def dependents(self) -> dict[Key, set[Key]]:
        """The reverse: for each object, the objects that need it."""
        result: dict[Key, set[Key]] = {}
        for key, needed in self.needs.items():
            for other in needed:
                result.setdefault(other, set()).add(key)
        return result


def _qualified(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def read_dependencies(conn: connection, schemas: Iterable[str] | str | None = None
                      ) -> Dependencies:
    """The dependencies between the objects of ``schemas`` (default: every user schema) of the
    database ``conn`` is connected to; left in the transaction state it was found in."""
    wanted = [schemas] if isinstance(schemas, str) else None if schemas is None else list(schemas)
    was_idle = not conn.autocommit and conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
    names: dict[tuple[int, int, int], Key] = {}
    aliases: dict[tuple[int, int], tuple[str, int]] = {}
    catalogs: dict[str, int] = {}
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('search_path')")
        search_path = fetch_row(cur)[0]
        cur.execute("SELECT relname, oid::int FROM pg_class WHERE relname IN ('pg_class',"
                    " 'pg_type', 'pg_namespace', 'pg_extension')"
                    " AND relnamespace = 'pg_catalog'::regnamespace")
        catalogs = dict(cur.fetchall())
        cur.execute(_SCHEMAS)
        found = cur.fetchall()
        try:
            for ns, schema in found:
                path = sql.SQL("{}, pg_catalog").format(sql.Identifier(schema)).as_string(conn)
                cur.execute("SELECT set_config('search_path', %s, false)", (path,))
                names[(catalogs["pg_namespace"], ns, 0)] = ("schemas", schema)
                cur.execute(_OBJECTS, {"ns": ns})
                for classid, oid, sub, section, name in cur.fetchall():
                    if section == "=":
                        kind, target = name.split()
                        aliases[(classid, oid)] = (kind, int(target))
                    else:
                        names[(classid, oid, sub)] = (section, _qualified(schema, name))
        finally:
            cur.execute("SELECT set_config('search_path', %s, false)", (search_path,))
        cur.execute(_EXTENSION_MEMBERS)
        members = {(classid, objid): name for classid, objid, name in cur.fetchall()}
        cur.execute(_EDGES)
        edges = cur.fetchall()
    if was_idle:
        conn.rollback()
    in_scope = None if wanted is None else set(wanted)

    def key(classid: int, oid: int, sub: int) -> Key | None:
        if (classid, oid) in members:
            return ("extensions", members[classid, oid])
        if (classid, oid) in aliases:
            kind, target = aliases[classid, oid]
            return key(catalogs[kind], target, 0)
        if classid == catalogs.get("pg_extension"):
            return None
        return names.get((classid, oid, sub)) or (names.get((classid, oid, 0)) if sub else None)

    needs: dict[Key, set[Key]] = {}
    owned: dict[Key, Key] = {}
    made: set[Key] = set()
    for classid, objid, sub, refclassid, refobjid, refsub, deptype in edges:
        source, target = key(classid, objid, sub), key(refclassid, refobjid, refsub)
        if source is None or target is None or source == target:
            continue
        if source[0] == "sequences" and target[0] == "columns" and deptype == "a":
            owned[source] = target
            continue
        if deptype == "i":
            if source[0] != "views":  # a view's rule is the view itself
                made.add(source)
            continue
        needs.setdefault(source, set()).add(target)
    if in_scope is not None:
        needs = {k: v for k, v in needs.items() if _schema_of(k) in in_scope}
    return Dependencies({k: frozenset(v) for k, v in needs.items()}, owned, frozenset(made))


def _schema_of(key: Key) -> str:
    section, name = key
    if section in ("schemas", "extensions"):
        return name
    head = name.split("(", 1)[0]
    return head.split(".", 1)[0] if head.count(".") >= (2 if section in (
        "columns", "constraints", "triggers", "policies") else 1) else "public"
