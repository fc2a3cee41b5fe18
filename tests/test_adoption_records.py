"""`mig status` tells how each applied migration came to be recorded: run by mig, marked by a
baseline, or adopted from plain yoyo (read from the `_mig_log` events)."""

from __future__ import annotations

import getpass
import json
import socket

import psycopg2

from mig import commands
from mig.config import resolve
from tests.support import run_mig, write_project

THREE = {
    "0001_a.sql": "CREATE TABLE a (id int);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_b.sql": "-- depends: 0001_a\nCREATE TABLE b (id int);\n",
    "0002_b.rollback.sql": "DROP TABLE b;\n",
    "0003_c.sql": "-- depends: 0002_b\nCREATE TABLE c (id int);\n",
    "0003_c.rollback.sql": "DROP TABLE c;\n",
}


def _status(project, url: str) -> tuple[dict[str, dict], list[str]]:
    as_json = run_mig(["status", "--json", "-d", url], cwd=project)
    assert as_json.returncode == 0, as_json.stderr
    text = run_mig(["status", "-d", url], cwd=project)
    assert text.returncode == 0, text.stderr
    return ({a["id"]: a for a in json.loads(as_json.stdout)["applied"]},
            text.stdout.splitlines())


def _row(lines: list[str], mid: str) -> list[str]:
    line = next(line for line in lines if f" {mid} " in line or line.endswith(f" {mid}"))
    return line.split()


def test_baselined_adopted_and_run_migrations_are_told_apart(tmp_path, db_url, pg_server):
    from yoyo import get_backend, read_migrations

    project = write_project(tmp_path / "project", THREE)
    conn = psycopg2.connect(db_url)  # the old system built 0001 by hand
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id int)")
    conn.close()
    done = run_mig(["baseline", "--to", "0001_a", "-d", db_url, "--scratch-server",
                    pg_server.url()], cwd=project)
    assert done.returncode == 0, done.stderr
    backend = get_backend(db_url)  # plain yoyo applies 0002
    with backend.lock():
        backend.apply_migrations(backend.to_apply(read_migrations(
            str(project / "migrations")).filter(lambda m: m.id == "0002_b")))
    backend.connection.close()
    settings = resolve(project_dir=project, database=db_url, env={})
    assert commands.apply(settings).adopted == ["0002_b"]  # and runs 0003

    applied, lines = _status(project, db_url)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    assert applied["0001_a"]["recorded"] == "baseline"
    assert applied["0001_a"]["recorded_by"] == who and applied["0001_a"]["recorded_at"]
    assert applied["0002_b"]["recorded"] == "adopt"
    assert applied["0002_b"]["recorded_by"] == who
    assert applied["0003_c"]["recorded"] == "run" and "recorded_by" not in applied["0003_c"]
    baselined = _row(lines, "0001_a")
    assert baselined[0] == "baselined" and baselined[-3:] == ["mig", "baseline", f"({who})"]
    adopted = _row(lines, "0002_b")
    assert adopted[0] == "adopted" and adopted[-4:] == ["adopted", "by", "mig", f"({who})"]
    assert _row(lines, "0003_c")[0] == "applied"
    assert ("3 applied (1 baselined: recorded, not run) (1 adopted from plain yoyo), "
            "0 pending, 0 edited, 0 unfinished") in lines

    # rolled back and applied again by mig: run by mig from then on
    commands.rollback(settings, steps=3, yes=True)
    commands.apply(settings)
    applied, lines = _status(project, db_url)
    assert {a["recorded"] for a in applied.values()} == {"run"}
    assert [_row(lines, m)[0] for m in ("0001_a", "0002_b", "0003_c")] == ["applied"] * 3
