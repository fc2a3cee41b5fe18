"""Helpers for tests: migration folders written on the fly and mig run as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[2]  # the repository: tests/support/ is two below


def copy_shipped_project(root: Path, *, seeds: bool = True) -> Path:
    """The repository's own project (yoyo.ini, migrations and, unless ``seeds=False``, seeds)
    copied into ``root`` (created if missing)."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "yoyo.ini", root / "yoyo.ini")
    for name in ("migrations", "seeds") if seeds else ("migrations",):
        shutil.copytree(REPO / name, root / name)
    return root


#: Three migrations, each depending on the one before, each creating a table its rollback drops.
CHAIN_OF_THREE = {
    "0001_a.sql": "CREATE TABLE a (id int);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_b.sql": "-- depends: 0001_a\nCREATE TABLE b (id int);\n",
    "0002_b.rollback.sql": "DROP TABLE b;\n",
    "0003_c.sql": "-- depends: 0002_b\nCREATE TABLE c (id int);\n",
    "0003_c.rollback.sql": "DROP TABLE c;\n",
}


def write_project(root: Path, migrations: dict[str, str], *, ini: str | None = None) -> Path:
    """A project folder with yoyo.ini and the given migration files (name -> content)."""
    folder = root / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "yoyo.ini").write_text(
        ini
        or "[DEFAULT]\nsources = %(here)s/migrations\nmigration_table = _yoyo_migration\n"
    )
    for name, content in migrations.items():
        (folder / name).write_text(textwrap.dedent(content).lstrip())
    return root


# Two tables, each migration with its rollback: the smallest history with an order.
TWO_MIGRATIONS = {
    "0001_a.sql": "CREATE TABLE a (id int);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_b.sql": "-- depends: 0001_a\nCREATE TABLE b (id int);\n",
    "0002_b.rollback.sql": "DROP TABLE b;\n",
}


def run_mig(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    full_env.pop("DATABASE_URL", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mig", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def query(url: str, sql: str, params: tuple | dict | None = None) -> list[tuple]:
    """Rows of one statement in its own autocommit connection (``%`` needs doubling only
    when ``params`` are given)."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def tables(url: str) -> set[str]:
    return {r[0] for r in query(
        url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` until it returns something true (returned), or fail after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached in {timeout:g} s")
