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
    server = LocalServer(tmp_path / "data", bindir=PG15_BINDIR)
    try:
        assert 150000 <= _version(server.start().url()) < 160000
    finally:
        server.destroy()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user is only used when running as root")
def test_binaries_under_a_folder_closed_to_others(tmp_path):
    # A Python installed in root's home (pyenv) keeps the embedded binaries under a folder
    # that other users cannot enter; the server user must still reach them.
    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    (closed / "pginstall").symlink_to(embedded_bindir().parent)
    bindir = closed / "pginstall" / "bin"
    server = LocalServer(tmp_path / "data", bindir=bindir)
    try:
        assert _version(server.start().url()) >= 180000
        # it runs from a copy mig made, and the closed folder is as it was
        pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
        assert os.readlink(f"/proc/{pid}/exe").startswith("/var/lib/mig/postgres/")
        assert closed.stat().st_mode & 0o777 == 0o700
        # another process (mig db stop) stops it with the same copy
        assert LocalServer(tmp_path / "data", bindir=bindir).stop()
        assert not server.is_running()
    finally:
        server.destroy()


def test_missing_binaries_are_a_clear_error(tmp_path):
    bindir = tmp_path / "no-such-install" / "bin"
    bindir.mkdir(parents=True)
    expected = r"not a PostgreSQL installation: no initdb, pg_ctl, postgres"
    server = LocalServer(tmp_path / "data", bindir=bindir)
    with pytest.raises(ServerError, match=expected) as info:
        server.start()
    assert "hint:" in str(info.value)
    server.destroy()


def test_binaries_that_cannot_run_are_a_clear_error(tmp_path):
    bindir = tmp_path / "broken-install" / "bin"
    bindir.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (bindir / tool).write_text("not a program\n")
        (bindir / tool).chmod(0o644)
    server = LocalServer(tmp_path / "data", bindir=bindir)
    with pytest.raises(ServerError, match=r"cannot run .*initdb.*Permission denied"):
        server.start()
    server.destroy()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server user is only used when running as root")
def test_a_data_folder_left_by_a_deleted_server_user_is_taken_over(tmp_path):
    """The system user deleted and created again gets another id: its old data folder, owned
    by an id that no longer exists, is mig's own and is given to the new user."""
    import pwd

    orphan = 4_100_000 + os.getpid() % 1000
    with pytest.raises(KeyError):
        pwd.getpwuid(orphan)
    server = LocalServer(tmp_path / "data")
    try:
        server.start()
        server.stop()
        for root, dirs, files in os.walk(server.datadir):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(root, name), orphan, orphan)
        os.chown(server.datadir, orphan, orphan)
        assert _version(server.start().url()) >= 180000
    finally:
        server.destroy()
