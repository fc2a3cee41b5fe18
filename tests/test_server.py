from __future__ import annotations

import os

import psycopg2
import pytest

from mig.errors import ServerError
from mig.server import LocalServer, embedded_bindir
from tests.support import PG15_BINDIR


def _version(url: str) -> int:
    conn = psycopg2.connect(url)
    try:
        return int(conn.server_version)
    finally:
        conn.close()


def test_start_reuse_stop(tmp_path):
    server = LocalServer(tmp_path / "data")
    server.start()
    try:
        url = server.url()
        assert _version(url) >= 180000
        # a second start finds the running server and keeps its port
        again = LocalServer(tmp_path / "data").start()
        assert again.url() == url
    finally:
        assert server.stop() is True
    assert not server.is_running()
    assert server.stop() is False
    # data survives a restart
    server.start()
    try:
        assert _version(server.url()) >= 180000
    finally:
        server.destroy()
    assert not (tmp_path / "data").exists()


@pytest.mark.skipif(not PG15_BINDIR.exists(), reason="Debian's postgresql-15 is not installed")
def test_other_binaries(tmp_path):
    with LocalServer(tmp_path / "data", bindir=PG15_BINDIR) as server:
        assert 150000 <= _version(server.url()) < 160000


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user is only used when running as root")
def test_binaries_under_a_folder_closed_to_others(tmp_path):
    # A Python installed in root's home (pyenv) keeps the embedded binaries under a folder
    # that other users cannot enter; the server user must still reach them.
    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    (closed / "pginstall").symlink_to(embedded_bindir().parent)
    with LocalServer(tmp_path / "data", bindir=closed / "pginstall" / "bin") as server:
        assert _version(server.url()) >= 180000


def test_missing_binaries_are_a_clear_error(tmp_path):
    bindir = tmp_path / "no-such-install" / "bin"
    bindir.mkdir(parents=True)
    expected = r"not a PostgreSQL installation: no initdb, pg_ctl, postgres"
    with pytest.raises(ServerError, match=expected) as info:
        LocalServer(tmp_path / "data", bindir=bindir).start()
    assert "hint:" in str(info.value)


def test_binaries_that_cannot_run_are_a_clear_error(tmp_path):
    bindir = tmp_path / "broken-install" / "bin"
    bindir.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (bindir / tool).write_text("not a program\n")
        (bindir / tool).chmod(0o644)
    with pytest.raises(ServerError, match=r"cannot run .*initdb.*Permission denied"):
        LocalServer(tmp_path / "data", bindir=bindir).start()
