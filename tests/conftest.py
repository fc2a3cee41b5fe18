"""Shared fixtures of mig's own test suite: one real PostgreSQL server per test session.

The server is the embedded build by default; ``MIG_TEST_PG_BINDIR`` points at other binaries
(for example Debian's PostgreSQL 15 in ``/usr/lib/postgresql/15/bin``) to run the suite there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest

from mig.orphans import sweep_orphaned
from mig.placement import relocated_servers
from mig.server import FAST_UNSAFE_SETTINGS, LocalServer
from tests.support.server import PASSWORD, PASSWORD_ROLE, create_database, drop_database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run only when asked for (``-m long``, as .ci/run does after the
    default run): the default run stays short."""
    if "long" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="a long run: python -m pytest -m long (.ci/run runs it)")
    for item in items:
        if item.get_closest_marker("long") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _relocated_servers_removed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """As root, servers of projects in this session's temporary folders keep their data in
    /var/lib/mig/servers (the server's user cannot enter pytest's 0700 folders): removed at
    the end, as pytest removes its folders."""
    yield
    base = tmp_path_factory.getbasetemp()
    for requested in relocated_servers():
        if requested.is_relative_to(base):  # this session's
            LocalServer(requested).destroy()
    sweep_orphaned()  # and those of sessions whose folders pytest has removed since


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    bindir = os.environ.get("MIG_TEST_PG_BINDIR") or None
    server = LocalServer(
        tmp_path_factory.mktemp("pg") / "data",
        bindir=bindir,
        settings=FAST_UNSAFE_SETTINGS,
        # The suite's own throw-away server, on TCP so that tests can hand out plain URLs: one
        # role must give its password; every other role is trusted (unlike mig's default,
        # which has no TCP listener at all; tests/test_embedded_security.py).
        listen_tcp=True,
        hba=[f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256",
             "host all all 127.0.0.1/32 trust"],
    )
    server.start()
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN SUPERUSER PASSWORD %s", (PASSWORD,))
    conn.close()
    yield server
    server.destroy()


@pytest.fixture
def db_url(pg_server: LocalServer) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)
