"""The test server's databases and the role that must give a password."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2

from mig.server import LocalServer

PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")
PASSWORD_ROLE = "mig_pw"
PASSWORD = "S3cret-Pa55word!"  # searched for in every output by the secrets tests


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
