"""``mig status --check`` against what the applied history builds: no false alarm after a clean
apply (the product's history, a synthetic one with every kind of object that moves, the real
supabase/auth history), and each real fault reported with exit 7, naming it.
"""

from __future__ import annotations

import json

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import EXIT_INCONSISTENT
from mig.server import LocalServer
from tests.support import (
    SUPABASE_AUTH,
    copy_shipped_project,
    import_supabase_auth,
    query,
    run_mig,
    write_project,
)

# Every kind of object a per-file reading of the SQL gets wrong: objects in another schema
# (one with the name of a public table dropped later), objects created and then dropped or
# renamed (tables, indexes, columns), objects a DO block, a function or a Python step makes,
# triggers, CREATE INDEX CONCURRENTLY, and a table created inside a savepoint rolled back.
SYNTHETIC = {
    "0001_schemas.sql": """
        CREATE SCHEMA app;
        CREATE TABLE app.accounts (id int PRIMARY KEY, email text, old_name text);
        CREATE INDEX accounts_email ON app.accounts (email);
        CREATE TABLE accounts (id int PRIMARY KEY);
        CREATE TABLE scratchpad (id int);
        CREATE INDEX scratchpad_id ON scratchpad (id);
        CREATE SEQUENCE app.counter;
        CREATE VIEW app.emails AS SELECT email FROM app.accounts;
    """,
    "0002_moves.sql": """
        -- depends: 0001_schemas
        DROP TABLE accounts;
        DROP TABLE scratchpad;
        ALTER TABLE app.accounts RENAME COLUMN old_name TO display_name;
        ALTER INDEX app.accounts_email RENAME TO accounts_by_email;
        CREATE TABLE orders (id int PRIMARY KEY, total int);
        ALTER TABLE orders RENAME TO purchases;
        ALTER TABLE purchases ADD COLUMN note text;
        ALTER TABLE purchases DROP COLUMN total;
    """,
    "0003_code.sql": """
        -- depends: 0002_moves
        DO $$ BEGIN
            EXECUTE 'CREATE TABLE app.made_by_do (id int)';
            CREATE INDEX made_by_do_id ON app.made_by_do (id);
        END $$;
        CREATE FUNCTION make_audit() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            CREATE TABLE audit (at timestamptz DEFAULT now(), what text);
        END $$;
        SELECT make_audit();
        CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO audit (what) VALUES (TG_TABLE_NAME);
            RETURN NEW;
        END $$;
        CREATE TRIGGER accounts_touched AFTER INSERT ON app.accounts
            FOR EACH ROW EXECUTE FUNCTION app.touch();
        SAVEPOINT trial;
        CREATE TABLE abandoned (id int);
        CREATE INDEX abandoned_id ON abandoned (id);
        ROLLBACK TO SAVEPOINT trial;
        RELEASE SAVEPOINT trial;
    """,
    "0004_concurrently.sql": """
        -- depends: 0003_code
        -- transactional: false
        CREATE INDEX CONCURRENTLY purchases_note ON purchases (note);
        CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_display
            ON app.accounts (display_name);
    """,
    "0005_python.py": '''
        """A table a Python step makes under a name it computes."""
        from yoyo import step

        __depends__ = {"0004_concurrently"}


        def make(conn):
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE app.%s (id int)" % "_".join(["computed", "name"]))


        steps = [step(make, "DROP TABLE app.computed_name")]
    ''',
}


def _check(project, db_url, pg_server, *extra: str):
    result = run_mig(["status", "--check", *extra], cwd=project,
                     env={"MIG_DATABASE_URL": db_url, "MIG_SCRATCH_SERVER": pg_server.url()})
    return result


def _problems(project, db_url, pg_server) -> tuple[int, list[tuple[str, str]]]:
    result = _check(project, db_url, pg_server, "--json")
    assert result.returncode in (0, EXIT_INCONSISTENT), result.stderr
    found = json.loads(result.stdout)["problems"]
    return result.returncode, [(p["kind"], p["subject"]) for p in found]


def _applied(project, db_url):
    result = run_mig(["apply"], cwd=project, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_products_own_history_checks_clean(tmp_path, pg_server, db_url):
    project = copy_shipped_project(tmp_path / "p", seeds=False)
    _applied(project, db_url)
    result = _check(project, db_url, pg_server)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "check: the records agree with the catalog" in result.stdout


def test_a_synthetic_history_of_moved_objects_checks_clean(tmp_path, pg_server, db_url):
    project = write_project(tmp_path / "p", SYNTHETIC)
    _applied(project, db_url)
    assert query(db_url, "SELECT to_regclass('abandoned'), to_regclass('app.made_by_do')"
                 " IS NOT NULL") == [(None, True)]
    assert _problems(project, db_url, pg_server) == (0, [])


def test_each_real_fault_of_the_synthetic_history_is_named(tmp_path, pg_server, db_url):
    project = write_project(tmp_path / "p", SYNTHETIC)
    _applied(project, db_url)
    # objects no CREATE statement of their file names (DO block, function, Python step),
    # a renamed index and column, a table with its dependents
    query(db_url, "DROP TABLE app.made_by_do; DROP TABLE audit CASCADE;"
                  " DROP INDEX app.accounts_by_email; ALTER TABLE app.accounts DROP COLUMN"
                  " display_name; DROP TABLE app.computed_name; DROP TRIGGER accounts_touched"
                  " ON app.accounts")
    code, found = _problems(project, db_url, pg_server)
    assert code == EXIT_INCONSISTENT
    # the table's own entry stands for its index; the dropped column took its index along
    assert found == [("missing-object", name) for name in (
        "app.computed_name", "app.made_by_do", "public.audit", "app.accounts.display_name",
        "app.accounts_by_email", "app.accounts_display", "app.accounts.accounts_touched")], found
    text = _check(project, db_url, pg_server).stdout
    assert "index app.accounts_by_email is not in the database" in text
    assert "CREATE INDEX accounts_by_email ON app.accounts USING btree (email)" in text
    assert "column app.accounts.display_name is not in the database" in text


def test_invalid_index_and_unfinished_run_are_reported(tmp_path, pg_server, db_url):
    files = {"0001_t.sql": "CREATE TABLE t (n int, m int);\nINSERT INTO t VALUES (1, 1), (1, 2);\n",
             "0002_nt.sql": "-- depends: 0001_t\n-- transactional: false\n"
                            "CREATE UNIQUE INDEX CONCURRENTLY t_n ON t (n);\n"
                            "CREATE INDEX CONCURRENTLY t_m ON t (m);\n"}
    project = write_project(tmp_path / "p", files)
    result = run_mig(["apply"], cwd=project, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode != 0
    code, found = _problems(project, db_url, pg_server)
    assert (code, found) == (EXIT_INCONSISTENT, [("partial", "0002_nt"),
                                                 ("invalid-index", "public.t_n")])
    assert "DROP INDEX CONCURRENTLY IF EXISTS" in _check(project, db_url, pg_server).stdout


def test_an_invalid_index_the_applied_history_builds_is_rebuilt_in_place(tmp_path, pg_server,
                                                                           db_url):
    project = write_project(tmp_path / "p", {"0001_t.sql": "CREATE TABLE t (n int);\n"
                                                           "CREATE INDEX t_n ON t (n);\n"})
    _applied(project, db_url)
    # what an interrupted REINDEX CONCURRENTLY or a catalog edit leaves: the index INVALID
    query(db_url, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_n'::regclass")
    result = _check(project, db_url, pg_server)
    assert result.returncode == EXIT_INCONSISTENT
    assert 'REINDEX INDEX CONCURRENTLY "public"."t_n"' in result.stdout
    assert "missing-object" not in result.stdout


@pytest.mark.skipif(not SUPABASE_AUTH.is_dir(), reason="../shared/corpus is not there")
def test_the_supabase_auth_history_checks_clean_and_faults_are_named(tmp_path, pg_server,
                                                                     db_url):
    project = import_supabase_auth(tmp_path / "p")
    _applied(project, db_url)
    assert query(db_url, "SELECT count(*) FROM _yoyo_migration") == [(70,)]
    assert _problems(project, db_url, pg_server) == (0, [])
    query(db_url, "DROP INDEX auth.users_instance_id_idx; ALTER TABLE auth.users DROP COLUMN"
                  " phone_change; DROP TABLE auth.sso_domains")
    code, found = _problems(project, db_url, pg_server)
    assert (code, found) == (EXIT_INCONSISTENT, [
        ("missing-object", "auth.sso_domains"), ("missing-object", "auth.users.phone_change"),
        ("missing-object", "auth.users_instance_id_idx")])


def test_the_build_is_cached_by_the_applied_migrations(tmp_path, pg_server, db_url):
    project = write_project(tmp_path / "p", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    _applied(project, db_url)
    assert _problems(project, db_url, pg_server) == (0, [])
    (entry,) = (project / ".mig" / "check-cache").glob("*.json")
    # the next check reads the cached build: an object added to it is looked for
    data = json.loads(entry.read_text())
    data["expected"]["objects"]["tables"].append("public.ghost")
    entry.write_text(json.dumps(data))
    assert _problems(project, db_url, pg_server) == (
        EXIT_INCONSISTENT, [("missing-object", "public.ghost")])
    # another applied history is another build
    (project / "migrations" / "0002_b.sql").write_text("-- depends: 0001_a\nCREATE TABLE b ();\n")
    _applied(project, db_url)
    assert _problems(project, db_url, pg_server) == (0, [])
    assert len(list((project / ".mig" / "check-cache").glob("*.json"))) == 2


def test_a_history_that_cannot_be_built_is_unchecked_not_missing(tmp_path, pg_server, db_url):
    project = write_project(tmp_path / "p", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    _applied(project, db_url)
    query(db_url, "DROP TABLE a")
    nowhere = "postgresql://nobody@127.0.0.1:1/postgres?connect_timeout=2"
    result = run_mig(["status", "--check", "--json", "--scratch-server", nowhere],
                     cwd=project, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode == EXIT_INCONSISTENT, result.stderr
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["kind"] == "unchecked" and "no object was compared" in problem["message"]
    assert "127.0.0.1:1" in problem["message"] and "--scratch-server" in problem["fix"]


def test_an_edited_applied_migration_leaves_the_objects_unchecked(tmp_path, pg_server, db_url):
    project = write_project(tmp_path / "p", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    _applied(project, db_url)
    (project / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (id int, b int);\n")
    settings = resolve(database=db_url, project_dir=project, env={})
    (problem,) = commands.status(settings, check=True, scratch=pg_server.url()).problems
    assert (problem.kind, problem.subject) == ("unchecked", "0001_a")
    assert "edited or removed since applied" in problem.message


def test_an_interrupted_rollback_is_reported_as_unfinished_not_as_missing(tmp_path, pg_server,
                                                                          db_url):
    files = {"0001_uv.sql": "-- transactional: false\nCREATE TABLE u (id int);\n"
                            "CREATE TABLE v (id int);\n",
             "0001_uv.rollback.sql": "DROP TABLE v;\nDROP TABLE u;\n"}
    project = write_project(tmp_path / "p", files)
    _applied(project, db_url)
    query(db_url, "CREATE VIEW u_view AS SELECT * FROM u")  # makes DROP TABLE u fail
    result = run_mig(["rollback"], cwd=project, env={"MIG_DATABASE_URL": db_url})
    assert result.returncode != 0 and query(db_url, "SELECT to_regclass('v')") == [(None,)]
    # 0001_uv is still recorded as applied, v is gone: its unfinished run says why
    assert _problems(project, db_url, pg_server) == (EXIT_INCONSISTENT,
                                                     [("partial", "0001_uv")])


def test_the_history_is_built_on_the_embedded_server_by_default(tmp_path, db_url):
    project = write_project(tmp_path / "p", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    _applied(project, db_url)
    embedded = LocalServer(project / ".mig" / "pgdata")
    try:
        result = run_mig(["status", "--check"], cwd=project, env={"MIG_DATABASE_URL": db_url})
        assert result.returncode == 0, result.stdout + result.stderr
        # the build started the embedded server, and stopped it again: it was started for that
        assert (embedded.datadir / "PG_VERSION").exists() and not embedded.is_running()
        query(db_url, "DROP TABLE a")
        result = run_mig(["status", "--check"], cwd=project, env={"MIG_DATABASE_URL": db_url})
        assert result.returncode == EXIT_INCONSISTENT
        assert "table public.a is not in the database" in result.stdout
        assert not embedded.is_running()
    finally:
        run_mig(["db", "stop"], cwd=project)


PARTITIONED = {
    "0001_events.sql": """
        CREATE SCHEMA app;
        CREATE TABLE app.events (id bigint, at date NOT NULL, kind text, PRIMARY KEY (id, at))
            PARTITION BY RANGE (at);
        CREATE TABLE app.events_2024 PARTITION OF app.events
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE INDEX events_kind ON app.events (kind);
        CREATE STATISTICS app.events_stats ON id, kind FROM app.events;
        CREATE TABLE app.notes (id int);
        CREATE RULE keep AS ON DELETE TO app.notes DO INSTEAD NOTHING;
    """,
}


def test_partitions_rules_and_statistics_check_clean_and_their_loss_is_named(
        tmp_path, pg_server, db_url):
    project = write_project(tmp_path / "p", PARTITIONED)
    _applied(project, db_url)
    assert _problems(project, db_url, pg_server) == (0, [])
    query(db_url, "DROP TABLE app.events_2024; DROP RULE keep ON app.notes;"
                  " DROP STATISTICS app.events_stats")
    code, found = _problems(project, db_url, pg_server)
    assert code == EXIT_INCONSISTENT
    # the partition's own entry stands for its columns, key and index
    assert found == [("missing-object", name) for name in (
        "app.events_2024", "app.events_stats", "app.notes.keep")], found
