"""Section 5: a backfill through the data-step helper against one UPDATE statement."""

from __future__ import annotations

import random
import threading
import time

import psycopg2

from bench.common import Bench, Row, ms
from mig import commands
from mig.config import resolve

MIGRATION = '''
from mig.data import data_step

__transactional__ = False  # a commit per batch


def double(batch):
    batch.execute("UPDATE big SET w = v * 2 WHERE {range} AND {where}")


steps = [data_step(double, table="big", where="w IS NULL", batch_size=%(batch)d)]
'''


class Writer(threading.Thread):
    """Single-row updates on the same table, recording the longest wait."""

    def __init__(self, url: str, rows: int) -> None:
        super().__init__(daemon=True)
        self.url, self.rows = url, rows
        self.stop = threading.Event()
        self.longest = 0.0
        self.count = 0

    def run(self) -> None:
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    started = time.perf_counter()
                    cur.execute("UPDATE big SET v = v WHERE id = %s",
                                (random.randint(1, self.rows),))
                    self.longest = max(self.longest, time.perf_counter() - started)
                    self.count += 1
                    time.sleep(0.002)
        finally:
            conn.close()


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    rows = 20_000 if bench.quick else 1_000_000
    batch = 10_000
    project = bench.tmp / "data_project"
    (project / "migrations").mkdir(parents=True, exist_ok=True)
    (project / "yoyo.ini").write_text("[DEFAULT]\nsources = %(here)s/migrations\n")
    (project / "migrations" / "0001_backfill.py").write_text(MIGRATION % {"batch": batch})

    def prepare(url: str) -> None:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE big (id bigint PRIMARY KEY, v integer NOT NULL, w integer)")
            cur.execute("INSERT INTO big (id, v) SELECT g, g %% 1000 FROM generate_series(1, %s) g",
                        (rows,))
            cur.execute("VACUUM ANALYZE big")
        conn.close()

    writer_waits: list[float] = []

    def helper(url: str) -> float:
        prepare(url)
        writer = Writer(url, rows)
        writer.start()
        settings = resolve(database=url, project_dir=project, env={})
        started = time.perf_counter()
        commands.apply(settings)
        elapsed = time.perf_counter() - started
        writer.stop.set()
        writer.join()
        writer_waits.append(writer.longest)
        return elapsed

    def single_update(url: str) -> float:
        prepare(url)
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            started = time.perf_counter()
            conn.cursor().execute("UPDATE big SET w = v * 2 WHERE w IS NULL")
            return time.perf_counter() - started
        finally:
            conn.close()

    runs = bench.runs
    mig = bench.median_fresh(helper)
    limit = bench.median_fresh(single_update)
    throughput = limit / mig
    wait = max(writer_waits)
    return [
        Row(f"backfill {rows:,} rows: data step vs one UPDATE (limit)", ms(mig),
            f"UPDATE {ms(limit)}", f"{throughput:.2f}× UPDATE's speed", "≥ 0.5×",
            throughput >= 0.5),
        Row("longest single-row writer wait during the backfill", ms(wait), "-", "-", "< 1 s",
            wait < 1.0),
    ], [f"data: {batch:,}-row batches, a commit each; a concurrent writer updates random single "
        f"rows every 2 ms throughout; {runs} runs each, a new {rows:,}-row table per run."]
