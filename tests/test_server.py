from __future__ import annotations

import psycopg2
import pytest

from mig.server import LocalServer
from tests.conftest import PG15_BINDIR


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
