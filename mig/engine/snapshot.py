"""A database's schemas' shape read from the PostgreSQL catalogs.

:func:`snapshot` describes every object of the database's schemas (by default every schema
but the system's and those an extension owns; a list narrows it): tables (partitioned tables
with their partition key, partitions with their bounds, inheritance, replica identity),
columns, constraints, indexes, statistics objects, triggers, rules, functions, sequences,
types, views, policies, comments and grants, plus the database's schemas, extensions and
default privileges, as ``{section: {object name: definition}}``: plain strings, sorted, with no
OIDs, so that two snapshots of the same schema are equal whichever database they come from.
Migration tracking tables (yoyo's, mig's and other tools', in any schema) and everything that
belongs to them are left out. :mod:`mig.engine.comparison` compares two snapshots. Nothing
here reads migration files.

Names: an object of ``public`` keeps its bare name (``users``, ``users.email``,
``users.users_pkey``, ``f(integer)``); an object of any other schema is qualified by it
(``billing.invoices``, ``billing.invoices.total``, ``billing.f(integer)``), and so are the keys
of its grants and comments (``table billing.invoices``). Identifiers are written raw.

Definitions come from the server's own ``pg_get_*def`` functions, read with the search path set
to the object's own schema, then ``pg_catalog``, so that names in that schema are shown
unqualified (and every other name qualified) whatever the caller's search path was. An index,
constraint or trigger a partition (or a child table) inherits is listed under it too, its
definition ending in `` -- inherited from <parent's object>``. Works on PostgreSQL 13 and newer.
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
    "collations": "collation",
    "types": "type",
    "sequences": "sequence",
    "tables": "table",
    "columns": "column",
    "constraints": "constraint",
    "indexes": "index",
    "statistics": "statistics",
    "views": "view",
    "functions": "function",
    "triggers": "trigger",
    "rules": "rule",
    "policies": "policy",
    "comments": "comment",
    "grants": "grant",
    "default_privileges": "default privileges",
}

#: The schemas a snapshot never describes: the system's.
SYSTEM_SCHEMAS = ("pg_*", "information_schema")

# Words that set a relation apart from a plain table or view.
_RELKIND_WORDS = {"p": "partitioned", "f": "foreign", "m": "materialized"}

# The database's schemas: every one but the system's, each with whether an extension owns it.
_SCHEMAS = """
SELECT n.nspname, n.nspacl::text[], pg_get_userbyid(n.nspowner),
       EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass
               AND e.objid = n.oid AND e.deptype = 'e'),
       obj_description(n.oid, 'pg_namespace')
FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
ORDER BY 1
"""

# Relations of the schema that are not members of an extension, with the table that owns them
# (an index's table, a sequence's owning table) so that tracking tables' objects can be dropped,
# and an index's or a view's definition (read in the same query: one round trip for them all).
# An INVALID index (an interrupted CREATE INDEX CONCURRENTLY) is not the index its migration
# builds: queries do not use it. Names of other relations (a partition's parent, a serial
# sequence's table) are ``regclass`` text: qualified only outside the search path's schema.
_RELATIONS = """
SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,
       c.reloptions, c.relacl::text[], pg_get_userbyid(c.relowner),
       COALESCE(owner_table.relname, c.relname),
       CASE WHEN c.relkind IN ('i', 'I')
            THEN pg_get_indexdef(c.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' -- INVALID' END
            WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition
            THEN (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = c.oid)
                 || ' ' || pg_get_expr(c.relpartbound, c.oid) END,
       CASE WHEN NOT c.relispartition AND c.relkind IN ('r', 'p', 'f')
            THEN (SELECT string_agg(h.inhparent::regclass::text, ', ' ORDER BY h.inhseqno)
                  FROM pg_inherits h WHERE h.inhrelid = c.oid) END,
       c.relreplident,
       (SELECT quote_ident(x.relname) FROM pg_index r JOIN pg_class x ON x.oid = r.indexrelid
        WHERE r.indrelid = c.oid AND r.indisreplident),
       (SELECT quote_ident(x.relname) FROM pg_index r JOIN pg_class x ON x.oid = r.indexrelid
        WHERE r.indrelid = c.oid AND r.indisclustered),
       CASE WHEN c.relkind IN ('i', 'I')
            THEN (SELECT h.inhparent::regclass::text FROM pg_inherits h
                  WHERE h.inhrelid = c.oid) END,
       CASE WHEN c.relkind IN ('r', 'p', 'm') AND am.amname <> 'heap' THEN am.amname END,
       CASE WHEN c.reloftype <> 0 THEN c.reloftype::regtype::text END,
       (SELECT 'server ' || quote_ident(v.srvname) || COALESCE(' options ('
                || array_to_string(f.ftoptions, ', ') || ')', '')
        FROM pg_foreign_table f JOIN pg_foreign_server v ON v.oid = f.ftserver
        WHERE f.ftrelid = c.oid),
       d.deptype, d.refobjid,
       CASE WHEN d.deptype = 'a' THEN d.refobjid::regclass::text || '.'
            || quote_ident(owner_column.attname) END, d.refobjsubid
FROM pg_class c
LEFT JOIN pg_index i ON i.indexrelid = c.oid
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND c.relkind = 'S'
LEFT JOIN pg_attribute owner_column ON owner_column.attrelid = d.refobjid
     AND owner_column.attnum = d.refobjsubid
LEFT JOIN pg_class owner_table ON owner_table.oid = COALESCE(i.indrelid, d.refobjid)
WHERE c.relnamespace = %(ns)s AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                  AND e.objid = c.oid AND e.deptype = 'e')
"""

# A column's compression is PostgreSQL 14's; {compression} is the column or NULL.
_COLUMNS = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END, a.attacl::text[],
       col_description(a.attrelid, a.attnum),
       CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage END,
       NULLIF({compression}, ''), NULLIF(a.attstattarget, -1), a.attoptions, a.attfdwoptions
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.relnamespace = %(ns)s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# NOT NULL constraints (contype 'n', PostgreSQL 18+) are left out: columns carry nullability.
# A constraint a partition's (or child table's) parent gave it names the parent's.
_CONSTRAINTS = """
SELECT k.conrelid, k.conname, pg_get_constraintdef(k.oid, true),
       CASE WHEN k.conparentid <> 0
            THEN (SELECT p.conrelid::regclass::text || '.' || quote_ident(p.conname)
                  FROM pg_constraint p WHERE p.oid = k.conparentid)
            WHEN k.coninhcount > 0 AND NOT k.conislocal
            THEN (SELECT h.inhparent::regclass::text || '.' || quote_ident(k.conname)
                  FROM pg_inherits h JOIN pg_constraint p ON p.conrelid = h.inhparent
                       AND p.conname = k.conname
                  WHERE h.inhrelid = k.conrelid ORDER BY h.inhseqno LIMIT 1) END,
       obj_description(k.oid, 'pg_constraint')
FROM pg_constraint k WHERE k.connamespace = %(ns)s AND k.conrelid <> 0 AND k.contype <> 'n'
"""

# A trigger a partition was given by its parent's is internal before PostgreSQL 15 and not
# since: read either way (a foreign key's internal triggers have a constraint, and are not).
_TRIGGERS = """
SELECT t.tgrelid, t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled,
       (SELECT p.tgrelid::regclass::text || '.' || quote_ident(p.tgname) FROM pg_trigger p
        WHERE p.oid = t.tgparentid),
       obj_description(t.oid, 'pg_trigger')
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = %(ns)s
  AND (NOT t.tgisinternal OR (t.tgparentid <> 0 AND t.tgconstraint = 0))
"""

_RULES = """
SELECT r.ev_class, r.rulename, pg_get_ruledef(r.oid, true), r.ev_enabled,
       obj_description(r.oid, 'pg_rewrite')
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
WHERE c.relnamespace = %(ns)s AND r.rulename <> '_RETURN'
"""

_STATISTICS = """
SELECT s.stxrelid, s.stxname, pg_get_statisticsobjdef(s.oid),
       obj_description(s.oid, 'pg_statistic_ext')
FROM pg_statistic_ext s WHERE s.stxnamespace = %(ns)s
"""

_FUNCTIONS = """
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid)
            ELSE 'aggregate ' || pg_get_function_identity_arguments(p.oid)
                 || ' returns ' || format_type(p.prorettype, NULL) || ' ('
                 || concat_ws(', ',
                      CASE a.aggkind WHEN 'o' THEN 'ordered-set' WHEN 'h' THEN 'hypothetical'
                      END,
                      'sfunc = ' || a.aggtransfn::regproc::text,
                      'stype = ' || format_type(a.aggtranstype, NULL),
                      'sspace = ' || NULLIF(a.aggtransspace, 0),
                      'finalfunc = ' || NULLIF(a.aggfinalfn, 0)::regproc::text,
                      CASE WHEN a.aggfinalextra THEN 'finalfunc_extra' END,
                      'finalfunc_modify = ' || CASE a.aggfinalmodify WHEN 'r' THEN 'read_only'
                                                 WHEN 's' THEN 'shareable'
                                                 ELSE 'read_write' END,
                      'combinefunc = ' || NULLIF(a.aggcombinefn, 0)::regproc::text,
                      'serialfunc = ' || NULLIF(a.aggserialfn, 0)::regproc::text,
                      'deserialfunc = ' || NULLIF(a.aggdeserialfn, 0)::regproc::text,
                      'initcond = ' || quote_literal(a.agginitval),
                      'msfunc = ' || NULLIF(a.aggmtransfn, 0)::regproc::text,
                      'minvfunc = ' || NULLIF(a.aggminvtransfn, 0)::regproc::text,
                      'mstype = ' || format_type(NULLIF(a.aggmtranstype, 0), NULL),
                      'mfinalfunc = ' || NULLIF(a.aggmfinalfn, 0)::regproc::text,
                      'minitcond = ' || quote_literal(a.aggminitval),
                      'sortop = ' || NULLIF(a.aggsortop, 0)::regoperator::text,
                      'parallel = ' || CASE p.proparallel WHEN 's' THEN 'safe'
                                            WHEN 'r' THEN 'restricted' ELSE 'unsafe' END)
                 || ')' END,
       p.proacl::text[], pg_get_userbyid(p.proowner), obj_description(p.oid, 'pg_proc')
FROM pg_proc p
LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
WHERE p.pronamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
                  AND e.objid = p.oid AND e.deptype = 'e')
"""

_SEQUENCES = """
SELECT s.seqrelid, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle,
       CASE s.seqtypid WHEN 'int2'::regtype THEN 32767 WHEN 'int4'::regtype THEN 2147483647
                       ELSE 9223372036854775807 END
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
             || COALESCE((SELECT ' collate ' || quote_ident(co.collname) FROM pg_collation co
                          JOIN pg_type b ON b.oid = t.typbasetype
                          WHERE co.oid = t.typcollation AND t.typcollation <> b.typcollation),
                         '')
             || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
             || COALESCE(' default ' || t.typdefault, '')
             || COALESCE((SELECT ' ' || string_agg(pg_get_constraintdef(k.oid, true), ' '
                                                   ORDER BY k.conname)
                          FROM pg_constraint k WHERE k.contypid = t.oid), '')
         WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL)
                          || CASE WHEN r.rngcollation <> 0 AND r.rngcollation
                                       <> (SELECT s.typcollation FROM pg_type s
                                           WHERE s.oid = r.rngsubtype)
                                  THEN ' collate ' || (SELECT quote_ident(co.collname)
                                                       FROM pg_collation co
                                                       WHERE co.oid = r.rngcollation)
                                  ELSE '' END
                          || CASE WHEN NOT o.opcdefault THEN ' subtype_opclass '
                                  || quote_ident(o.opcname) ELSE '' END
                          || CASE WHEN r.rngcanonical <> 0 THEN ' canonical '
                                  || r.rngcanonical::regproc::text ELSE '' END
                          || CASE WHEN r.rngsubdiff <> 0 THEN ' subtype_diff '
                                  || r.rngsubdiff::regproc::text ELSE '' END
                        FROM pg_range r JOIN pg_opclass o ON o.oid = r.rngsubopc
                        WHERE r.rngtypid = t.oid)
         WHEN 'c' THEN (SELECT string_agg(
                          a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                          || COALESCE((SELECT ' collate ' || quote_ident(co.collname)
                                       FROM pg_collation co JOIN pg_type b ON b.oid = a.atttypid
                                       WHERE co.oid = a.attcollation
                                         AND a.attcollation <> b.typcollation), ''),
                          ', ' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                          AND NOT a.attisdropped)
       END,
       obj_description(t.oid, 'pg_type')
FROM pg_type t
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typnamespace = %(ns)s AND t.typtype IN ('e', 'd', 'r', 'c')
  AND (t.typtype <> 'c' OR c.relkind = 'c')
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass
                  AND e.objid = t.oid AND e.deptype = 'e')
"""

# A collation's columns moved between versions (an ICU locale: collcollate before 15,
# colliculocale in 15 and 16, colllocale since 17): read from the row as JSON.
_COLLATIONS = """
SELECT c.collname, c.collprovider, c.collisdeterministic, to_jsonb(c),
       obj_description(c.oid, 'pg_collation')
FROM pg_collation c
WHERE c.collnamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_collation'::regclass
                  AND e.objid = c.oid AND e.deptype = 'e')
"""

_POLICIES = """
SELECT p.polrelid, p.polname, p.polcmd, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END
             FROM unnest(p.polroles) r ORDER BY 1),
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
       obj_description(p.oid, 'pg_policy')
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = %(ns)s
"""

_EXTENSIONS = """
SELECT e.extname, e.extversion, n.nspname FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace
"""

# Default privileges for every schema (namespace 0), and for the described schemas.
_DEFAULT_ACL = """
SELECT pg_get_userbyid(d.defaclrole), d.defaclobjtype, d.defaclacl::text[], n.nspname
FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
WHERE d.defaclnamespace = 0 OR n.nspname = ANY(%(schemas)s::text[])
"""

# What each kind of object's privileges are when nobody granted or revoked anything.
_ACLDEFAULT = "SELECT acldefault(%s, (SELECT oid FROM pg_roles WHERE rolname = %s))::text[]"

_STORAGE = {"p": "plain", "e": "external", "m": "main", "x": "extended"}
_COMPRESSION = {"p": "pglz", "l": "lz4"}
_REPLICA_IDENTITY = {"f": "full", "n": "nothing"}


def is_tracking_table(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``name`` is a migration tracking table (or matches one of the ``extra`` patterns)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in (*TRACKING_TABLES, *extra))


def is_system_schema(name: str) -> bool:
    """Whether ``name`` is one of the system's schemas (``pg_*``, ``information_schema``)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SYSTEM_SCHEMAS)


def user_schemas(conn: connection) -> list[str]:
    """The schemas a snapshot describes by default: every schema of the database but the
    system's and those an extension owns, sorted."""
    with conn.cursor() as cur:
        cur.execute(_SCHEMAS)
        return [row[0] for row in cur.fetchall() if not row[3]]


def schema_list(schemas: str | Iterable[str] | None) -> list[str] | None:
    """``schemas`` as a list (a single name as a list of one); None stays None (every one)."""
    if schemas is None:
        return None
    if isinstance(schemas, str):
        return [schemas]
    return list(schemas)


def qualified(schema: str, name: str) -> str:
    """``name`` as the snapshot keys an object of ``schema``: bare in ``public``, else
    ``schema.name``."""
    return name if schema == "public" else f"{schema}.{name}"


def snapshot(conn: connection, schemas: str | Iterable[str] | None = None, *,
             ignore: Iterable[str] = ()) -> Snapshot:
    """Describe the schemas of the database ``conn`` is connected to, from its catalogs.

    :param conn: a psycopg2 connection; left in the transaction state it was found in, with
        its search path as it was.
    :param schemas: the schemas to describe (a name, or several); None: every schema but the
        system's and those an extension owns. The database's schema list, extensions and
        default privileges for every schema are included too, so that a migration creating
        one is noticed.
    :param ignore: more table-name patterns (``fnmatch`` style) to leave out, besides
        :data:`TRACKING_TABLES`; for example a non-default yoyo ``migration_table``.
    :returns: ``{section: {name: definition}}`` with the sections of :data:`SECTIONS`.
    """
    was_idle = not conn.autocommit and conn.get_transaction_status() == TRANSACTION_STATUS_IDLE
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('search_path')")
        search_path = fetch_row(cur)[0]
        try:
            result = _Reader(conn, cur, tuple(ignore)).read(schema_list(schemas))
        finally:
            cur.execute("SELECT set_config('search_path', %s, false)", (search_path,))
    if was_idle:
        conn.rollback()
    return result


class _Reader:
    def __init__(self, conn: connection, cur: cursor, ignore: tuple[str, ...]) -> None:
        self.conn = conn
        self.cur = cur
        self.ignore = ignore
        self.ns = 0
        self.prefix = ""
        self.out: Snapshot = {section: {} for section in SECTIONS}
        self._defaults: dict[tuple[str, str], list[str]] = {}
        # Every relation read so far (of every schema), by OID: its key.
        self.names: dict[int, str] = {}
        # Identity columns' sequences: (table OID, column number) -> its options.
        self.identity: dict[tuple[int, int], str] = {}

    def rows(self, query: str, **params: object) -> list[tuple]:
        self.cur.execute(query, {"ns": self.ns, **params})
        return self.cur.fetchall()

    def key(self, name: str) -> str:
        """``name`` as this schema's objects are keyed."""
        return self.prefix + name

    def acl(self, kind: str, owner: str, acl: list[str] | None) -> str:
        """An ACL as sorted text; no ACL at all reads as the default one it stands for."""
        if acl is None:
            if (kind, owner) not in self._defaults:
                self.cur.execute(_ACLDEFAULT, (kind, owner))
                self._defaults[kind, owner] = fetch_row(self.cur)[0] or []
            acl = self._defaults[kind, owner]
        return "{" + ", ".join(sorted(acl)) + "}"

    def read(self, wanted: list[str] | None) -> Snapshot:
        self.cur.execute(_SCHEMAS)
        found = self.cur.fetchall()
        self.cur.execute("SELECT nspname, oid FROM pg_namespace")
        oids = dict(self.cur.fetchall())
        if wanted is None:
            wanted = [name for name, _, _, extension_owned, _ in found if not extension_owned]
        for name, acl, owner, extension_owned, comment in found:
            if extension_owned:
                continue
            self.out["schemas"][name] = "schema"
            self.out["grants"][f"schema {name}"] = self.acl("n", owner, acl)
            if comment is not None:
                self.out["comments"][f"schema {name}"] = comment
        self.read_database(wanted)
        for schema in wanted:
            if schema not in oids:
                continue
            self.ns = oids[schema]
            self.prefix = "" if schema == "public" else f"{schema}."
            path = sql.SQL("{}, pg_catalog").format(sql.Identifier(schema)).as_string(self.conn)
            self.cur.execute("SELECT set_config('search_path', %s, false)", (path,))
            self.read_relations()
            self.read_columns()
            self.read_constraints_and_triggers()
            self.read_functions_and_types()
        return {section: dict(sorted(entries.items())) for section, entries in self.out.items()}

    def read_database(self, wanted: list[str]) -> None:
        for name, version, schema in self.rows(_EXTENSIONS):
            self.out["extensions"][name] = f"version {version} in schema {schema}"
        for role, objtype, acl, schema in self.rows(_DEFAULT_ACL, schemas=wanted):
            key = f"{role} {objtype}" + (f" in {schema}" if schema is not None else "")
            self.out["default_privileges"][key] = self.acl(objtype, role, acl)

    def read_relations(self) -> None:
        # Each sequence owned by a column: how (identity, serial), the column, its table.
        sequences: dict[int, tuple[str, str, tuple[int, int]]] = {}
        for row in self.rows(_RELATIONS):
            (oid, name, kind, persistence, rls, force_rls, options, acl, owner, table, text,
             partition_key, partition_of, inherits, replica, replica_index, clustered,
             parent_index, method, typed, foreign, dependency, owner_oid, owned_by,
             owner_column) = row
            if is_tracking_table(table, self.ignore):
                continue
            key = self.key(name)
            self.names[oid] = key
            if kind in ("i", "I"):
                self.out["indexes"][key] = text + (
                    f" -- inherited from {parent_index}" if parent_index else "")
                continue
            if kind == "S":
                self.out["grants"][f"sequence {key}"] = self.acl("s", owner, acl)
                if dependency is not None:
                    sequences[oid] = (dependency, owned_by, (owner_oid, owner_column))
                continue
            words = [_RELKIND_WORDS[kind]] if kind in _RELKIND_WORDS else []
            if partition_key:
                words = [f"partitioned by {partition_key}"]
            if persistence == "u":
                words.insert(0, "unlogged")
            if method:
                words.append(f"using {method}")
            if typed:
                words.append(f"of {typed}")
            if foreign:
                words.append(foreign)
            if partition_of:
                words.append(f"partition of {partition_of}")
            if inherits:
                words.append(f"inherits ({inherits})")
            if rls:
                words.append("row level security" + (" forced" if force_rls else ""))
            if options:
                words.append("with (" + ", ".join(sorted(options)) + ")")
            if kind not in ("r", "p"):
                pass  # a view's or a foreign table's replica identity means nothing
            elif replica in _REPLICA_IDENTITY:
                words.append(f"replica identity {_REPLICA_IDENTITY[replica]}")
            elif replica == "i" and replica_index:
                words.append(f"replica identity index {replica_index}")
            if clustered:
                words.append(f"clustered on {clustered}")
            if kind in ("v", "m"):
                self.out["views"][key] = " ".join([*words, text.strip()])
            else:
                self.out["tables"][key] = " ".join(words)
            self.out["grants"][f"table {key}"] = self.acl("r", owner, acl)
        for oid, typ, start, inc, low, high, cache, cycle, typmax in self.rows(_SEQUENCES):
            if oid not in self.names:
                continue
            dependency, owned_by, column = sequences.get(oid, ("", "", (0, 0)))
            if dependency == "i":
                # An identity column's sequence: its column says what differs from the default.
                self.identity[column] = _identity_options(start, inc, low, high, cache,
                                                          cycle=cycle, typmax=typmax)
                continue
            self.out["sequences"][self.names[oid]] = (
                f"{typ} start {start} increment {inc} min {low} max {high} cache {cache}"
                + (" cycle" if cycle else "")
                + (f" owned by {owned_by}" if dependency == "a" and owned_by else "")
            )

    def read_columns(self) -> None:
        order: dict[str, list[str]] = {}
        compression = "a.attcompression" if self.conn.server_version >= 140000 else "NULL"
        for row in self.rows(_COLUMNS.replace("{compression}", compression)):
            (rel, number, name, typ, notnull, default, identity, generated, collation, acl,
             comment, storage, compressed, statistics, options, fdw_options) = row
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
            elif generated == "v":
                words.append(f"generated always as ({default}) virtual")
            elif default is not None:
                words.append(f"default {default}")
            if identity:
                words.append(
                    "generated " + ("always" if identity == "a" else "by default") + " as identity"
                    + self.identity.get((rel, number), ""))
            if storage:
                words.append(f"storage {_STORAGE.get(storage, storage)}")
            if compressed:
                words.append(f"compression {_COMPRESSION.get(compressed, compressed)}")
            if statistics is not None:
                words.append(f"statistics {statistics}")
            if fdw_options:
                words.append("options (" + ", ".join(fdw_options) + ")")
            if options:
                words.append("with (" + ", ".join(sorted(options)) + ")")
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
            "SELECT c.oid, d.description FROM pg_description d JOIN pg_class c"
            " ON c.oid = d.objoid WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0"
            " AND c.relnamespace = %s AND d.objoid = ANY(%s)",
            (self.ns, list(self.names)),
        )
        for oid, comment in self.cur.fetchall():
            self.out["comments"][f"relation {self.names[oid]}"] = comment

    def read_constraints_and_triggers(self) -> None:
        for rel, name, definition, parent, comment in self.rows(_CONSTRAINTS):
            if rel in self.names:
                key = f"{self.names[rel]}.{name}"
                self.out["constraints"][key] = definition + (
                    f" -- inherited from {parent}" if parent else "")
                if comment is not None:
                    self.out["comments"][f"constraint {key}"] = comment
        state = {"O": "", "D": " (disabled)", "R": " (replica)", "A": " (always)"}
        for rel, name, definition, enabled, parent, comment in self.rows(_TRIGGERS):
            if rel in self.names:
                key = f"{self.names[rel]}.{name}"
                self.out["triggers"][key] = definition + state[enabled] + (
                    f" -- inherited from {parent}" if parent else "")
                if comment is not None:
                    self.out["comments"][f"trigger {key}"] = comment
        for rel, name, definition, enabled, comment in self.rows(_RULES):
            if rel in self.names:
                key = f"{self.names[rel]}.{name}"
                self.out["rules"][key] = definition + state[enabled]
                if comment is not None:
                    self.out["comments"][f"rule {key}"] = comment
        for rel, name, definition, comment in self.rows(_STATISTICS):
            if rel in self.names:
                key = self.key(name)
                self.out["statistics"][key] = definition
                if comment is not None:
                    self.out["comments"][f"statistics {key}"] = comment
        commands = {"r": "select", "a": "insert", "w": "update", "d": "delete", "*": "all"}
        for rel, name, cmd, permissive, roles, using, check, comment in self.rows(_POLICIES):
            if rel in self.names:
                text = (
                    f"{'permissive' if permissive else 'restrictive'} for {commands[cmd]}"
                    f" to {', '.join(roles)}"
                )
                text += f" using ({using})" if using else ""
                text += f" with check ({check})" if check else ""
                key = f"{self.names[rel]}.{name}"
                self.out["policies"][key] = text
                if comment is not None:
                    self.out["comments"][f"policy {key}"] = comment

    def read_functions_and_types(self) -> None:
        for signature, definition, acl, owner, comment in self.rows(_FUNCTIONS):
            key = self.key(signature)
            self.out["functions"][key] = definition.strip()
            self.out["grants"][f"function {key}"] = self.acl("f", owner, acl)
            if comment is not None:
                self.out["comments"][f"function {key}"] = comment
        providers = {"c": "libc", "i": "icu", "b": "builtin", "d": "default"}
        for name, provider, deterministic, row, comment in self.rows(_COLLATIONS):
            key = self.key(name)
            self.out["collations"][key] = _collation(providers.get(provider, provider),
                                                     row, deterministic=deterministic)
            if comment is not None:
                self.out["comments"][f"collation {key}"] = comment
        kinds = {"e": "enum", "d": "domain", "r": "range", "c": "composite"}
        for name, kind, acl, owner, definition, comment in self.rows(_TYPES):
            key = self.key(name)
            self.out["types"][key] = f"{kinds[kind]} ({definition or ''})"
            self.out["grants"][f"type {key}"] = self.acl("T", owner, acl)
            if comment is not None:
                self.out["comments"][f"type {key}"] = comment


def _collation(provider: str, row: dict, *, deterministic: bool) -> str:
    """A collation as ``CREATE COLLATION`` gives it (``provider icu locale 'de-u-ks-level2'
    nondeterministic``): the same text whichever version's catalog ``row`` comes from."""
    words = [f"provider {provider}"]
    if provider == "libc":
        words.append(f"lc_collate {_literal(row.get('collcollate'))}"
                     f" lc_ctype {_literal(row.get('collctype'))}")
    locale = row.get("colllocale") or row.get("colliculocale")
    if provider == "icu" and locale is None:
        locale = row.get("collcollate")  # before PostgreSQL 15, an ICU locale was lc_collate
    if locale is not None:
        words.append(f"locale {_literal(locale)}")
    if row.get("collicurules"):
        words.append(f"rules {_literal(row['collicurules'])}")
    if not deterministic:
        words.append("nondeterministic")
    return " ".join(words)


def _literal(text: str | None) -> str:
    """``text`` as an SQL string literal (``NULL`` for None)."""
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _identity_options(start: int, inc: int, low: int, high: int, cache: int, *, cycle: bool,
                      typmax: int) -> str:
    """An identity sequence's options that differ from its defaults, as ``CREATE TABLE``
    writes them (`` (start with 100 increment by 10)``); empty when they are all default."""
    ascending = inc > 0
    default_low = 1 if ascending else -typmax - 1
    default_high = typmax if ascending else -1
    parts = []
    if start != (default_low if ascending else default_high):
        parts.append(f"start with {start}")
    if inc != 1:
        parts.append(f"increment by {inc}")
    if low != default_low:
        parts.append(f"minvalue {low}")
    if high != default_high:
        parts.append(f"maxvalue {high}")
    if cache != 1:
        parts.append(f"cache {cache}")
    if cycle:
        parts.append("cycle")
    return f" ({' '.join(parts)})" if parts else ""


# Kinds of objects the snapshot does not describe (or not fully): their presence in the live
# schema makes a verified baseline impossible. Extension members are the extension's business.
_UNREADABLE = """
WITH ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT 'operator', o.oprname FROM pg_operator o WHERE o.oprnamespace = %(ns)s
    AND (o.tableoid, o.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'operator family', f.opfname FROM pg_opfamily f WHERE f.opfnamespace = %(ns)s
    AND (f.tableoid, f.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'text search configuration', t.cfgname FROM pg_ts_config t
  WHERE t.cfgnamespace = %(ns)s AND (t.tableoid, t.oid) NOT IN (SELECT classid, objid FROM ext)
UNION ALL
SELECT 'conversion', v.conname FROM pg_conversion v WHERE v.connamespace = %(ns)s
    AND (v.tableoid, v.oid) NOT IN (SELECT classid, objid FROM ext)
ORDER BY 1, 2
"""

_EVENT_TRIGGERS = """
SELECT e.evtname FROM pg_event_trigger e
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_event_trigger'::regclass
                  AND d.objid = e.oid AND d.deptype = 'e')
ORDER BY 1
"""


def uncompared_objects(conn: connection, schemas: str | Iterable[str] | None = None, *,
                       ignore: tuple[str, ...] = ()) -> list[str]:
    """Objects of ``schemas`` (default: those :func:`snapshot` describes by default) and event
    triggers that the snapshot cannot compare, as ``"<kind> <name>"`` (the name qualified as
    the snapshot keys it); empty when everything can be compared. None of these kinds belongs
    to a table: ``ignore`` (tracking-table patterns) is taken for the callers' symmetry with
    :func:`snapshot`."""
    wanted = schema_list(schemas)
    if wanted is None:
        wanted = user_schemas(conn)
    found = []
    with conn.cursor() as cur:
        for schema in wanted:
            cur.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", (schema,))
            oid = cur.fetchone()
            if oid is None:
                continue
            cur.execute(_UNREADABLE, {"ns": oid[0]})
            found += [f"{kind} {qualified(schema, name)}" for kind, name in cur.fetchall()]
        cur.execute(_EVENT_TRIGGERS)
        found += [f"event trigger {name}" for name, in cur.fetchall()]
    return found
