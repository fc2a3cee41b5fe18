"""Section: the warm pool of test databases — per-test cost of mig_db, mig_conn and
pytest-postgresql's ``postgresql`` fixture in a downstream project, and the clone strategies."""

from __future__ import annotations

import importlib.util
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from bench.common import REPO, Bench, Row, ms
from mig.server import FAST_UNSAFE_SETTINGS, LocalServer

# A downstream project's tests: each variant N times. "work" is what a test of the code under
# test does with its database: connect, insert a row, commit, disconnect.
TESTS = '''
import os

import psycopg2
import pytest

N = range({n})


def work(url):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO bench_rows (note) VALUES ('x')")
    conn.commit()
    conn.close()


@pytest.fixture(scope="session")
def shared_db(mig_server, mig_template):
    """One database for the whole session: the same work without a database per test."""
    admin = psycopg2.connect(mig_server.url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute('DROP DATABASE IF EXISTS bench_shared')
        cur.execute(f'CREATE DATABASE bench_shared TEMPLATE "{{mig_template.name}}"')
    yield mig_server.url("bench_shared")
    with admin.cursor() as cur:
        cur.execute('DROP DATABASE bench_shared WITH (FORCE)')
    admin.close()


@pytest.mark.parametrize("i", N)
def test_empty(i, mig_template):
    pass


@pytest.mark.parametrize("i", N)
def test_db(i, mig_db):
    pass


@pytest.mark.parametrize("i", N)
def test_shared_work(i, shared_db):
    work(shared_db)


@pytest.mark.parametrize("i", N)
def test_db_work(i, mig_db):
    work(mig_db.url)


@pytest.mark.parametrize("i", N)
def test_txn(i, mig_conn):
    pass
'''

# pytest-postgresql on the same schema: its template loaded by mig apply and mig seed.
PGPG_TESTS = '''
import os

import pytest
from pytest_postgresql import factories

N = range({n})


def load(host, port, user, dbname, password=None, **_):
    from mig import commands
    from mig.config import resolve

    settings = resolve(database=f"postgresql://{{user}}@{{host}}:{{port}}/{{dbname}}",
                       project_dir=os.getcwd(), env={{}})
    commands.apply(settings)
    commands.seed(settings)


postgresql_noproc = factories.postgresql_noproc(
    host="127.0.0.1", port=int(os.environ["BENCH_PG_PORT"]), user="postgres",
    dbname="pgpg_bench", load=[load])
postgresql = factories.postgresql("postgresql_noproc")


@pytest.mark.parametrize("i", N)
def test_pgpg_empty(i, postgresql_noproc):
    pass


@pytest.mark.parametrize("i", N)
def test_pgpg(i, postgresql):
    pass


@pytest.mark.parametrize("i", N)
def test_pgpg_work(i, postgresql):
    with postgresql.cursor() as cur:
        cur.execute("INSERT INTO bench_rows (note) VALUES ('x')")
    postgresql.commit()
'''

EXTRA_MIGRATION = ("CREATE TABLE bench_rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                   "note text NOT NULL);\n")


def _project(bench: Bench, n: int) -> Path:
    root = bench.tmp / "pool_project"
    if not root.exists():
        root.mkdir()
        shutil.copytree(REPO / "migrations", root / "migrations")
        shutil.copytree(REPO / "seeds", root / "seeds")
        shutil.copy(REPO / "yoyo.ini", root / "yoyo.ini")
        (root / "migrations" / "29990101_000000_bench_rows.sql").write_text(EXTRA_MIGRATION)
        (root / "migrations" / "29990101_000000_bench_rows.rollback.sql").write_text(
            "DROP TABLE bench_rows;\n")
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "test_bench.py").write_text(TESTS.format(n=n))
        (root / "test_pgpg.py").write_text(PGPG_TESTS.format(n=n))
    return root


def _session(bench: Bench, root: Path, url: str, port: int, selector: str,
             *options: str) -> float:
    """Seconds the selected tests took, from pytest's own summary (start-up excluded)."""
    target = "test_pgpg.py" if selector.startswith("test_pgpg") else "test_bench.py"
    result = subprocess.run(
        [bench.python, "-m", "pytest", "-q", "-p", "mig", "-p", "no:cacheprovider", "-k",
         f"{selector}[", "--mig-server", "url", "--mig-url", url, *options, target],
        cwd=root, env={**bench.env, "BENCH_PG_PORT": str(port)}, capture_output=True, text=True)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args,
                                            stderr=result.stdout[-3000:] + result.stderr)
    match = re.search(r"passed(?:, \d+ deselected)? in ([\d.]+)s", result.stdout)
    assert match, result.stdout[-500:]
    return float(match.group(1))


def _clone_figures(url: str, template: str, runs: int) -> dict[str, tuple[float, float]]:
    """Median CREATE DATABASE … TEMPLATE … STRATEGY s and DROP DATABASE, per strategy,
    the strategies taking turns."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    times: dict[str, tuple[list[float], list[float]]] = {"FILE_COPY": ([], []),
                                                         "WAL_LOG": ([], [])}
    try:
        with conn.cursor() as cur:
            for i in range(runs):
                for strategy, (creates, drops) in times.items():
                    name = f"bench_clone_{i}"
                    started = time.perf_counter()
                    cur.execute(f'CREATE DATABASE {name} TEMPLATE "{template}" '
                                f'STRATEGY {strategy}')
                    creates.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    cur.execute(f"DROP DATABASE {name}")
                    drops.append(time.perf_counter() - started)
    finally:
        conn.close()
    return {s: (statistics.median(c), statistics.median(d)) for s, (c, d) in times.items()}


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    n = 5 if bench.quick else 120
    root = _project(bench, n)
    rows: list[Row] = []
    notes: list[str] = []
    # The server the embedded test server is: in memory, durability off, on TCP for the
    # pytest-postgresql client too.
    with tempfile.TemporaryDirectory(prefix="mig-bench-pool-", dir=_ram()) as tmp:
        fast = LocalServer(Path(tmp) / "data", settings=FAST_UNSAFE_SETTINGS, listen_tcp=True,
                           hba=["host all all 127.0.0.1/32 trust"])
        fast.start()
        try:
            url = fast.url("postgres")

            def per_test(selector: str, baseline: float, *options: str) -> float:
                total = bench.median(lambda: _session(bench, root, url, fast.port, selector,
                                                      *options))
                return total / n - baseline

            _session(bench, root, url, fast.port, "test_empty")  # builds the template once
            empty = per_test("test_empty", 0.0)
            shared = per_test("test_shared_work", 0.0)
            pooled = per_test("test_db", empty)
            unpooled = per_test("test_db", empty, "--mig-pool-size", "0")
            pooled_work = per_test("test_db_work", shared)
            unpooled_work = per_test("test_db_work", shared, "--mig-pool-size", "0")
            txn = per_test("test_txn", empty)
            rows += [
                Row(f"per-test mig_db overhead, {n} tests, warm pool (untouched databases go "
                    "back to the pool)", ms(pooled), f"no pool {ms(unpooled)}",
                    _ratio(pooled, unpooled), "≤ 10 ms", pooled <= 0.010),
                Row(f"per-test mig_db overhead, {n} tests each writing a row, warm pool",
                    ms(pooled_work), f"no pool {ms(unpooled_work)}",
                    _ratio(pooled_work, unpooled_work), "≤ 10 ms", pooled_work <= 0.010),
                Row(f"per-test mig_conn overhead, {n} tests", ms(txn), "-", "-", "< 1 ms",
                    txn < 0.001),
            ]
            if importlib.util.find_spec("pytest_postgresql") is not None:
                pg_empty = per_test("test_pgpg_empty", 0.0)
                pgpg = per_test("test_pgpg", pg_empty)
                pgpg_work = per_test("test_pgpg_work", pg_empty)
                rows += [
                    Row(f"per-test pytest-postgresql `postgresql` overhead, {n} tests, same "
                        "schema", ms(pgpg), f"mig_db {ms(pooled)}", _ratio(pooled, pgpg),
                        "-", None),
                    Row(f"per-test pytest-postgresql `postgresql`, {n} tests each writing a "
                        "row", ms(pgpg_work), f"mig_db {ms(pooled_work)}",
                        _ratio(pooled_work, pgpg_work), "-", None),
                ]
            else:
                notes.append("pool: pytest-postgresql is not installed; its rows are left out")
            template = _template_name(url)
            fast_figures = _clone_figures(url, template, 3 if bench.quick else 15)
        finally:
            fast.destroy()
    durable_template = _durable_template(bench, root)
    durable = _clone_figures(bench.server.url(), durable_template, 2 if bench.quick else 7)
    for label, figures in (("tuned server (fsync off, in memory)", fast_figures),
                           ("durable server", durable)):
        (fc, fd), (wc, wd) = figures["FILE_COPY"], figures["WAL_LOG"]
        rows.append(Row(f"clone + drop of the template, STRATEGY FILE_COPY vs WAL_LOG, {label}",
                        f"{ms(fc)} + {ms(fd)}", f"WAL_LOG {ms(wc)} + {ms(wd)}",
                        _ratio(fc + fd, wc + wd), "-", None))
    notes.append(
        f"pool: per-test figures are (pytest session time of {n} tests with the fixture minus "
        f"{n} tests without) / {n}, on the url server mode against a server tuned as the "
        "embedded test server is (in /dev/shm, fsync, synchronous_commit and full_page_writes "
        "off); the pool at its default size (4). 'Each writing a row': every test connects to "
        "its database, inserts a row, commits and disconnects; the reference suite does the "
        "same on one database shared by the session. pytest-postgresql (noproc on the same "
        "server) loads its template with mig apply and mig seed in every session and clones it "
        "per test; its figures include that build spread over the tests. The clone rows time "
        "CREATE DATABASE … TEMPLATE and DROP DATABASE of the project's template alone.")
    return rows, notes


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×" if reference > 0 else "-"


def _ram() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 1 << 30 else None


def _template_name(url: str) -> str:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'mig\\_tpl\\_%'")
            return str(cur.fetchone()[0])
    finally:
        conn.close()


def _durable_template(bench: Bench, root: Path) -> str:
    from mig.testing import ensure_template, project_spec
    from mig.testing.servers import existing

    server = existing(bench.server.url())
    try:
        return ensure_template(server, project_spec(project_dir=root)).name
    finally:
        server.close()
