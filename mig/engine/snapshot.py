"""A schema's shape read from the PostgreSQL catalogs.

:func:`snapshot` describes every object of one schema (tables, columns, constraints, indexes,
triggers, functions, sequences, types, views, policies, comments and grants) plus the database's
schemas and extensions, as ``{section: {object name: definition}}``: plain strings, sorted, with
no OIDs, so that two snapshots of the same schema are equal whichever database they come from.
Migration tracking tables (yoyo's and mig's) and everything that belongs to them are left out.
:mod:`mig.engine.comparison` compares two snapshots. Nothing here reads migration files.

Definitions come from the server's own ``pg_get_*def`` functions, read with the search path set
to the schema alone, so that names in the schema are shown unqualified whatever the caller's
search path was. Works on PostgreSQL 13 and newer.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from psycopg2 import sql
from psycopg2.extensions import TRANSACTION_STATUS_IDLE, connection, cursor

from .connect import fetch_row

Snapshot = dict[str, dict[str, str]]

#: Tables that record migrations rather than belong to the product's schema: yoyo's and mig's,
#: and those other tools leave behind in a database mig adopts (sequelize-cli, Flyway, Alembic,
#: pop with popx's renamed old table, diesel, golang-migrate and dbmate).
TRACKING_TABLES = ("_yoyo_*", "yoyo_lock", "_mig_*", "SequelizeMeta", "SequelizeData",
                   "flyway_schema_history", "alembic_version", "schema_migration",
                   "schema_migration_pop_legacy", "__diesel_schema_migrations",
                   "schema_migrations")

#: Sections in the order a comparison reports them, with the word each line starts with.
SECTIONS = {
    "schemas": "schema",
    "extensions": "extension",
    "types": "type",
    "sequences": "sequence",
    "tables": "table",
    "columns": "column",
    "constraints": "constraint",
    "indexes": "index",
    "views": "view",
    "functions": "function",
    "triggers": "trigger",
    "policies": "policy",
    "comments": "comment",
    "grants": "grant",
    "default_privileges": "default privileges",
}

# Words that set a relation apart from a plain table or view.
_RELKIND_WORDS = {"p": "partitioned", "f": "foreign", "m": "materialized"}

# Relations of the schema that are not members of an extension, with the table that owns them
# (an index's table, a sequence's owning table) so that tracking tables' objects can be dropped,
# and an index's or a view's definition (read in the same query: one round trip for them all).
# An INVALID index (an interrupted CREATE INDEX CONCURRENTLY) is not the index its migration
# builds: queries do not use it.
_RELATIONS = """
SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
       c.reloptions, c.relacl::text[], pg_get_userbyid(c.relowner),
       COALESCE(owner_table.relname, c.relname),
       CASE WHEN c.relkind IN ('i', 'I')
            THEN pg_get_indexdef(c.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' -- INVALID' END
            WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END
FROM pg_class c
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND c.relkind = 'S'
LEFT JOIN pg_class owner_table ON owner_table.oid = COALESCE(i.indrelid, d.refobjid)
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                  AND e.objid = c.oid AND e.deptype = 'e')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END, a.attacl::text[],
       col_description(a.attrelid, a.attnum)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.relnamespace = %(ns)s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# NOT NULL constraints (contype 'n', PostgreSQL 18+) are left out: columns carry nullability.
_CONSTRAINTS = """
SELECT conrelid, conname, pg_get_constraintdef(oid, true)
FROM pg_constraint WHERE connamespace = %(ns)s AND conrelid <> 0 AND contype <> 'n'
"""

_TRIGGERS = """
SELECT t.tgrelid, t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = %(ns)s AND NOT t.tgisinternal
"""

_FUNCTIONS = """
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.prokind,
       CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END,
       p.proacl::text[], pg_get_userbyid(p.proowner), obj_description(p.oid, 'pg_proc')
FROM pg_proc p
WHERE p.pronamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
                  AND e.objid = p.oid AND e.deptype = 'e')
"""

_SEQUENCES = """
SELECT s.seqrelid, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = %(ns)s
"""

# Enums, domains, ranges and free-standing composite types; not arrays or tables' row types.
_TYPES = """
SELECT t.typname, t.typtype, t.typacl::text[], pg_get_userbyid(t.typowner),
       CASE t.typtype
         WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', '
                                          ORDER BY e.enumsortorder)
                        FROM pg_enum e WHERE e.enumtypid = t.oid)
         WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
             || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
             || COALESCE(' default ' || t.typdefault, '')
             || COALESCE((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid, true), ' '
                                                   ORDER BY k.conname)
                          FROM pg_constraint k WHERE k.contypid = t.oid), '')
         WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r
                        WHERE r.rngtypid = t.oid)
         WHEN 'c' THEN (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod),
                                          ', ' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                          AND NOT a.attisdropped)
       END
FROM pg_type t
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typnamespace = %(ns)s AND t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typtype <> 'c' OR c.relkind = 'c')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass
                  AND e.objid = t.oid AND e.deptype = 'e')
"""

_POLICIES = """
SELECT p.polrelid, p.polname, p.polcmd, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
             FROM unnest(p.polroles) r ORDER BY 1),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = %(ns)s
"""

_SCHEMAS = """
SELECT n.nspname, n.nspacl::text[], pg_get_userbyid(n.nspowner) FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
"""

_EXTENSIONS = """
SELECT e.extname, e.extversion, n.nspname FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
"""

_DEFAULT_ACL = """
SELECT pg_get_userbyid(d.defaclrole), d.defaclobjtype, d.defaclacl::text[] FROM pg_default_acl d
WHERE d.defaclnamespace IN (0, %(ns)s)
"""

# What each kind of object's privileges are when nobody granted or revoked anything.
_ACLDEFAULT = "SELECT acldefault(%s, (SELECT oid FROM pg_roles WHERE rolname = %s))::text[]"


def is_tracking_table(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``name`` is a migration tracking table (or matches one of the ``extra`` patterns)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in (*TRACKING_TABLES, *extra))


def snapshot(conn: connection, schema: str = "public", *, ignore: Iterable[str] = ()) -> Snapshot:
    """Describe ``schema`` from the catalogs of the database ``conn`` is connected to.

    :param conn: a psycopg2 connection; left in the transaction state it was found in.
    :param schema: the schema to describe. The database's schema list and extensions are
        included too, so that a migration creating either is noticed.
    :param ignore: more table-name patterns (``fnmatch`` style) to leave out, besides
        :data:`TRACKING_TABLES`; for example a non-default yoyo ``migration_table``.
    :returns: ``{section: {name: definition}}`` with the sections of :data:`SECTIONS`.
    """
    was_idle = not conn.autocommit and conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('search_path')")
        search_path = fetch_row(cur)[0]
        path = sql.SQL("{}, pg_catalog").format(sql.Identifier(schema)).as_string(conn)
        cur.execute("SELECT set_config('search_path', %s, false)", (path,))
        try:
            result = _Reader(cur, schema, tuple(ignore)).read()
        finally:
            cur.execute("SELECT set_config('search_path', %s, false)", (search_path,))
    if was_idle:
        conn.rollback()
    return result


class _Reader:
    def __init__(self, cur: cursor, schema: str, ignore: tuple[str, ...]) -> None:
        self.cur = cur
        self.schema = schema
        self.ignore = ignore
        self.out: Snapshot = {section: {} for section in SECTIONS}
        self._defaults: dict[tuple[str, str], list[str]] = {}

    def rows(self, query: str, **params: object) -> list[tuple]:
        self.cur.execute(query, {"ns": self.ns, **params})
        return self.cur.fetchall()

    def acl(self, kind: str, owner: str, acl: list[str] | None) -> str:
        """An ACL as sorted text; no ACL at all reads as the default one it stands for."""
        if acl is None:
            if (kind, owner) not in self._defaults:
                self.cur.execute(_ACLDEFAULT, (kind, owner))
                self._defaults[kind, owner] = fetch_row(self.cur)[0] or []
            acl = self._defaults[kind, owner]
        return "{" + ", ".join(sorted(acl)) + "}"

    def read(self) -> Snapshot:
        self.cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", (self.schema,))
        found = self.cur.fetchone()
        self.ns = found[0] if found else 0
        self.read_database()
        if found:
            self.read_relations()
            self.read_columns()
            self.read_constraints_and_triggers()
            self.read_functions_and_types()
        return {section: dict(sorted(entries.items())) for section, entries in self.out.items()}

    def read_database(self) -> None:
        for name, acl, owner in self.rows(_SCHEMAS):
            self.out["schemas"][name] = "schema"
            self.out["grants"][f"schema {name}"] = self.acl("n", owner, acl)
        for name, version, schema in self.rows(_EXTENSIONS):
            self.out["extensions"][name] = f"version {version} in schema {schema}"
        for role, objtype, acl in self.rows(_DEFAULT_ACL):
            self.out["default_privileges"][f"{role} {objtype}"] = self.acl(objtype, role, acl)

    def read_relations(self) -> None:
        self.names: dict[int, str] = {}
        for row in self.rows(_RELATIONS):
            oid, name, kind, persistence, rls, force_rls, options, acl, owner, table, text = row
            if is_tracking_table(table, self.ignore):
                continue
            self.names[oid] = name
            if kind in ("i", "I"):
                self.out["indexes"][name] = text
                continue
            if kind == "S":
                self.out["grants"][f"sequence {name}"] = self.acl("s", owner, acl)
                continue
            words = [_RELKIND_WORDS[kind]] if kind in _RELKIND_WORDS else []
            if persistence == "u":
                words.insert(0, "unlogged")
            if rls:
                words.append("row level security" + (" forced" if force_rls else ""))
            if options:
                words.append("with (" + ", ".join(sorted(options)) + ")")
            if kind in ("v", "m"):
                self.out["views"][name] = " ".join([*words, text.strip()])
            else:
                self.out["tables"][name] = " ".join(words)
            self.out["grants"][f"table {name}"] = self.acl("r", owner, acl)
        for oid, typ, start, inc, low, high, cache, cycle in self.rows(_SEQUENCES):
            if oid in self.names:
                self.out["sequences"][self.names[oid]] = (
                    f"{typ} start {start} increment {inc} min {low} max {high} cache {cache}"
                    + (" cycle" if cycle else "")
                )

    def read_columns(self) -> None:
        order: dict[str, list[str]] = {}
        for row in self.rows(_COLUMNS):
            rel, name, typ, notnull, default, identity, generated, collation, acl, comment = row
            table = self.names.get(rel)
            if table not in self.out["tables"]:
                continue  # views show their columns in their definition; indexes have none
            order.setdefault(table, []).append(name)
            words = [typ]
            if collation:
                words.append(f'collate "{collation}"')
            if notnull:
                words.append("not null")
            if generated == "s":
                words.append(f"generated always as ({default}) stored")
            elif default is not None:
                words.append(f"default {default}")
            if identity:
                words.append(
                    "generated " + ("always" if identity == "a" else "by default") + " as identity"
                )
            key = f"{table}.{name}"
            self.out["columns"][key] = " ".join(words)
            if acl is not None:
                self.out["grants"][f"column {key}"] = "{" + ", ".join(sorted(acl)) + "}"
            if comment is not None:
                self.out["comments"][f"column {key}"] = comment
        # Column order is part of a table's shape (SELECT * depends on it).
        for table, columns in order.items():
            qualifiers = self.out["tables"][table]
            self.out["tables"][table] = (
                "(" + ", ".join(columns) + ")" + (" " + qualifiers if qualifiers else "")
            )
        self.cur.execute(
            "SELECT objoid, description FROM pg_description WHERE classoid = 'pg_class'::regclass"
            " AND objsubid = 0 AND objoid = ANY(%s)",
            (list(self.names),),
        )
        for oid, comment in self.cur.fetchall():
            self.out["comments"][f"relation {self.names[oid]}"] = comment

    def read_constraints_and_triggers(self) -> None:
        for rel, name, definition in self.rows(_CONSTRAINTS):
            if rel in self.names:
                self.out["constraints"][f"{self.names[rel]}.{name}"] = definition
        for rel, name, definition, enabled in self.rows(_TRIGGERS):
            if rel in self.names:
                state = {"O": "", "D": " (disabled)", "R": " (replica)", "A": " (always)"}
                self.out["triggers"][f"{self.names[rel]}.{name}"] = definition + state[enabled]
        for rel, name, cmd, permissive, roles, using, check in self.rows(_POLICIES):
            if rel in self.names:
                commands = {"r": "select", "a": "insert", "w": "update", "d": "delete", "*": "all"}
                text = (
                    f"{'permissive' if permissive else 'restrictive'} for {commands[cmd]}"
                    f" to {', '.join(roles)}"
                )
                text += f" using ({using})" if using else ""
                text += f" with check ({check})" if check else ""
                self.out["policies"][f"{self.names[rel]}.{name}"] = text

    def read_functions_and_types(self) -> None:
        kinds = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
        for signature, kind, definition, acl, owner, comment in self.rows(_FUNCTIONS):
            self.out["functions"][signature] = (definition or kinds[kind]).strip()
            self.out["grants"][f"function {signature}"] = self.acl("f", owner, acl)
            if comment is not None:
                self.out["comments"][f"function {signature}"] = comment
        kinds = {"e": "enum", "d": "domain", "r": "range", "c": "composite"}
        for name, kind, acl, owner, definition in self.rows(_TYPES):
            self.out["types"][name] = f"{kinds[kind]} ({definition or ''})"
            self.out["grants"][f"type {name}"] = self.acl("T", owner, acl)


# Kinds of objects the snapshot does not describe (or not fully): their presence in the live
# schema makes a verified baseline impossible. Extension members are the extension's business.
_UNREADABLE = """
WITH ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 'rule', r.rulename || ' on ' || c.relname, c.relname FROM pg_rewrite r
  JOIN pg_class c ON c.oid = r.ev_class
  WHERE c.relnamespace = %(ns)s AND r.rulename <> '_RETURN'
UNION ALL
SELECT 'statistics object', s.stxname, c.relname FROM pg_statistic_ext s
  JOIN pg_class c ON c.oid = s.stxrelid WHERE s.stxnamespace = %(ns)s
UNION ALL
SELECT CASE WHEN c.relispartition THEN 'partition' ELSE 'inheritance' END,
       c.relname || ' of ' || p.relname, p.relname FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
  WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'foreign table', c.relname, NULL FROM pg_class c
  WHERE c.relnamespace = %(ns)s AND c.relkind = 'f'
    AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'aggregate', p.proname, NULL FROM pg_proc p
  WHERE p.pronamespace = %(ns)s AND p.prokind = 'a'
    AND (p.tableoid, p.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'operator', o.oprname, NULL FROM pg_operator o WHERE o.oprnamespace = %(ns)s
    AND (o.tableoid, o.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'operator family', f.opfname, NULL FROM pg_opfamily f WHERE f.opfnamespace = %(ns)s
    AND (f.tableoid, f.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'collation', c.collname, NULL FROM pg_collation c WHERE c.collnamespace = %(ns)s
    AND (c.tableoid, c.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'text search configuration', t.cfgname, NULL FROM pg_ts_config t
  WHERE t.cfgnamespace = %(ns)s AND (t.tableoid, t.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'conversion', v.conname, NULL FROM pg_conversion v WHERE v.connamespace = %(ns)s
    AND (v.tableoid, v.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'event trigger', e.evtname, NULL FROM pg_event_trigger e
    WHERE (e.tableoid, e.oid) NOT IN (SELECT classid, objid FROM ext)
ORDER BY 1, 2
"""


def uncompared_objects(conn: connection, schema: str = "public", *,
                       ignore: tuple[str, ...] = ()) -> list[str]:
    """Objects of ``schema`` (and event triggers) that the snapshot cannot compare, as
    ``"<kind> <name>"``; empty when the whole schema can be compared. Those of tracking tables
    (and of tables matching ``ignore``) are left out, as the snapshot leaves them out."""
    with conn.cursor() as cur:
        cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", (schema,))
        found = cur.fetchone()
        cur.execute(_UNREADABLE, {"ns": found[0] if found else 0})
        return [f"{kind} {name}" for kind, name, table in cur.fetchall()
                if table is None or not is_tracking_table(table, ignore)]
