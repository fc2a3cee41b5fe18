"""mig diff: a live database against the schema its applied migrations build on a scratch
database; clean after mig apply, every manual change reported, exit code 5 on drift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from mig import commands
from mig.commands.drift import diff
from mig.config import resolve
from mig.errors import EXIT_DRIFT, MigrationError
from mig.server import FAST_UNSAFE_SETTINGS, LocalServer
from tests.support import (
    PASSWORD,
    PASSWORD_ROLE,
    PG15_BINDIR,
    create_database,
    drop_database,
    query,
    run_mig,
    write_project,
)

MIGRATIONS = {
    "0001_items.sql": """\
        CREATE TABLE items (
            id bigint PRIMARY KEY,
            name text NOT NULL,
            status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'done')),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX items_name ON items (name);
        """,
    "0001_items.rollback.sql": "DROP TABLE items;\n",
    "0002_tags.sql": "CREATE TABLE tags (id bigint PRIMARY KEY, item_id bigint REFERENCES items"
                     " ON DELETE CASCADE);\n",
    "0002_tags.rollback.sql": "DROP TABLE tags;\n",
}


@pytest.fixture
def project(tmp_path, db_url):
    write_project(tmp_path, MIGRATIONS)
    commands.apply(resolve(project_dir=tmp_path, database=db_url, env={}))
    return tmp_path


def _diff(project, db_url, pg_server):
    return diff(resolve(project_dir=project, database=db_url, env={}), scratch=pg_server.url())


def test_a_freshly_migrated_database_has_no_drift(project, db_url, pg_server):
    report = _diff(project, db_url, pg_server)
    assert report.differences == [] and not report.drift
    assert report.migrations == ["0001_items", "0002_tags"] and report.pending == []
    result = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url()], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "no drift:" in result.stdout and "matches its 2 applied migration(s)" in result.stdout
    # the scratch database is gone
    assert query(pg_server.url(), "SELECT datname FROM pg_database WHERE datname LIKE "
                 "'mig_verify_%'") == []


def test_manual_changes_are_reported_with_exit_code_5(project, db_url, pg_server):
    query(db_url, "ALTER TABLE items ADD COLUMN notes text; DROP INDEX items_name;"
                  " ALTER TABLE items ALTER COLUMN status SET DEFAULT 'done';"
                  " ALTER TABLE items ALTER COLUMN id TYPE numeric;"
                  " ALTER TABLE tags DROP CONSTRAINT tags_item_id_fkey;"
                  " CREATE TABLE scratch_copy (id int)")
    changes = {(d.change, d.kind, d.name) for d in
               _diff(project, db_url, pg_server).differences}
    assert changes >= {
        ("extra", "column", "items.notes"),
        ("missing", "index", "items_name"),
        ("changed", "column", "items.status"),
        ("changed", "column", "items.id"),
        ("missing", "constraint", "tags.tags_item_id_fkey"),
        ("extra", "table", "scratch_copy"),
    }

    result = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url()], cwd=project)
    assert result.returncode == EXIT_DRIFT == 5, result.stderr
    lines = result.stdout.splitlines()
    assert "differs from the schema of its 2 applied migration(s):" in lines[0]
    assert "  extra column items.notes: text" in lines
    assert "  missing index items_name: CREATE INDEX items_name ON public.items USING btree " \
           "(name)" in lines
    assert "  changed column items.id: type bigint -> numeric" in lines
    assert "  changed column items.status: default 'new'::text -> 'done'::text" in lines

    result = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url(), "--json"],
                     cwd=project)
    assert result.returncode == EXIT_DRIFT
    data = json.loads(result.stdout)
    assert set(data) == {"database", "scratch", "schema", "drift", "migrations", "pending",
                         "edited", "differences", "schemas", "versions", "notes"}
    assert data["schema"] is None and data["schemas"] == ["public"] and data["notes"] == []
    assert data["drift"] is True and data["edited"] == []
    assert {"change": "extra", "kind": "column", "name": "items.notes", "expected": None,
            "actual": "text"} in data["differences"]


def test_objects_owned_by_another_role_than_the_scratch_ones_are_no_drift(tmp_path, db_url,
                                                                           pg_server):
    write_project(tmp_path, MIGRATIONS)
    own_url = db_url.replace("postgres@", f"{PASSWORD_ROLE}:{PASSWORD}@")
    commands.apply(resolve(project_dir=tmp_path, database=own_url, env={}))
    assert query(db_url, "SELECT tableowner FROM pg_tables WHERE tablename = 'items'") == [
        (PASSWORD_ROLE,)]
    report = _diff(tmp_path, own_url, pg_server)
    assert report.differences == []
    query(own_url, "GRANT SELECT ON items TO PUBLIC")
    assert [(d.change, d.name, d.actual) for d in
            _diff(tmp_path, own_url, pg_server).differences] == [
        ("changed", "table items", "{=r/<owner>, <owner>=arwdDxtm/<owner>}")]


def test_a_migration_edited_after_it_was_applied_is_named_not_only_blamed_on_the_database(
        project, db_url, pg_server):
    path = project / "migrations/0001_items.sql"
    with open(path, "a") as fh:
        fh.write("CREATE INDEX items_created_idx ON items (created_at);\n")
    report = _diff(project, db_url, pg_server)
    assert [(d.change, d.kind, d.name) for d in report.differences] == [
        ("missing", "index", "items_created_idx")]
    assert [(e.id, e.path) for e in report.edited] == [("0001_items", str(path))]
    recorded = report.edited[0].recorded
    assert recorded is not None and recorded != report.edited[0].current

    result = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url()], cwd=project)
    assert result.returncode == EXIT_DRIFT, result.stderr
    warning = next(line for line in result.stdout.splitlines() if "0001_items" in line)
    assert warning.startswith("warning: 0001_items was edited after it was applied")
    assert f"recorded {recorded[:12]}" in warning
    assert "the schema is built from the files as they are now" in warning
    assert "  missing index items_created_idx: CREATE INDEX items_created_idx ON public.items " \
           "USING btree (created_at)" in result.stdout.splitlines()

    result = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url(), "--json"],
                     cwd=project)
    data = json.loads(result.stdout)
    assert [(e["id"], e["recorded"]) for e in data["edited"]] == [("0001_items", recorded)]

    # an edit that changes no schema still warns, but is no drift
    path.write_text(MIGRATIONS["0001_items.sql"] + "-- a comment\n")
    result = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url()], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "warning: 0001_items was edited after it was applied" in result.stdout
    assert "no drift:" in result.stdout


def test_pending_migrations_are_listed_not_counted_as_drift(project, db_url, pg_server):
    (project / "migrations/0003_more.sql").write_text("ALTER TABLE tags ADD COLUMN x text;\n")
    report = _diff(project, db_url, pg_server)
    assert not report.drift and report.pending == ["0003_more"]
    (project / "migrations/0002_tags.sql").rename(project / "migrations/0002_renamed.sql")
    (project / "migrations/0003_more.sql").unlink()
    with pytest.raises(MigrationError, match="no longer on disk: 0002_tags"):
        _diff(project, db_url, pg_server)


def test_the_scratch_database_is_on_the_embedded_server_by_default(project, db_url, pg_server):
    try:
        result = run_mig(["diff", "-d", db_url, "--json"], cwd=project)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["drift"] is False
        datadir = LocalServer(project / ".mig" / "pgdata").datadir  # as root maybe elsewhere
        assert data["scratch"].startswith(
            f"postgresql://postgres@/mig?host={quote(str(datadir), safe='/')}&port=")
        assert (datadir / "PG_VERSION").exists()
    finally:
        # started for the scratch database alone: stopped when diff ended
        assert "not running" in run_mig(["db", "stop"], cwd=project).stdout


BILLING = {
    **MIGRATIONS,
    "0003_billing.sql": """\
        CREATE SCHEMA billing;
        CREATE TABLE billing.invoices (id bigint PRIMARY KEY, item_id bigint REFERENCES
            public.items, total numeric NOT NULL);
        CREATE INDEX invoices_item ON billing.invoices (item_id);
        CREATE FUNCTION billing.total(bigint) RETURNS numeric LANGUAGE sql
            AS 'SELECT total FROM billing.invoices WHERE id = $1';
        """,
    "0003_billing.rollback.sql": "DROP SCHEMA billing CASCADE;\n",
}


@pytest.fixture
def billing(tmp_path, db_url):
    write_project(tmp_path, BILLING)
    commands.apply(resolve(project_dir=tmp_path, database=db_url, env={}))
    return tmp_path


def test_a_second_schema_is_compared_unchanged_silent_and_a_change_found(billing, db_url,
                                                                        pg_server):
    report = _diff(billing, db_url, pg_server)
    assert report.differences == [] and report.schemas == ["billing", "public"]
    query(db_url, "ALTER TABLE billing.invoices ALTER COLUMN total DROP NOT NULL;"
                  " DROP INDEX billing.invoices_item;"
                  " CREATE OR REPLACE FUNCTION billing.total(bigint) RETURNS numeric"
                  " LANGUAGE sql AS 'SELECT 0'")
    changes = [(d.change, d.kind, d.name) for d in _diff(billing, db_url, pg_server).differences]
    assert changes == [("changed", "column", "billing.invoices.total"),
                       ("missing", "index", "billing.invoices_item"),
                       ("changed", "function", "billing.total(bigint)")]

    def cli(*schemas: str) -> tuple[int, dict]:
        args = [arg for name in schemas for arg in ("--schema", name)]
        done = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url(), "--json",
                        *args], cwd=billing)
        return done.returncode, json.loads(done.stdout)

    code, data = cli("public")  # narrowed to public: billing's changes are not looked at
    assert (code, data["schema"], data["schemas"], data["differences"]) == (
        0, "public", ["public"], [])
    code, data = cli("billing")
    assert (code, data["schema"]) == (EXIT_DRIFT, "billing")
    assert [d["name"] for d in data["differences"]] == [
        "billing.invoices.total", "billing.invoices_item", "billing.total(bigint)"]
    code, data = cli("public", "billing")
    assert (code, data["schema"], data["schemas"], len(data["differences"])) == (
        EXIT_DRIFT, None, ["billing", "public"], 3)
    lines = run_mig(["diff", "-d", db_url, "--scratch-server", pg_server.url()],
                    cwd=billing).stdout.splitlines()
    assert "  changed column billing.invoices.total: not null -> nullable" in lines
    assert "  missing index billing.invoices_item: CREATE INDEX invoices_item ON" \
           " billing.invoices USING btree (item_id)" in lines


def test_a_schema_only_the_database_has_is_drift(project, db_url, pg_server):
    query(db_url, "CREATE SCHEMA reports; CREATE VIEW reports.open_items AS"
                  " SELECT id FROM public.items WHERE status = 'new'")
    changes = {(d.change, d.kind, d.name) for d in _diff(project, db_url, pg_server).differences}
    assert {("extra", "schema", "reports"), ("extra", "view", "reports.open_items"),
            ("extra", "grant", "table reports.open_items")} <= changes
    # mig's tracking tables and other tools' are no part of any schema's snapshot
    query(db_url, "DROP SCHEMA reports CASCADE; CREATE SCHEMA audit;"
                  " CREATE TABLE audit.flyway_schema_history (installed_rank int PRIMARY KEY);"
                  " CREATE TABLE audit._yoyo_migration (migration_id text)")
    changes = {(d.change, d.kind, d.name) for d in _diff(project, db_url, pg_server).differences}
    assert changes == {("extra", "schema", "audit"), ("extra", "grant", "schema audit")}


PRIVILEGES = {
    "0001_tables.sql": """\
        ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO PUBLIC;
        CREATE TABLE plain (id int);
        CREATE TABLE shared (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);
        GRANT ALL ON shared TO PUBLIC;
        CREATE SEQUENCE counter;
        """,
    "0001_tables.rollback.sql": """\
        DROP SEQUENCE counter; DROP TABLE shared, plain;
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE ON SEQUENCES FROM PUBLIC;
        ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM PUBLIC;
        """,
}


@pytest.fixture(scope="module")
def pg15(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """PostgreSQL 15 from Debian's packages, stopped and removed at the end."""
    if not PG15_BINDIR.is_dir():
        pytest.skip(f"Debian's PostgreSQL 15 is not at {PG15_BINDIR}")
    server = LocalServer(tmp_path_factory.mktemp("pg15-diff") / "data", bindir=PG15_BINDIR,
                         settings=FAST_UNSAFE_SETTINGS)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def on_pg15(tmp_path, pg15) -> Iterator[tuple[str, object]]:
    """A project whose migrations set default privileges, applied to a PostgreSQL 15
    database: its URL and the project's folder."""
    name = create_database(pg15)
    url = pg15.url(name)
    write_project(tmp_path, PRIVILEGES)
    commands.apply(resolve(project_dir=tmp_path, database=url, env={}))
    yield url, tmp_path
    drop_database(pg15, name)


def test_a_postgresql_15_database_is_compared_on_postgresql_15_binaries(on_pg15):
    url, project = on_pg15
    try:
        result = run_mig(["diff", "-d", url, "--json"], cwd=project, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        data = json.loads(result.stdout)
        assert (data["drift"], data["versions"], data["notes"]) == (False, [15, 15], [])
        assert "pgdata-15" in data["scratch"]  # beside the embedded server's data
    finally:
        # started for the build alone: stopped again
        assert not LocalServer(project / ".mig" / "pgdata-15").is_running()


def test_a_version_s_own_default_privileges_are_no_drift_across_versions(on_pg15, pg_server):
    """The scratch server is PostgreSQL 18 (asked for): its tables' owners have MAINTAIN by
    default, PostgreSQL 15's cannot; that is no difference, a real grant still is."""
    url, project = on_pg15
    settings = resolve(project_dir=project, database=url, env={})
    report = diff(settings, scratch=pg_server.url())
    assert report.versions == [15, 18]
    assert report.differences == []
    assert len(report.notes) == 1 and "PostgreSQL 18" in report.notes[0] \
        and "PostgreSQL 15" in report.notes[0]
    result = run_mig(["diff", "-d", url, "--scratch-server", pg_server.url()], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: the schema was built on PostgreSQL 18, the database runs PostgreSQL 15" \
        in result.stdout
    query(url, "REVOKE DELETE ON shared FROM PUBLIC; GRANT INSERT ON plain TO PUBLIC")
    assert [(d.change, d.name, d.expected, d.actual) for d in diff(
        settings, scratch=pg_server.url()).differences] == [
        ("changed", "table plain", "{<owner>=ALL/<owner>, =r/<owner>}",
         "{<owner>=ALL/<owner>, =ar/<owner>}"),
        ("changed", "table shared", "{<owner>=ALL/<owner>, =ALL/<owner>}",
         "{<owner>=ALL/<owner>, =arwDxt/<owner>}")]
