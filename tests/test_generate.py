"""mig new NAME --from URL: the migration that takes the history's schema to a database's,
generated in dependency order, proven both ways on a scratch database, then written; safe
forms for tables in use; destructive changes refused unless allowed; renames only when said."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from mig.engine import comparison
from mig.errors import EXIT_REFUSED, DestructiveChanges, GenerationFailed
from mig.server import LocalServer
from tests.support import query, run_mig, write_project
from tests.support.server import create_database, drop_database

READER = "gen_reader"

# Rich enough to need the catalog's dependency order: a type before the tables using it, a
# sequence before the default reading it, two tables with foreign keys to each other (a cycle
# broken by adding the keys after both tables), a function before its trigger, a view after
# the table it reads, a function whose SQL body reads a table, a partial unique index, comments,
# grants to a role, row level security and a policy, default privileges, a domain, a range and
# a composite type, an identity column and a serial one, a generated column, a collation.
RICH = f"""
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer NOT NULL CHECK (VALUE > 0);
CREATE TYPE pair AS (a integer, b text);
CREATE TYPE span AS RANGE (subtype = float8);
CREATE SEQUENCE counter START 10;
CREATE TABLE orgs (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
                   boss bigint);
CREATE TABLE users (
  id serial PRIMARY KEY,
  org bigint REFERENCES orgs(id) ON DELETE CASCADE,
  email text COLLATE "C" NOT NULL,
  feeling mood DEFAULT 'ok',
  score posint,
  n integer DEFAULT nextval('counter'),
  lower_email text GENERATED ALWAYS AS (lower(email)) STORED,
  CHECK (length(email) > 3)
);
ALTER TABLE orgs ADD CONSTRAINT orgs_boss_fkey FOREIGN KEY (boss) REFERENCES users(id);
CREATE UNIQUE INDEX users_email_live ON users (email) WHERE feeling <> 'sad';
CREATE INDEX users_lower ON users (lower(email));
CREATE VIEW happy AS SELECT id, email FROM users WHERE feeling = 'happy';
CREATE MATERIALIZED VIEW org_counts AS SELECT org, count(*) AS n FROM users GROUP BY org;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql
  AS $$BEGIN NEW.email := lower(NEW.email); RETURN NEW; END$$;
CREATE TRIGGER users_touch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION touch();
CREATE FUNCTION user_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM users $$;
CREATE PROCEDURE noop() LANGUAGE sql AS $$ SELECT 1 $$;
COMMENT ON TABLE users IS 'people who log in';
COMMENT ON COLUMN users.email IS 'their address';
COMMENT ON FUNCTION touch() IS 'lowercases';
GRANT SELECT ON users TO {READER};
GRANT SELECT (name) ON orgs TO {READER};
GRANT USAGE ON SEQUENCE counter TO {READER};
REVOKE EXECUTE ON FUNCTION user_count() FROM PUBLIC;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON users FOR SELECT TO {READER} USING (email = current_user);
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {READER};
"""


@pytest.fixture(scope="module")
def reader(pg_server: LocalServer):
    query(pg_server.url(), f"DO $$BEGIN CREATE ROLE {READER}; EXCEPTION WHEN duplicate_object"
                           " THEN NULL; END$$")
    return READER


@pytest.fixture
def source(pg_server: LocalServer, reader):
    """A database built by hand, the schema to generate a migration for."""
    name = create_database(pg_server)
    yield pg_server.url(name)
    query(pg_server.url(name), f"DROP OWNED BY {READER}")
    drop_database(pg_server, name)


@pytest.fixture
def target(pg_server: LocalServer, reader):
    """An empty database to apply the written migrations to."""
    name = create_database(pg_server)
    yield pg_server.url(name)
    query(pg_server.url(name), f"DROP OWNED BY {READER}")
    drop_database(pg_server, name)


def _settings(project: Path, database: str | None = None):
    return resolve(project_dir=project, database=database, env={})


def _schema(url: str) -> comparison.OwnedSchema:
    conn = psycopg2.connect(url)
    try:
        return comparison.read_schema(conn, "public", ("_yoyo_migration",))
    finally:
        conn.close()


def _files(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "migrations").iterdir())


def _lint_clean(project: Path, paths: list[str]) -> None:
    """The written files pass mig lint with the default rules."""
    lint = run_mig(["lint", *paths], cwd=project)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "0 error(s)" in lint.stdout


def _new(project: Path, source: str, pg_server: LocalServer, *args: str):
    return run_mig(["new", *args, "--from", source, "--scratch-server", pg_server.url()],
                   cwd=project)


def test_a_rich_schema_from_an_empty_history_applies_and_rolls_back_exactly(
        tmp_path, source, target, pg_server):
    query(source, RICH)
    project = write_project(tmp_path, {})
    result = _new(project, source, pg_server, "initial")
    assert result.returncode == 0, result.stderr
    written = [Path(line) for line in result.stdout.split()]
    assert [p.name.split("_", 2)[2] for p in written] == ["initial.sql", "initial.rollback.sql"]
    text = written[0].read_text()
    # dependency order, from the catalog: types and sequences before the tables using them,
    # both tables before the foreign keys between them, the function before its trigger
    order = [text.index(s) for s in (
        "CREATE TYPE public.mood", "CREATE SEQUENCE public.counter", "CREATE TABLE public.orgs",
        "CREATE TABLE public.users", "CREATE OR REPLACE FUNCTION public.touch()",
        "ADD CONSTRAINT orgs_boss_fkey", "CREATE TRIGGER users_touch")]
    assert order == sorted(order)
    assert text.index("CREATE TABLE public.users") < text.index("CREATE VIEW public.happy")
    assert "mig.sum" in _files(project) and written[0].stem in (
        project / "migrations" / "mig.sum").read_text()
    _lint_clean(project, [str(p) for p in written])

    # applied by mig apply elsewhere, it gives the source's schema; rolled back, nothing
    settings = _settings(project, target)
    commands.apply(settings)
    assert comparison.differences(_schema(source), _schema(target)) == []
    empty = _schema(pg_server.url("postgres"))
    commands.rollback(settings, all_applied=True, yes=True)
    assert comparison.differences(empty, _schema(target)) == []


def test_nothing_differs_writes_nothing(tmp_path, source, pg_server):
    project = write_project(tmp_path, {})
    report = commands.new_from(_settings(project), "nothing", source, scratch=pg_server.url())
    assert report.migrations == () and not report.written
    assert _files(project) == []


def test_an_aggregate_is_refused_by_name_and_nothing_is_written(tmp_path, source, pg_server):
    query(source, "CREATE TABLE t (x int); CREATE AGGREGATE total(int) (sfunc = int4pl,"
                  " stype = int)")
    project = write_project(tmp_path, {})
    with pytest.raises(GenerationFailed, match="aggregate total") as caught:
        commands.new_from(_settings(project), "agg", source, scratch=pg_server.url())
    assert caught.value.problems
    assert _files(project) == []
    result = _new(project, source, pg_server, "agg", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["type"] == "GenerationFailed"
    assert _files(project) == []


HISTORY = {
    "0001_items.sql": """\
        CREATE TABLE items (id bigint PRIMARY KEY, name text, note text, price integer);
        CREATE TABLE shops (id bigint PRIMARY KEY);
        """,
    "0001_items.rollback.sql": "DROP TABLE items; DROP TABLE shops;\n",
}


def _history(tmp_path: Path, source: str) -> Path:
    project = write_project(tmp_path, HISTORY)
    commands.apply(_settings(project, source))  # the source starts where the history ends
    return project


def test_destructive_changes_are_refused_without_the_flag_and_written_with_it(
        tmp_path, source, pg_server):
    project = _history(tmp_path, source)
    query(source, "ALTER TABLE items DROP COLUMN note; DROP TABLE shops")
    before = _files(project)
    with pytest.raises(DestructiveChanges) as caught:
        commands.new_from(_settings(project), "drop", source, scratch=pg_server.url())
    assert {(d["kind"], d["name"]) for d in caught.value.destructive} == {
        ("column", "items.note"), ("table", "shops")}
    assert _files(project) == before
    result = _new(project, source, pg_server, "drop")
    assert result.returncode == EXIT_REFUSED and "items.note" in result.stderr
    assert _files(project) == before

    result = _new(project, source, pg_server, "drop", "--allow-destructive")
    assert result.returncode == 0, result.stderr
    written = result.stdout.split()
    text = Path(written[0]).read_text()
    assert "-- mig: allow-destructive" in text and "DROP COLUMN note" in text
    _lint_clean(project, written)


def test_a_rename_is_written_only_when_said(tmp_path, source, pg_server):
    project = _history(tmp_path, source)
    query(source, "ALTER TABLE items RENAME COLUMN note TO remark")
    with pytest.raises(DestructiveChanges):  # a drop and an add, never guessed
        commands.new_from(_settings(project), "rename", source, scratch=pg_server.url())
    report = commands.new_from(_settings(project), "rename", source, scratch=pg_server.url(),
                               renames=["items.note=remark"])
    assert report.written and report.destructive == ()
    assert "ALTER TABLE public.items RENAME COLUMN note TO remark;" in report.migrations[0].sql


def test_changes_to_tables_in_use_are_written_safe_under_load(tmp_path, source, pg_server):
    project = _history(tmp_path, source)
    query(source, """
        CREATE INDEX items_name ON items (name);
        ALTER TABLE items ADD CONSTRAINT items_price_check CHECK (price >= 0);
        ALTER TABLE items ADD COLUMN shop bigint REFERENCES shops(id);
        ALTER TABLE items ALTER COLUMN name SET NOT NULL;
        ALTER TABLE items ALTER COLUMN price TYPE bigint;
        CREATE TABLE fresh (id bigint PRIMARY KEY, label text);
        CREATE INDEX fresh_label ON fresh (label);
        """)
    report = commands.new_from(_settings(project), "safe", source, scratch=pg_server.url())
    assert report.written and [m.transactional for m in report.migrations] == [True, False]
    body, after = report.migrations[0].sql, report.migrations[1].sql
    assert after.startswith(f"-- safe: generated by mig new --from\n-- depends: "
                            f"{report.migrations[0].id}\n-- transactional: false\n")
    # an index on a table in use: concurrently, outside a transaction; a new table's: plain
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_name ON public.items" in after
    assert "CREATE INDEX fresh_label ON public.fresh" in body
    assert "CREATE INDEX" not in body.replace("CREATE INDEX fresh_label", "")
    # checks and foreign keys: NOT VALID in the transaction, validated after it
    assert "ADD CONSTRAINT items_price_check CHECK (price >= 0) NOT VALID;" in body
    assert "ADD CONSTRAINT items_shop_fkey FOREIGN KEY (shop) REFERENCES shops(id) NOT VALID;" \
        in body
    assert "VALIDATE CONSTRAINT items_price_check;" in after
    assert "VALIDATE CONSTRAINT items_shop_fkey;" in after
    # SET NOT NULL through a validated check, dropped after
    check = "items_name_not_null_check"
    assert f"ADD CONSTRAINT {check} CHECK (name IS NOT NULL) NOT VALID;" in body
    steps = [after.index(s) for s in (f"VALIDATE CONSTRAINT {check};",
                                      "ALTER COLUMN name SET NOT NULL;",
                                      f"DROP CONSTRAINT IF EXISTS {check};")]
    assert steps == sorted(steps)
    # a type change: said in the file and in a warning
    assert "-- changes the type of items.price from integer to bigint: this rewrites items" \
        in body
    assert any("items.price" in w and "rewrites" in w for w in report.warnings)
    _lint_clean(project, [p for m in report.migrations for p in (m.path, m.rollback_path)])
    # what was written applies (and rolls back) on a database at the history's end
    other = tmp_path / "other"
    query(pg_server.url(), "CREATE DATABASE gen_safe_target")
    try:
        url = pg_server.url("gen_safe_target")
        settings = _settings(project, url)
        commands.apply(settings)
        assert comparison.differences(_schema(source), _schema(url)) == []
        commands.rollback(settings, steps=2, yes=True)
        history = write_project(other, HISTORY)
        query(pg_server.url(), "CREATE DATABASE gen_safe_history")
        commands.apply(_settings(history, pg_server.url("gen_safe_history")))
        assert comparison.differences(_schema(pg_server.url("gen_safe_history")),
                                      _schema(url)) == []
    finally:
        query(pg_server.url(), "DROP DATABASE IF EXISTS gen_safe_target WITH (FORCE)")
        query(pg_server.url(), "DROP DATABASE IF EXISTS gen_safe_history WITH (FORCE)")


def test_a_dry_run_proves_and_prints_but_writes_nothing(tmp_path, source, pg_server):
    project = _history(tmp_path, source)
    query(source, "ALTER TABLE items ADD COLUMN colour text")
    before = _files(project)
    result = _new(project, source, pg_server, "colour", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "ALTER TABLE public.items ADD COLUMN colour text;" in result.stdout
    assert "ALTER TABLE public.items DROP COLUMN colour;" in result.stdout
    assert _files(project) == before
    result = _new(project, source, pg_server, "colour", "--dry-run", "--json")
    data = json.loads(result.stdout)
    assert data["written"] is False and data["migrations"][0]["transactional"] is True
    assert _files(project) == before


ENUM_HISTORY = {
    "0001_mood.sql": """\
        CREATE TYPE mood AS ENUM ('sad', 'happy');
        CREATE TABLE people (id bigint PRIMARY KEY, feeling mood NOT NULL DEFAULT 'sad');
        """,
    "0001_mood.rollback.sql": "DROP TABLE people; DROP TYPE mood;\n",
}


def test_an_enum_value_used_at_once_is_added_first_outside_a_transaction(
        tmp_path, source, pg_server):
    project = write_project(tmp_path, ENUM_HISTORY)
    commands.apply(_settings(project, source))
    query(source, "ALTER TYPE mood ADD VALUE 'ok' BEFORE 'happy'; COMMIT;"
                  " ALTER TABLE people ALTER COLUMN feeling SET DEFAULT 'ok'")
    report = commands.new_from(_settings(project), "ok", source, scratch=pg_server.url())
    first, body = report.migrations[0], report.migrations[1]
    assert not first.transactional and first.id.endswith("_ok_enum_values")
    assert "ALTER TYPE public.mood ADD VALUE IF NOT EXISTS 'ok' BEFORE 'happy';" in first.sql
    assert "-- transactional: false" in first.sql and "SET DEFAULT 'ok'::mood" in body.sql
    assert f"-- depends: {first.id}" in body.sql
    _lint_clean(project, [p for m in report.migrations for p in (m.path, m.rollback_path)])


def test_an_enum_value_removed_rebuilds_the_type_only_when_allowed(tmp_path, source, pg_server):
    project = write_project(tmp_path, ENUM_HISTORY)
    commands.apply(_settings(project, source))
    query(source, """
        ALTER TABLE people ALTER COLUMN feeling DROP DEFAULT;
        ALTER TYPE mood RENAME TO mood_old; CREATE TYPE mood AS ENUM ('happy');
        ALTER TABLE people ALTER COLUMN feeling TYPE mood USING feeling::text::mood;
        DROP TYPE mood_old;
        ALTER TABLE people ALTER COLUMN feeling SET DEFAULT 'happy'""")
    with pytest.raises(DestructiveChanges, match="removes enum value"):
        commands.new_from(_settings(project), "unsad", source, scratch=pg_server.url())
    report = commands.new_from(_settings(project), "unsad", source, scratch=pg_server.url(),
                               allow_destructive=True)
    sql = report.migrations[0].sql
    assert "ALTER TYPE public.mood RENAME TO mood__mig_old;" in sql
    assert "TYPE public.mood USING feeling::text::public.mood;" in sql
    _lint_clean(project, [report.migrations[0].path, report.migrations[0].rollback_path])
