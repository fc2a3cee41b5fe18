"""The plugin's fixtures in this repository's own test session, on the product schema.

The tests named in docs/testing.md are its examples, as written there (tests/test_testing_docs.py
keeps them in sync).
"""

from __future__ import annotations

import psycopg2
import pytest

from mig import commands
from mig.engine.scratch import Owned
from mig.errors import MigError
from mig.testing.pool import POOL_PREFIX
from tests.support import REPO, query

pytest_plugins = ["pytester"]

# Two tests in one run, in this order, on one mig_conn database: the second must not see the
# first's row.
ONE_AFTER_THE_OTHER = """
def users(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE email = 'a@b.example'")
        return cur.fetchone()[0]

def test_writes(mig_conn):
    with mig_conn.cursor() as cur:
        cur.execute("INSERT INTO users (email, full_name) VALUES ('a@b.example', 'A')")
    assert users(mig_conn) == 1

def test_then_finds_nothing(mig_conn):
    assert users(mig_conn) == 0
"""


def test_owner_role_exists(mig_db):
    with mig_db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM roles WHERE key = 'owner'")
        assert cur.fetchone() == ("Owner",)


def test_fastest(mig_conn):  # one transaction, rolled back after the test
    with mig_conn.cursor() as cur:
        cur.execute("SELECT name FROM roles WHERE key = 'owner'")  # migrated and seeded
        assert cur.fetchone() == ("Owner",)
        cur.execute("INSERT INTO users (email, full_name) VALUES ('a@b.example', 'A')")
        assert cur.rowcount == 1


def test_a_tests_rows_are_gone_for_the_next_test(pytester, mig_server, monkeypatch):
    # A run of its own on this session's server (the product's template is found there), whose
    # tests run in the order written, one after the other in one process.
    for var in ("MIG_TEST_SERVER", "MIG_TEST_URL", "MIG_TEST_SEED_ENV", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(test_order=ONE_AFTER_THE_OTHER)
    before = {name for (name,) in query(mig_server.url(), "SELECT datname FROM pg_database")}
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-v", f"--rootdir={REPO}",
        "--mig-server", "url", "--mig-url", mig_server.url(), "test_order.py")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*::test_writes PASSED*", "*::test_then_finds_nothing PASSED*"])
    assert _left_by_the_run(mig_server.url(), before) == set()  # the run dropped its databases


def _left_by_the_run(url: str, before: set[str]) -> set[str]:
    """The databases made since ``before`` but those of this session's own pool, which refills
    in the background meanwhile (a pool database names its session's server process, alive)."""
    live = {pid for (pid,) in query(url, "SELECT pid FROM pg_stat_activity")}
    kind = Owned(POOL_PREFIX, "test database", "a test session that ended")
    made = {name for (name,) in query(url, "SELECT datname FROM pg_database")} - before
    return {name for name in made if kind.owner(name)[1] not in live}


def test_system_config_migration(mig_make_db):
    # the database just before the migration under test
    db = mig_make_db(to="20260207_120000_integrations_and_entitlements")
    commands.apply(db.settings(), to="20260208_120000_system_config_and_audit_logs")
    with db.connect() as conn, conn.cursor() as cur:  # after it
        cur.execute("SELECT count(*) FROM system_config")
        assert cur.fetchone() == (0,)
    commands.rollback(db.settings())  # and its rollback
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('system_config')")
        assert cur.fetchone() == (None,)


def test_the_server_is_recent_enough(mig_server):
    conn = psycopg2.connect(mig_server.url())  # its maintenance database
    try:
        assert conn.server_version >= 130000, mig_server.masked_url()
    finally:
        conn.close()


def test_the_template_builds_quickly(mig_template):
    # A new server each session, so this process built the template (on a server that
    # outlives sessions, found ready: built False and build_seconds 0)
    assert mig_template.built
    assert mig_template.build_seconds < 60, mig_template.name


def test_the_template_is_the_whole_product(mig_template, mig_db):
    assert mig_template.name.startswith("mig_tpl_")
    status = commands.status(mig_db.settings())
    assert status.current and status.applied
    with mig_db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT key FROM roles WHERE organization_id IS NULL ORDER BY key")
        assert [r[0] for r in cur.fetchall()] == ["admin", "member", "owner"]
        cur.execute("SELECT count(*) FROM system_config")
        assert cur.fetchone()[0] > 0


def test_the_dev_seeds_on_request(mig_make_db):
    db = mig_make_db(seed_env="dev")
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE email LIKE '%@acme.example'")
        assert cur.fetchone()[0] >= 1


def test_mig_conn_refuses_to_commit(mig_conn):
    with pytest.raises(MigError, match="use the mig_db fixture"):
        mig_conn.commit()
    with pytest.raises(MigError):
        mig_conn.set_session(autocommit=True)
