"""Shared fixtures of mig's own test suite: one real PostgreSQL server per test session.

The server is the embedded build by default; ``MIG_TEST_PG_BINDIR`` points at other binaries
(for example Debian's PostgreSQL 15 in ``/usr/lib/postgresql/15/bin``) to run the suite there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from mig.server import FAST_UNSAFE_SETTINGS, LocalServer

REPO = Path(__file__).resolve().parent.parent
PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")
PASSWORD_ROLE = "mig_pw"
PASSWORD = "S3cret-Pa55word!"  # searched for in every output by the secrets tests


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


def create_database(server: LocalServer) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def drop_database(server: LocalServer, name: str) -> None:
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def db_url(pg_server: LocalServer) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)
