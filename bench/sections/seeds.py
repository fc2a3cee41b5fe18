"""Section 3: seeds — 10,000 rows into an empty table, an unchanged re-run, the shipped seeds.

Every mig figure is a library call (``load_seeds``) timed inside one process, YAML reading and
validation included; COPY and INSERT get the rows already in memory. "Seed cache warm" is a
run whose fixture files were read before (``.mig/seed-cache`` of a project, on by default for
``mig seed``); "no cache" parses every file. The YAML floor is libyaml's event stream alone,
what any reader of the file pays before it has a single value.
"""

from __future__ import annotations

import io
import statistics
import time
import uuid
from pathlib import Path

import psycopg2
import yaml

from bench.common import REPO, Bench, Row, ms, ratio_row
from mig.seeds import SeedCache

TABLE = "CREATE TABLE items (key text PRIMARY KEY, name text NOT NULL, qty integer NOT NULL)"


def _rows(count: int) -> list[tuple[str, str, int]]:
    return [(f"item-{i:05d}", f"Item number {i}", i % 97) for i in range(count)]


def _write_fixture(bench: Bench, rows: list[tuple[str, str, int]]) -> Path:
    seeds = bench.tmp / "bench_seeds"
    (seeds / "base").mkdir(parents=True, exist_ok=True)
    lines = ["table: items", "key: key", "rows:"]
    lines += [f"  - {{key: {k}, name: {n}, qty: {q}}}" for k, n, q in rows]
    (seeds / "base" / "items.yaml").write_text("\n".join(lines) + "\n")
    return seeds


def _yaml_floor(path: Path, runs: int) -> float:
    """libyaml's events for the file, nothing built from them: the least a YAML read costs."""
    text = path.read_text()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def once() -> float:
        started = time.perf_counter()
        for _ in yaml.parse(text, Loader=loader):
            pass
        return time.perf_counter() - started

    return statistics.median(once() for _ in range(runs))


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    from mig.seeds import load_seeds, read_fixtures

    count = 500 if bench.quick else 10_000
    rows = _rows(count)
    seeds = _write_fixture(bench, rows)
    cache = SeedCache(bench.tmp / "seed-cache")
    read_fixtures(seeds, cache=cache)  # the files were read before: the cache is warm

    def fresh(url: str) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        conn.cursor().execute(TABLE)
        return conn

    def seed_once(url: str, with_cache: SeedCache | None = cache) -> float:
        conn = fresh(url)
        try:
            started = time.perf_counter()
            load_seeds(conn, seeds, cache=with_cache)
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

    def rerun_once(url: str, with_cache: SeedCache | None = cache) -> float:
        conn = fresh(url)
        try:
            load_seeds(conn, seeds, cache=with_cache)
            started = time.perf_counter()
            report = load_seeds(conn, seeds, cache=with_cache)
            elapsed = time.perf_counter() - started
            counts = report.to_json()["tables"]["items"]
            assert counts["unchanged"] == count and counts["inserted"] == 0, counts
            return elapsed
        finally:
            conn.close()

    seed = bench.median_fresh(seed_once)
    seed_cold = bench.median_fresh(lambda url: seed_once(url, None))
    copy = bench.median_fresh(copy_once)
    naive = bench.median_fresh(naive_once)
    rerun = bench.median_fresh(rerun_once)
    rerun_cold = bench.median_fresh(lambda url: rerun_once(url, None))
    floor = _yaml_floor(seeds / "base" / "items.yaml", bench.runs)
    shipped_first, shipped_rerun = _shipped(bench, cache)
    throughput, cold_throughput = copy / seed, copy / seed_cold  # rows/s relative to COPY's
    return [
        Row(f"seed {count} rows into an empty table (seed cache warm): mig vs COPY (limit)",
            ms(seed), f"COPY {ms(copy)}", f"{throughput:.2f}× COPY's speed", "≥ 0.5×",
            throughput >= 0.5),
        Row(f"seed {count} rows into an empty table, no cache (YAML parsed): mig vs COPY",
            ms(seed_cold), f"COPY {ms(copy)}", f"{cold_throughput:.2f}× COPY's speed",
            "≥ 0.5×", cold_throughput >= 0.5),
        Row(f"YAML floor: libyaml's events alone for the {count}-row file", ms(floor),
            f"COPY {ms(copy)}", f"{floor / copy:.1f}× COPY's time", "-", None),
        ratio_row(f"seed {count} rows: mig vs row-by-row INSERT (naive)", seed, naive,
                  "INSERT", 1.0),
        Row(f"seed re-run, {count} rows unchanged (seed cache warm)", ms(rerun), "-", "-",
            "≤ 50 ms", rerun <= 0.05),
        Row(f"seed re-run, {count} rows unchanged, no cache", ms(rerun_cold), "-", "-",
            "≤ 50 ms", rerun_cold <= 0.05),
        Row("shipped seeds (base + dev) into a migrated empty database", ms(shipped_first),
            "-", "-", "-", None),
        Row("shipped seeds (base + dev) re-run, unchanged", ms(shipped_rerun), "-", "-", "-",
            None),
    ], ["seeds: time inside one process (library call), YAML reading and validation included "
        "for mig; COPY and INSERT get the rows already in memory. 'Seed cache warm': the "
        "files were read before (mig seed keeps parsed fixtures in .mig/seed-cache); 'no "
        "cache': every file is parsed. The YAML floor is libyaml's event stream alone, with "
        "no value built: what reading the file costs before any seed work starts.",
        _cold_note(count, copy, floor)]


def _cold_note(count: int, copy: float, floor: float) -> str:
    """Why the no-cache rows miss their targets, from this run's figures."""
    budget = 2 * copy  # ≥ 0.5× COPY's speed is at most twice COPY's time
    over = [f"the seed target (≥ 0.5× COPY's speed: at most {ms(budget)} here)"
            if floor > budget else "",
            "the 50 ms re-run target" if floor > 0.05 else ""]
    missed = " and ".join(o for o in over if o)
    them = "them" if all(over) else "it"
    verdict = (f"libyaml's events alone ({ms(floor)}) already exceed {missed}, so no YAML "
               f"reader meets {them} without the cache" if missed else
               f"libyaml's events alone take {ms(floor)}")
    return (f"seeds, no cache: the seed cache (.mig/seed-cache) is kept between runs on one "
            f"machine, but a fresh deploy container starts without it, so its first mig seed "
            f"parses every file; these rows are judged against the same targets. For the "
            f"{count}-row file {verdict}.")


def _shipped(bench: Bench, cache: SeedCache) -> tuple[float, float]:
    """The shipped seeds, base and dev, into a database at the newest migration."""
    from mig import commands
    from mig.config import resolve
    from mig.seeds import load_seeds

    template = bench.new_db()
    commands.apply(resolve(database=bench.url(template), project_dir=REPO, env={}))

    def clone() -> str:
        name = "b_" + uuid.uuid4().hex[:10]
        bench.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def once(*, rerun: bool) -> float:
        name = clone()
        conn = psycopg2.connect(bench.url(name))
        try:
            if rerun:
                load_seeds(conn, REPO / "seeds", "dev", cache=cache)
            started = time.perf_counter()
            load_seeds(conn, REPO / "seeds", "dev", cache=cache)
            return time.perf_counter() - started
        finally:
            conn.close()
            bench.drop_db(name)

    try:
        return bench.median(lambda: once(rerun=False)), bench.median(lambda: once(rerun=True))
    finally:
        bench.drop_db(template)
