"""Section 4: test databases — the clone fixture, the transaction fixture, the template build."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import psycopg2

from bench.common import REPO, Bench, Row, ms, ratio_row

TESTS = '''
import psycopg2
import pytest

N = range({n})


@pytest.fixture(scope="session")
def template_name(mig_template):
    return mig_template.name


@pytest.fixture
def bare_clone(mig_server, template_name, request):
    """What a hand-written fixture does: CREATE DATABASE ... TEMPLATE, then DROP."""
    name = "bare_" + str(abs(hash(request.node.nodeid)))
    conn = psycopg2.connect(mig_server.url())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f'CREATE DATABASE "{{name}}" TEMPLATE "{{template_name}}"')
    yield name
    cur.execute(f'DROP DATABASE "{{name}}"')
    conn.close()


@pytest.mark.parametrize("i", N)
def test_empty(i, template_name):
    pass


@pytest.mark.parametrize("i", N)
def test_clone(i, mig_db):
    pass


@pytest.mark.parametrize("i", N)
def test_bare(i, bare_clone):
    pass


@pytest.mark.parametrize("i", N)
def test_txn(i, mig_conn):
    pass
'''


def _project(bench: Bench, n: int):
    root = bench.tmp / "testing_project"
    if not root.exists():
        root.mkdir()
        shutil.copytree(REPO / "migrations", root / "migrations")
        shutil.copytree(REPO / "seeds", root / "seeds")
        shutil.copy(REPO / "yoyo.ini", root / "yoyo.ini")
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "test_bench.py").write_text(TESTS.format(n=n))
    return root


def _session(bench: Bench, root, selector: str) -> float:
    """Seconds the selected tests took, from pytest's own summary (start-up excluded)."""
    result = subprocess.run(
        [bench.python, "-m", "pytest", "-q", "-p", "mig", "-k", selector, "--mig-server", "url",
         "--mig-url", bench.server.url(), "test_bench.py"],
        cwd=root, env=bench.env, capture_output=True, text=True)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, result.args,
                                            stderr=result.stdout[-3000:] + result.stderr)
    match = re.search(r"passed(?:, \d+ deselected)? in ([\d.]+)s", result.stdout)
    assert match, result.stdout[-500:]
    return float(match.group(1))


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    n = 5 if bench.quick else 200
    root = _project(bench, n)
    _session(bench, root, "test_empty")  # builds the template once
    empty = bench.median(lambda: _session(bench, root, "test_empty")) / n
    clone = bench.median(lambda: _session(bench, root, "test_clone")) / n - empty
    bare = bench.median(lambda: _session(bench, root, "test_bare")) / n - empty
    txn = bench.median(lambda: _session(bench, root, "test_txn")) / n - empty

    # template build (migrations + seeds) vs mig apply + mig seed in one process each
    from mig import commands
    from mig.config import resolve
    from mig.testing import ensure_template, project_spec
    from mig.testing.servers import existing
    from mig.testing.template import template_name

    server = existing(bench.server.url())

    def drop(name: str) -> None:
        conn = psycopg2.connect(bench.server.url())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                cur.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
                cur.execute(f'DROP DATABASE "{name}"')
        conn.close()

    def build() -> float:
        spec = project_spec(project_dir=root)
        drop(template_name(spec.digest()))  # left by the pytest sessions or the previous run
        template = ensure_template(server, spec)
        assert template.built
        return template.build_seconds

    def create_apply_and_seed() -> float:
        """What the template replaces: a new database, then mig apply and mig seed."""
        started = time.perf_counter()
        name = bench.new_db()
        try:
            settings = resolve(database=bench.url(name), project_dir=root, env={})
            commands.apply(settings)
            commands.seed(settings)
            return time.perf_counter() - started
        finally:
            bench.drop_db(name)

    built = bench.median(build)
    baseline = bench.median(create_apply_and_seed)
    server.close()
    return [
        ratio_row("per-test clone (mig_db) vs bare CREATE DATABASE … TEMPLATE", clone, bare,
                  "bare", 1.2),
        Row("per-test transaction fixture (mig_conn) overhead", ms(txn), "-", "-", "< 1 ms",
            txn < 0.001),
        ratio_row("template build vs CREATE DATABASE + mig apply + mig seed", built, baseline,
                  "create+apply+seed", 1.0),
    ], [f"testing: per-test figures are (pytest session time of {n} tests with the fixture "
        f"minus {n} tests without) / {n}, on the url server mode against the bench server; "
        "clone and drop included."]
