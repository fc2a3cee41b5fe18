"""Connections: the default connect timeout, errors that name the fix, the embedded database."""

from __future__ import annotations

import contextlib
import socket
import time
import uuid

import pytest

from mig.dsn import Dsn
from mig.engine import connect as db
from mig.errors import DatabaseUnavailable
from tests.support import drop_database, query, run_mig, write_project


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # the kernel completes the handshakes; nobody ever answers
        yield sock.getsockname()[1]


@pytest.mark.parametrize("where", ["url", "PGCONNECT_TIMEOUT"])
def test_a_server_that_never_answers_times_out(tmp_path, silent_port, where):
    project = write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    url = f"postgresql://postgres@127.0.0.1:{silent_port}/db"
    env = {}
    if where == "url":
        url += "?connect_timeout=2"
    else:
        env["PGCONNECT_TIMEOUT"] = "2"
    started = time.monotonic()
    result = run_mig(["status", "-d", url], cwd=project, env=env, timeout=60)
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert "the server did not answer within 2s" in result.stderr
    assert "connect_timeout" in result.stderr and "Traceback" not in result.stderr


def _effective_timeout(dsn: Dsn) -> str | None:
    conn = db.connect(dsn)
    try:
        return conn.get_dsn_parameters().get("connect_timeout")
    finally:
        conn.close()


def test_connect_timeout_defaults_to_ten_seconds_unless_set(pg_server, monkeypatch):
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    url = pg_server.url()
    assert db.DEFAULT_CONNECT_TIMEOUT == 10
    assert _effective_timeout(Dsn.parse(url)) == "10"
    assert _effective_timeout(Dsn.parse(url + "?connect_timeout=7")) == "7"
    assert _effective_timeout(Dsn.parse(url + "?connect_timeout=0")) == "0"  # 0: wait forever
    assert _effective_timeout(Dsn.parse(f"host=127.0.0.1 port={pg_server.port} user=postgres"
                                        " dbname=postgres connect_timeout=3")) == "3"
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
    assert _effective_timeout(Dsn.parse(url)) == "5"


def test_a_missing_role_gets_a_hint(tmp_path, pg_server):
    project = write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    url = f"postgresql://nobody@127.0.0.1:{pg_server.port}/postgres"
    result = run_mig(["status", "-d", url], cwd=project)
    assert result.returncode == 1
    assert 'role "nobody" does not exist' in result.stderr
    assert "hint: there is no role 'nobody' on this server" in result.stderr
    assert 'CREATE ROLE "nobody" LOGIN' in result.stderr and "PGUSER" in result.stderr
    # without a user in the URL, libpq's default (the OS user or PGUSER) is named as the source
    url = f"postgresql://127.0.0.1:{pg_server.port}/postgres"
    result = run_mig(["status", "-d", url], cwd=project, env={"PGUSER": "nobody"})
    assert "there is no role 'nobody' on this server (taken from PGUSER)" in result.stderr


class _Server:
    """What ``mig.engine.connect._ensure_database`` needs of the embedded server, at a port."""

    def __init__(self, port: int, real=None) -> None:
        self.port, self.real, self.datadir = port, real, "/nowhere"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def locked(self):
        return self.real.locked() if self.real else contextlib.nullcontext()


def test_creating_the_embedded_database_reports_connection_errors_clearly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    with pytest.raises(DatabaseUnavailable) as info:
        db._ensure_database(_Server(port), "mig")
    assert "Connection refused" in str(info.value)
    assert "is the server running" in str(info.value)


def test_the_embedded_database_is_created_without_tls(pg_server, monkeypatch):
    """The embedded server has no TLS; a PGSSLMODE meant for other servers does not apply."""
    monkeypatch.setenv("PGSSLMODE", "require")
    name = "t_" + uuid.uuid4().hex[:12]
    server = _Server(pg_server.port, pg_server)
    try:
        db._ensure_database(server, name)
        db._ensure_database(server, name)  # and finds it the second time
        assert db.embedded_dsn(server, name).get("sslmode") == "disable"
        monkeypatch.delenv("PGSSLMODE")
        assert query(pg_server.url(), "SELECT count(*) FROM pg_database WHERE datname = %s",
                     (name,)) == [(1,)]
    finally:
        drop_database(pg_server, name)
