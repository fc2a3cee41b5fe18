"""``mig wait``: block until the database is at the newest migration, or give up clearly."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import EXIT_FAILURE, EXIT_PENDING, NotAtHead
from tests.support import TWO_MIGRATIONS as MIGRATIONS
from tests.support import drop_database, query, run_mig, write_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, MIGRATIONS)


def _start_wait(project, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mig", "wait", "-d", url, "--interval", "0.2", *args],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_returns_at_once_when_the_database_is_current(project, db_url):
    assert run_mig(["apply", "-d", db_url], cwd=project).returncode == 0
    started = time.monotonic()
    result = run_mig(["wait", "-d", db_url, "--timeout", "30"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    assert "the database is at the newest migration (2 applied)" in result.stdout


def _first_line(waiter: subprocess.Popen[str]) -> str:
    """The waiter's first progress line: printed after its first check, so it is waiting."""
    assert waiter.stderr is not None
    return waiter.stderr.readline()


def test_blocks_until_the_migration_job_has_applied_everything(project, db_url):
    waiter = _start_wait(project, db_url, "--timeout", "60")
    try:
        first = _first_line(waiter)
        assert waiter.poll() is None  # still waiting: nothing is applied
        assert run_mig(["apply", "-d", db_url], cwd=project).returncode == 0
        out, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    assert first.startswith(
        "waiting: the database is not at the newest migration (pending: 0001_a, 0002_b")
    # Each state is said once, not at every check. A check may fall between the two
    # migrations' commits and see 0001_a applied: a new state, so a second line.
    lines = [first.rstrip("\n"), *(ln for ln in err.splitlines() if ln.startswith("waiting:"))]
    assert all(a != b for a, b in zip(lines, lines[1:]))
    assert "at the newest migration (2 applied)" in out


def test_gives_up_after_the_timeout_with_exit_code_4(project, db_url):
    assert run_mig(["apply", "-d", db_url, "--to", "0001_a"], cwd=project).returncode == 0
    started = time.monotonic()
    result = run_mig(["wait", "-d", db_url, "--timeout", "1", "--interval", "0.2"], cwd=project)
    elapsed = time.monotonic() - started
    assert result.returncode == EXIT_PENDING
    assert "error: gave up after 1 s: the database is not at the newest migration " \
        "(pending: 0002_b; edited: none)" in result.stderr
    assert "check that it ran and succeeded" in result.stderr
    assert elapsed < 15


def test_an_edited_migration_is_not_current(project, db_url):
    assert run_mig(["apply", "-d", db_url], cwd=project).returncode == 0
    (project / "migrations" / "0002_b.sql").write_text(
        "-- depends: 0001_a\nCREATE TABLE b (id bigint);\n")
    result = run_mig(["wait", "-d", db_url, "--timeout", "0"], cwd=project)
    assert result.returncode == EXIT_PENDING
    assert "edited: 0002_b" in result.stderr


def test_an_unreachable_database_is_waited_for_then_reported(project):
    result = run_mig(["wait", "-d", "postgresql://postgres@127.0.0.1:1/x", "--timeout", "0.5",
                      "--interval", "0.2"], cwd=project)
    assert result.returncode == EXIT_FAILURE
    assert "gave up after 0.5 s: cannot connect to postgresql://postgres@127.0.0.1:1/x" in (
        result.stderr)
    assert "Traceback" not in result.stderr


def test_waits_through_a_database_that_does_not_exist_yet(project, pg_server):
    # As when the application's pods start before the database is even created.
    name = f"w_{uuid.uuid4().hex[:12]}"
    url = pg_server.url(name)
    waiter = _start_wait(project, url, "--timeout", "60")
    try:
        first = _first_line(waiter)
        assert waiter.poll() is None
        query(pg_server.url(), f"CREATE DATABASE {name}")
        assert run_mig(["apply", "-d", url], cwd=project).returncode == 0
        _, err = waiter.communicate(timeout=30)
    finally:
        waiter.kill()
        drop_database(pg_server, name)
    assert waiter.returncode == 0, err
    assert first.startswith(f"waiting: cannot connect to {url}: ") and "does not exist" in first


def test_the_verb_raises_not_at_head(project, db_url):
    settings = resolve(database=db_url, project_dir=project, env={})
    lines: list[str] = []
    with pytest.raises(NotAtHead, match="gave up after 0.3 s"):
        commands.wait(settings, timeout=0.3, interval=0.1, report=lines.append)
    assert lines == ["waiting: the database is not at the newest migration "
                     "(pending: 0001_a, 0002_b; edited: none)"]
    commands.apply(settings)
    assert commands.wait(settings, timeout=0).current


def test_allow_newer_accepts_what_a_newer_release_applied(project, db_url, tmp_path):
    assert run_mig(["apply", "-d", db_url], cwd=project).returncode == 0
    # the previous release knows 0001_a only (the application was rolled back to it)
    previous = write_project(tmp_path / "previous", {
        k: v for k, v in MIGRATIONS.items() if k.startswith("0001")})
    result = run_mig(["wait", "-d", db_url, "--timeout", "0"], cwd=previous)
    assert result.returncode == EXIT_PENDING and "edited: 0002_b" in result.stderr
    result = run_mig(["wait", "-d", db_url, "--timeout", "0", "--allow-newer"], cwd=previous)
    assert result.returncode == 0, result.stderr
    assert "every migration of this release (2 applied), and newer ones not on disk: 0002_b" in (
        result.stdout)
    # a missing migration older than one on disk was deleted, not added by a newer release
    later = write_project(tmp_path / "gap", {
        k: v.replace("-- depends: 0001_a\n", "") for k, v in MIGRATIONS.items()
        if k.startswith("0002")})
    result = run_mig(["wait", "-d", db_url, "--timeout", "0", "--allow-newer"], cwd=later)
    assert result.returncode == EXIT_PENDING and "edited: 0001_a" in result.stderr
    # and what this release has must still be unchanged
    (previous / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (id bigint);\n")
    result = run_mig(["wait", "-d", db_url, "--timeout", "0", "--allow-newer"], cwd=previous)
    assert result.returncode == EXIT_PENDING and "edited: 0001_a" in result.stderr
