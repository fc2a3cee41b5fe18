"""Shared pieces of the benchmark: the server, fresh databases, timing and result rows."""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from mig.server import LocalServer, embedded_bindir

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    what: str
    figure: str
    reference: str
    ratio: str
    target: str
    met: bool | None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Bench:
    """One server for the whole run, and helpers to time things on it."""

    def __init__(self, tmp: Path, *, runs: int, quick: bool) -> None:
        self.tmp = tmp
        self.runs = runs
        self.quick = quick
        # the benchmark's throw-away server, on TCP: yoyo, one of the tools compared, reads
        # URLs itself and takes no socket path for a host
        self.server = LocalServer(tmp / "pgdata", listen_tcp=True,
                                  hba=["host all all 127.0.0.1/32 trust"])
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("MIG_", "PG")) and k != "DATABASE_URL"}

    def start(self) -> None:
        self.server.start()
        # mig's bytecode written as pip writes it when it installs a package (and as the other
        # tools compared have it in site-packages): a checkout run with PYTHONDONTWRITEBYTECODE
        # would otherwise compile mig's modules again in every timed process (~35 ms each)
        compileall.compile_dir(REPO / "mig", quiet=1)

    def stop(self) -> None:
        self.server.destroy()

    def server_version(self) -> str:
        conn = psycopg2.connect(self.server.url())
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return str(cur.fetchone()[0])
        finally:
            conn.close()

    # -- databases -------------------------------------------------------------------------
    def admin(self, sql: str, dbname: str | None = None) -> None:
        """Run ``sql`` outside a transaction, on ``dbname`` (default: the server's default)."""
        conn = psycopg2.connect(self.server.url(dbname or "postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def new_db(self) -> str:
        name = "b_" + uuid.uuid4().hex[:10]
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_db(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> str:
        return self.server.url(name)

    # -- timing ----------------------------------------------------------------------------
    def run(self, args: list[str], *, cwd: Path | None = None) -> float:
        """Wall time of one process, in seconds; raises if it fails."""
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=self.env, check=True, capture_output=True, text=True)
        return time.perf_counter() - started

    def median(self, measure: Callable[[], float], runs: int | None = None) -> float:
        return statistics.median(measure() for _ in range(runs or self.runs))

    def median_fresh(self, measure: Callable[[str], float], runs: int | None = None) -> float:
        """Median of ``measure(url)``, each run on a new empty database."""

        def once() -> float:
            name = self.new_db()
            try:
                return measure(self.url(name))
            finally:
                self.drop_db(name)

        return self.median(once, runs)

    # -- tools -----------------------------------------------------------------------------
    @property
    def python(self) -> str:
        return sys.executable

    @property
    def psql(self) -> str:
        return str(embedded_bindir() / "psql")

    def mig(self, *args: str) -> list[str]:
        return [self.python, "-m", "mig", *args]

    def yoyo(self, *args: str) -> list[str]:
        return [self.python, "-m", "yoyo", *args]


def ratio_row(what: str, value: float, reference: float, ref_name: str, limit: float,
              *, lower_is_better: bool = True) -> Row:
    ratio = value / reference if reference else float("inf")
    met = ratio <= limit if lower_is_better else ratio >= limit
    sign = "≤" if lower_is_better else "≥"
    return Row(what, ms(value), f"{ref_name} {ms(reference)}", f"{ratio:.2f}×",
               f"{sign} {limit}×", met)
