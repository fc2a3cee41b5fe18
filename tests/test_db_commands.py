"""``mig db start``, ``status`` and ``reset``: the embedded server only, never a configured
database; the docs' example runs."""

from __future__ import annotations

import json

import psycopg2

from mig.errors import EXIT_USAGE
from tests.support import REPO, run_mig, write_project


def _ok(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _tables(url: str) -> list[str]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()


def test_start_status_and_reset_of_the_embedded_server(tmp_path, db_url):
    project = write_project(tmp_path / "p", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    try:
        before = json.loads(_ok(run_mig(["db", "status", "--json"], cwd=project)))
        assert before["running"] is False and before["version"] is None and before["url"] is None
        started = json.loads(_ok(run_mig(["db", "start", "--json"], cwd=project)))
        assert started["running"] is True and started["version"].isdigit()
        assert started["url"] == _ok(run_mig(["db", "url"], cwd=project)).strip()
        assert "embedded server: running" in _ok(run_mig(["db", "status"], cwd=project))
        _ok(run_mig(["apply"], cwd=project))
        assert "a" in _tables(started["url"])

        refused = run_mig(["db", "reset"], cwd=project)
        assert refused.returncode == EXIT_USAGE and "--yes" in refused.stderr
        assert "a" in _tables(started["url"])
        conn = psycopg2.connect(started["url"])  # a session left open does not stop it
        try:
            _ok(run_mig(["db", "reset", "--yes"], cwd=project))
        finally:
            conn.close()
        assert _tables(started["url"]) == []
        assert "1 applied" not in _ok(run_mig(["status"], cwd=project))

        # a configured database is never started, described or reset as the embedded one
        for verb in (["start"], ["status"], ["reset", "--yes"]):
            result = run_mig(["db", *verb, "-d", db_url], cwd=project)
            assert result.returncode == EXIT_USAGE, (verb, result.stdout, result.stderr)
            assert "a database is configured" in result.stderr
    finally:
        run_mig(["db", "stop"], cwd=project)
    stopped = json.loads(_ok(run_mig(["db", "status", "--json"], cwd=project)))
    assert stopped["running"] is False and stopped["version"] is not None


def test_the_db_example_of_the_docs_runs(tmp_path):
    text = (REPO / "docs" / "cli.md").read_text()
    block = text.split("`mig db start`, `status` and `reset` are about", 1)[1]
    block = block.split("```sh\n", 1)[1].split("```", 1)[0]
    project = write_project(tmp_path / "p", {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    try:
        for line in block.strip().splitlines():
            args = line.split("#", 1)[0].split()
            assert args[0] == "mig"
            _ok(run_mig(args[1:], cwd=project))
    finally:
        run_mig(["db", "stop"], cwd=project)
