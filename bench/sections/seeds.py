"""Section 3: seeds — 10,000 rows into an empty table, and an unchanged re-run."""

from __future__ import annotations

import io
import time

import psycopg2

from bench.common import Bench, Row, ms, ratio_row

TABLE = "CREATE TABLE items (key text PRIMARY KEY, name text NOT NULL, qty integer NOT NULL)"


def _rows(count: int) -> list[tuple[str, str, int]]:
    return [(f"item-{i:05d}", f"Item number {i}", i % 97) for i in range(count)]


def _write_fixture(bench: Bench, rows: list[tuple[str, str, int]]):
    seeds = bench.tmp / "bench_seeds"
    (seeds / "base").mkdir(parents=True, exist_ok=True)
    lines = ["table: items", "key: key", "rows:"]
    lines += [f"  - {{key: {k}, name: {n}, qty: {q}}}" for k, n, q in rows]
    (seeds / "base" / "items.yaml").write_text("\n".join(lines) + "\n")
    return seeds


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    from mig.seeds import load_seeds

    count = 500 if bench.quick else 10_000
    rows = _rows(count)
    seeds = _write_fixture(bench, rows)

    def fresh(url: str) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        conn.cursor().execute(TABLE)
        return conn

    def seed_once(url: str) -> float:
        conn = fresh(url)
        try:
            started = time.perf_counter()
            load_seeds(conn, seeds)
            return time.perf_counter() - started
        finally:
            conn.close()

    def copy_once(url: str) -> float:
        conn = fresh(url)
        try:
            data = "".join(f"{k}\t{n}\t{q}\n" for k, n, q in rows)
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.copy_expert("COPY items (key, name, qty) FROM STDIN", io.StringIO(data))
                cur.execute("COMMIT")
            return time.perf_counter() - started
        finally:
            conn.close()

    def naive_once(url: str) -> float:
        conn = fresh(url)
        try:
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                for row in rows:
                    cur.execute("INSERT INTO items (key, name, qty) VALUES (%s, %s, %s)", row)
                cur.execute("COMMIT")
            return time.perf_counter() - started
        finally:
            conn.close()

    def rerun_once(url: str) -> float:
        conn = fresh(url)
        try:
            load_seeds(conn, seeds)
            started = time.perf_counter()
            report = load_seeds(conn, seeds)
            elapsed = time.perf_counter() - started
            counts = report.to_json()["tables"]["items"]
            assert counts["unchanged"] == count and counts["inserted"] == 0, counts
            return elapsed
        finally:
            conn.close()

    seed = bench.median_fresh(seed_once)
    copy = bench.median_fresh(copy_once)
    naive = bench.median_fresh(naive_once)
    rerun = bench.median_fresh(rerun_once)
    throughput = copy / seed  # rows/s of mig relative to COPY's
    return [
        Row(f"seed {count} rows into an empty table: mig vs COPY (limit)", ms(seed),
            f"COPY {ms(copy)}", f"{throughput:.2f}× COPY's speed", "≥ 0.5×", throughput >= 0.5),
        ratio_row(f"seed {count} rows: mig vs row-by-row INSERT (naive)", seed, naive,
                  "INSERT", 1.0),
        Row(f"seed re-run, {count} rows unchanged", ms(rerun), "-", "-", "≤ 50 ms",
            rerun <= 0.05),
    ], ["seeds: time inside one process (library call), YAML reading and validation included "
        "for mig; COPY and INSERT get the rows already in memory."]
