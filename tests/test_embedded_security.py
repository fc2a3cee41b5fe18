"""The embedded server admits only its owner: another local user, run for real, can neither
connect (TCP or socket) nor read the data folder or the log; mig changes the permissions of no
folder it did not create (docs/security.md, "The embedded server").

The second user is ``nobody`` (``runuser``, as root). Where mig runs as an ordinary user, that
user is ``nobody`` too and the second one ``daemon``.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mig.placement import scratch_folder, system_user
from mig.server import LocalServer
from tests.support import REPO, copy_shipped_project, query, run_mig

PSQL = Path("/usr/bin/psql")
RUNUSER = shutil.which("runuser") or ""
SECRET_VALUE = "the-seed-secret-4711"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not RUNUSER or not _user_exists("nobody")
    or not _user_exists("daemon") or not PSQL.exists(),
    reason="needs root (to run commands as a second, real user with runuser), the users "
    "nobody and daemon, and psql (/usr/bin/psql)")


def as_user(user: str, args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8",
           **kwargs.pop("env", {})}
    return subprocess.run([RUNUSER, "-u", user, "--", *args], capture_output=True,
                          text=True, timeout=60, env=env, **kwargs)


def _project(root: Path) -> Path:
    return copy_shipped_project(root / "project")


def _attempts(attacker: str, datadir: Path) -> dict[str, subprocess.CompletedProcess]:
    """What a second local user tries against the owner's running server."""
    logfile = datadir.parent / (datadir.name + ".log")
    lines = (datadir / "postmaster.pid").read_text().splitlines()
    port, socket_dir = lines[3], lines[4].strip() or "/tmp"
    command = "COPY (SELECT 1) TO PROGRAM 'id'"
    return {
        "tcp": as_user(attacker, [str(PSQL), f"host=127.0.0.1 port={port} user=postgres "
                                  "dbname=postgres connect_timeout=5", "-c", command]),
        "socket": as_user(attacker, [str(PSQL), f"host={socket_dir} port={port} "
                                     "user=postgres dbname=postgres", "-c", command]),
        "data folder": as_user(attacker, ["ls", str(datadir)]),
        "data file": as_user(attacker, ["cat", str(datadir / "PG_VERSION")]),
        "log": as_user(attacker, ["cat", str(logfile)]),
    }


def _assert_refused(attempts: dict[str, subprocess.CompletedProcess]) -> None:
    for what, result in attempts.items():
        assert result.returncode != 0, f"{what}: {result.stdout}{result.stderr}"
        assert "uid=" not in result.stdout, what
    assert re.search(r"Connection refused|could not connect", attempts["tcp"].stderr)
    assert re.search(r"Permission denied|No such file", attempts["socket"].stderr)
    for what in ("data folder", "data file", "log"):
        assert "Permission denied" in attempts[what].stderr, attempts[what].stderr


@pytest.fixture
def root_project(tmp_path) -> Iterator[Path]:
    project = _project(tmp_path)
    yield project
    run_mig(["db", "stop"], cwd=project)
    LocalServer(project / ".mig" / "pgdata").destroy()


def test_a_second_local_user_cannot_reach_roots_embedded_server(root_project):
    result = run_mig(["apply", "--seed", "-q"], cwd=root_project)
    assert result.returncode == 0, result.stderr
    server = LocalServer(root_project / ".mig" / "pgdata")
    assert server.is_running()
    _assert_refused(_attempts("nobody", server.datadir))
    # the owner gets in with what 'mig db url' prints, through psql
    url = run_mig(["db", "url"], cwd=root_project).stdout.strip()
    owner = subprocess.run([str(PSQL), url, "-Atc", "SELECT count(*) FROM roles"],
                           capture_output=True, text=True, timeout=60)
    assert owner.returncode == 0 and int(owner.stdout) >= 3, owner.stderr
    assert "127.0.0.1" not in url


def test_the_server_runs_without_roots_groups(root_project):
    assert run_mig(["apply", "-q"], cwd=root_project).returncode == 0
    server = LocalServer(root_project / ".mig" / "pgdata")
    pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    user = system_user()
    assert status["Uid"].split()[0] == str(user.pw_uid)
    assert status["Gid"].split() == [str(user.pw_gid)] * 4
    assert status["Groups"].split() in ([], [str(user.pw_gid)])


def test_the_data_folder_and_log_are_the_owners_alone(root_project):
    assert run_mig(["apply", "-q"], cwd=root_project).returncode == 0
    server = LocalServer(root_project / ".mig" / "pgdata")
    assert stat.S_IMODE(server.datadir.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.logfile.stat().st_mode) == 0o600
    # a failing statement's values stay out of the log (and the log is the owner's anyway)
    url = run_mig(["db", "url"], cwd=root_project).stdout.strip()
    failing = subprocess.run(
        [str(PSQL), url, "-c", "INSERT INTO system_config (key, value) VALUES "
         f"(NULL, to_jsonb('{SECRET_VALUE}'::text))"], capture_output=True, text=True)
    assert failing.returncode != 0 and "null value" in failing.stderr
    assert SECRET_VALUE not in server.logfile.read_text()
    assert "Permission denied" in as_user("nobody", ["cat", str(server.logfile)]).stderr


def test_folders_mig_did_not_create_keep_their_permissions(tmp_path):
    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    project = _project(closed)
    before = {p: stat.S_IMODE(p.stat().st_mode) for p in [project, closed, *closed.parents]}
    try:
        result = run_mig(["apply", "-q"], cwd=project)
        assert result.returncode == 0, result.stderr
        after = {p: stat.S_IMODE(p.stat().st_mode) for p in before}
        assert after == before
        server = LocalServer(project / ".mig" / "pgdata")
        assert server.relocated and server.is_running()
        assert str(server.datadir).startswith("/var/lib/mig/servers/pgdata-")
        assert (server.datadir.parent / "origin").read_text().strip() == str(server.requested)
        url = run_mig(["db", "url"], cwd=project).stdout.strip()
        assert "users" in {r[0] for r in query(url, "SELECT tablename FROM pg_tables")}
        _assert_refused(_attempts("nobody", server.datadir))
    finally:
        run_mig(["db", "stop"], cwd=project)
        LocalServer(project / ".mig" / "pgdata").destroy()


@pytest.fixture
def ordinary_project() -> Iterator[Path]:
    """A project owned by ``nobody``, in a folder it can reach."""
    folder = scratch_folder("mig-ordinary-")
    project = _project(folder)
    nobody = pwd.getpwnam("nobody")
    for path in [project, *project.rglob("*")]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    yield project
    as_user("nobody", [sys.executable, "-m", "mig", "db", "stop"], cwd=project,
            env={"PYTHONPATH": str(REPO)})
    shutil.rmtree(folder, ignore_errors=True)


def test_an_ordinary_users_embedded_server_admits_no_other_user(ordinary_project):
    python = as_user("nobody", [sys.executable, "-c", "import mig, psycopg2"],
                     env={"PYTHONPATH": str(REPO)})
    if python.returncode != 0:
        pytest.skip(f"nobody cannot run this Python ({sys.executable}): {python.stderr}")
    env = {"PYTHONPATH": str(REPO)}
    result = as_user("nobody", [sys.executable, "-m", "mig", "apply", "--seed", "-q"],
                     cwd=ordinary_project, env=env)
    assert result.returncode == 0, result.stderr
    status = as_user("nobody", [sys.executable, "-m", "mig", "status", "--exit-code"],
                     cwd=ordinary_project, env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    datadir = ordinary_project / ".mig" / "pgdata"  # the server runs as nobody, in place
    assert datadir.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert stat.S_IMODE(datadir.parent.stat().st_mode) == 0o700  # .mig: the owner's alone
    _assert_refused(_attempts("daemon", datadir))
    url = as_user("nobody", [sys.executable, "-m", "mig", "db", "url"],
                  cwd=ordinary_project, env=env).stdout.strip()
    owner = as_user("nobody", [str(PSQL), url, "-Atc", "SELECT count(*) FROM roles"])
    assert owner.returncode == 0 and int(owner.stdout) >= 3, owner.stderr
