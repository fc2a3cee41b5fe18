"""Shared fixtures of mig's own test suite: one real PostgreSQL server per test session.

The server is the embedded build by default; ``MIG_TEST_PG_BINDIR`` points at other binaries
(for example Debian's PostgreSQL 15 in ``/usr/lib/postgresql/15/bin``) to run the suite there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest

from mig.server import FAST_UNSAFE_SETTINGS, LocalServer
from tests.support.server import PASSWORD, PASSWORD_ROLE, create_database, drop_database


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    bindir = os.environ.get("MIG_TEST_PG_BINDIR") or None
    server = LocalServer(
        tmp_path_factory.mktemp("pg") / "data",
        bindir=bindir,
        settings=FAST_UNSAFE_SETTINGS,
        # one role that must give its password over TCP; every other role is trusted
        hba=[f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256"],
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
