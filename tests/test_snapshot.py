"""Schema snapshots: every kind of object is seen, tracking tables are not, equal schemas give
equal snapshots, and diffs read well."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from mig.engine.comparison import diff
from mig.engine.snapshot import SECTIONS, snapshot
from tests.support import MIGRATIONS, apply_sql_files

BASE = """
CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, note text);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END; $$;
CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
"""


@pytest.fixture(scope="module")
def module_conn(pg_server) -> Iterator[psycopg2.extensions.connection]:  # type: ignore[no-untyped-def]
    from tests.support import create_database, drop_database

    name = create_database(pg_server)
    connection = psycopg2.connect(pg_server.url(name))
    yield connection
    connection.close()
    drop_database(pg_server, name)


@pytest.fixture
def conn(module_conn) -> Iterator[psycopg2.extensions.connection]:  # type: ignore[no-untyped-def]
    """A connection in a transaction that is rolled back after the test (DDL included)."""
    with module_conn.cursor() as cur:
        cur.execute("SELECT 1")  # open the transaction, so snapshots run inside it
    yield module_conn
    module_conn.rollback()


def run(conn, statements: str) -> None:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute(statements)


def test_an_empty_database(conn) -> None:  # type: ignore[no-untyped-def]
    snap = snapshot(conn)
    assert list(snap) == list(SECTIONS)
    assert snap["schemas"] == {"public": "schema"}
    assert snap["tables"] == {} and snap["functions"] == {}


# Each change, and lines its diff must contain (a line starting with each prefix).
CHANGES = {
    "table": ("CREATE TABLE t2 (a int)", ["+ table t2: (a)", "+ column t2.a: integer"]),
    "column default": (
        "ALTER TABLE t ALTER COLUMN note SET DEFAULT 'x'",
        ["- column t.note: text", "+ column t.note: text default 'x'::text"],
    ),
    "nullability": ("ALTER TABLE t ALTER COLUMN name DROP NOT NULL", ["+ column t.name: text"]),
    "column type": (
        "ALTER TABLE t ALTER COLUMN note TYPE varchar(20)",
        ["+ column t.note: character varying(20)"],
    ),
    "column order": (
        "ALTER TABLE t DROP COLUMN name; ALTER TABLE t ADD COLUMN name text NOT NULL",
        ["- table t: (id, name, note)", "+ table t: (id, note, name)"],
    ),
    "index": (
        "CREATE INDEX t_note_idx ON t (note) WHERE note IS NOT NULL",
        ["+ index t_note_idx: CREATE INDEX t_note_idx ON public.t USING btree (note) WHERE"],
    ),
    "constraint": (
        "ALTER TABLE t ADD CONSTRAINT t_name_check CHECK (name <> '')",
        ["+ constraint t.t_name_check: CHECK (name <> ''::text)"],
    ),
    "enum": (
        "CREATE TYPE mood AS ENUM ('sad', 'happy')",
        ["+ type mood: enum ('sad', 'happy')", "+ grant type mood: {"],
    ),
    "domain": (
        "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)",
        ["+ type positive: domain (integer CHECK (VALUE > 0))"],
    ),
    "sequence": (
        "CREATE SEQUENCE counter START 5",
        ["+ sequence counter: bigint start 5 increment 1", "+ grant sequence counter:"],
    ),
    "identity": (
        "ALTER TABLE t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
        ["+ column t.id: integer not null generated always as identity", "+ sequence t_id_seq"],
    ),
    "view": (
        "CREATE VIEW names AS SELECT name FROM t",
        ["+ view names: SELECT", "+ grant table names: {"],
    ),
    "function": (
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ["+ function one(): CREATE OR REPLACE FUNCTION public.one()", "+ grant function one()"],
    ),
    "trigger disabled": (
        "ALTER TABLE t DISABLE TRIGGER t_touch",
        ["+ trigger t.t_touch: CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW"],
    ),
    "grant": ("GRANT SELECT ON t TO PUBLIC", ["- grant table t: {", "+ grant table t: {=r/"]),
    "column grant": ("GRANT UPDATE (note) ON t TO PUBLIC", ["+ grant column t.note: {=w/"]),
    "comment": ("COMMENT ON TABLE t IS 'things'", ["+ comment relation t: things"]),
    "row level security": (
        "ALTER TABLE t ENABLE ROW LEVEL SECURITY; CREATE POLICY mine ON t USING (true)",
        ["+ table t: (id, name, note) row level security", "+ policy t.mine: permissive for all"],
    ),
    "schema": ("CREATE SCHEMA extra", ["+ schema extra: schema", "+ grant schema extra:"]),
    "extension": (
        "CREATE EXTENSION IF NOT EXISTS hstore",
        ["+ extension hstore: version"],
    ),
    "default privileges": (
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
        ["+ default privileges "],
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_kind_of_change_is_seen(conn, change: str) -> None:  # type: ignore[no-untyped-def]
    statement, expected = CHANGES[change]
    run(conn, BASE)
    before = snapshot(conn)
    run(conn, statement)
    lines = diff(before, snapshot(conn))
    for prefix in expected:
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)


def test_extension_members_are_not_listed_as_the_schemas_own(conn) -> None:  # type: ignore[no-untyped-def]
    run(conn, "CREATE EXTENSION IF NOT EXISTS hstore")
    snap = snapshot(conn)
    assert snap["functions"] == {} and snap["types"] == {}
    assert snap["extensions"]["hstore"].startswith("version ")


def test_tracking_tables_and_their_objects_are_ignored(conn) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(conn, ignore=["my_migrations"])
    run(
        conn,
        """
        CREATE TABLE _yoyo_migration (migration_id text PRIMARY KEY);
        CREATE TABLE yoyo_lock (locked int DEFAULT 1);
        CREATE TABLE _mig_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, x text);
        CREATE INDEX mig_log_x ON _mig_log (x);
        CREATE TABLE my_migrations (id serial PRIMARY KEY);
        """,
    )
    assert diff(before, snapshot(conn, ignore=["my_migrations"])) == []


def test_granting_and_revoking_again_is_no_change(conn) -> None:  # type: ignore[no-untyped-def]
    run(conn, BASE)
    before = snapshot(conn)
    run(conn, "GRANT SELECT ON t TO PUBLIC; REVOKE SELECT ON t FROM PUBLIC")
    assert diff(before, snapshot(conn)) == []


# Rollbacks that restore the schema in other words than it was built with, as real histories
# write them (ory/hydra's down files among them): (what is there first, the migration, its
# rollback). Each must compare equal to the schema before the migration; the migration alone
# must still differ. Names the server generates, OIDs, spelling the server normalises.
RESTORED = {
    "constraint named by the server": (
        "CREATE TABLE c (t_id int REFERENCES t, code text UNIQUE)",
        "ALTER TABLE c DROP CONSTRAINT c_t_id_fkey; ALTER TABLE c DROP CONSTRAINT c_code_key",
        "ALTER TABLE c ADD FOREIGN KEY (t_id) REFERENCES t (id) MATCH SIMPLE"
        " ON UPDATE NO ACTION ON DELETE NO ACTION; ALTER TABLE c ADD UNIQUE (code)",
    ),
    "primary key named by the server": (
        "", "ALTER TABLE t DROP CONSTRAINT t_pkey", "ALTER TABLE t ADD PRIMARY KEY (id)",
    ),
    "default spelt otherwise": (
        "ALTER TABLE t ALTER COLUMN note SET DEFAULT 'x'::text",
        "ALTER TABLE t ALTER COLUMN note DROP DEFAULT",
        "ALTER TABLE t ALTER COLUMN note SET DEFAULT ('x')",
    ),
    "index spelt otherwise": (
        "CREATE INDEX t_name_idx ON t (name)",
        "DROP INDEX t_name_idx",
        "CREATE INDEX IF NOT EXISTS t_name_idx ON public.t USING btree (name ASC NULLS LAST)",
    ),
    "table with a serial column made again (new OIDs, the same sequence name)": (
        "CREATE TABLE s (id serial PRIMARY KEY, v int)",
        "DROP TABLE s",
        "CREATE TABLE s (id serial PRIMARY KEY, v int)",
    ),
    "view spelt otherwise": (
        "CREATE VIEW names AS SELECT name FROM t WHERE id > 0",
        "DROP VIEW names",
        "CREATE VIEW names AS SELECT t.name FROM public.t WHERE (t.id > 0)",
    ),
    "trigger made again": (
        "", "DROP TRIGGER t_touch ON t",
        "CREATE TRIGGER t_touch BEFORE UPDATE ON public.t FOR EACH ROW EXECUTE PROCEDURE touch()",
    ),
    "grant given as the default it was": (
        "", "REVOKE ALL ON t FROM CURRENT_USER", "GRANT ALL ON t TO CURRENT_USER",
    ),
}


@pytest.mark.parametrize("case", list(RESTORED))
def test_a_rollback_in_other_words_restores_an_equal_schema(conn, case: str) -> None:  # type: ignore[no-untyped-def]
    first, migration, rollback = RESTORED[case]
    run(conn, BASE + first)
    before = snapshot(conn)
    run(conn, migration)
    assert diff(before, snapshot(conn)) != []  # a real difference still differs
    run(conn, rollback)
    assert diff(before, snapshot(conn)) == []


def test_independent_of_the_search_path_and_leaves_it_alone(conn) -> None:  # type: ignore[no-untyped-def]
    run(conn, BASE + "CREATE TABLE child (t_id int REFERENCES t (id) ON DELETE CASCADE);")
    expected = snapshot(conn)
    run(conn, "SET search_path = pg_catalog")
    assert snapshot(conn) == expected
    with conn.cursor() as cur:
        cur.execute("SHOW search_path")
        assert cur.fetchone()[0] == "pg_catalog"


def test_diff_lists_each_difference_once() -> None:
    before = {"tables": {"a": "(id)", "b": "(id)"}, "columns": {"a.id": "integer"}}
    after = {"tables": {"a": "(id, x)", "c": "(id)"}, "columns": {"a.id": "integer"}}
    assert diff(before, after) == [
        "- table a: (id)",
        "+ table a: (id, x)",
        "- table b: (id)",
        "+ table c: (id)",
    ]
    assert diff(after, after) == []


def test_leaves_no_transaction_open(db_url: str) -> None:
    connection = psycopg2.connect(db_url)
    try:
        snapshot(connection)
        assert connection.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    finally:
        connection.close()


def test_a_changed_function_body_is_shown_line_by_line(conn) -> None:  # type: ignore[no-untyped-def]
    run(conn, BASE)
    before = snapshot(conn)
    run(
        conn,
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN NEW.note := 'x'; RETURN NEW; END; $$",
    )
    lines = diff(before, snapshot(conn))
    assert lines[0] == "~ function touch():"
    assert "    - AS $function$ BEGIN RETURN NEW; END; $function$" in lines
    assert "    + AS $function$ BEGIN NEW.note := 'x'; RETURN NEW; END; $function$" in lines


def test_the_engine_and_plain_sql_give_the_same_schema(pg_server, db_url: str) -> None:  # type: ignore[no-untyped-def]
    from tests.support import create_database, drop_database

    other = create_database(pg_server)
    try:
        apply_sql_files(pg_server.url(other))
        commands.apply(resolve(database=db_url, sources=[MIGRATIONS], env={}))
        first, second = psycopg2.connect(db_url), psycopg2.connect(pg_server.url(other))
        try:
            assert diff(snapshot(second), snapshot(first)) == []
        finally:
            first.close()
            second.close()
    finally:
        drop_database(pg_server, other)
