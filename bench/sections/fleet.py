"""Fleet: the shipped history applied to 1,000 databases and to 200 schemas of one database, a
no-op run over 1,000 databases at head, and the coordinator's peak memory."""

from __future__ import annotations

import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import Bench, Row, ms, ratio_row
from bench.sections.migrations import combined_sql, shipped_all, shipped_sql

# Runs mig as ``python -m mig`` would and writes the process's peak RSS (VmHWM, KiB) to the
# file named first. The rusage of a child (wait4's ru_maxrss) is no use here: Linux carries
# the parent's high-water mark across fork and exec, so every child of a large benchmark
# process would report at least the parent's size.
_PEAK_RSS = """
import atexit, runpy, sys
out = sys.argv[1]
def peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(out, "w") as fh:
        fh.write(kib)
atexit.register(peak)
sys.argv = sys.argv[2:]
runpy.run_module("mig", run_name="__main__", alter_sys=True)
"""


def _timed(bench: Bench, args: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one mig process; raises if it fails."""
    assert args[1:3] == ["-m", "mig"], args
    peak = bench.tmp / f"peak-{uuid.uuid4().hex[:8]}"
    args = [args[0], "-c", _PEAK_RSS, str(peak), "mig", *args[3:]]
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=bench.env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, args, stderr=proc.stderr)
    return elapsed, int(peak.read_text())


def _many(bench: Bench, statements: list[str]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(bench.admin, statements))


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    count, schemas, small = (10, 5, 5) if bench.quick else (1000, 200, 100)
    project = shipped_all(bench)
    one = bench.median_fresh(lambda url: bench.run(bench.mig("apply", "-q", "-d", url),
                                                   cwd=project))
    prefix = "fl_" + uuid.uuid4().hex[:6] + "_"
    names = [f"{prefix}{i:04d}" for i in range(count)]
    created = time.perf_counter()
    _many(bench, [f'CREATE DATABASE "{n}"' for n in names])
    created = time.perf_counter() - created
    listing = bench.tmp / "fleet.txt"
    listing.write_text("".join(bench.url(n) + "\n" for n in names))
    first = bench.tmp / "fleet-small.txt"
    first.write_text("".join(bench.url(n) + "\n" for n in names[:small]))
    catalog = bench.new_db()
    try:
        journal = ["--journal", str(bench.tmp / "fleet.jsonl")]
        applied, rss_apply = _timed(bench, bench.mig("apply", "-q", "--fleet", str(listing),
                                                     *journal), project)
        # the first run after the apply opens each database's first connection since its DDL
        first_noop, _ = _timed(bench, bench.mig("apply", "-q", "--fleet", str(listing),
                                                *journal), project)
        noop, rss_noop = _timed(bench, bench.mig("apply", "-q", "--fleet", str(listing),
                                                 *journal), project)
        noop_small, rss_small = _timed(bench, bench.mig("apply", "-q", "--fleet", str(first),
                                                        *journal), project)
        conn_sql = "; ".join(f"CREATE SCHEMA tenant_{i:04d}" for i in range(schemas))
        bench.admin(conn_sql, catalog)
        in_schemas, rss_schemas = _timed(
            bench, bench.mig("apply", "-q", "--fleet", "schemas:tenant\\_%", "-d",
                             bench.url(catalog), *journal), project)
    finally:
        _many(bench, [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names])
        bench.drop_db(catalog)
    jobs = _default_jobs(bench)
    floor = _psql_floor(bench, small, jobs)
    rows = [
        ratio_row(f"apply the shipped history to {count} databases (--fleet, default --jobs)"
                  " vs 1 database", applied, one, "one", 10.0),
        ratio_row(f"apply the shipped history to {schemas} schemas of one database vs 1 "
                  "database", in_schemas, one, "one", 10.0),
        ratio_row(f"apply over {count} databases, per database: mig --fleet vs psql -1 -f of the "
                  f"shipped SQL migrations, {jobs} databases at a time (floor)",
                  applied / count, floor, "psql", 2.0),
        Row(f"no-op fleet apply over {count} databases at head", ms(noop), "-",
            f"{noop / count * 1000:.2f} ms per target", "≤ 5000 ms", noop <= 5.0),
        Row(f"no-op fleet apply over {count} databases, the first run after the apply",
            ms(first_noop), "-", f"{first_noop / count * 1000:.2f} ms per target", "-", None),
        Row(f"coordinator peak RSS: no-op run over {small} vs {count} databases",
            f"{rss_noop / 1024:.1f} MiB", f"{small}: {rss_small / 1024:.1f} MiB",
            f"{rss_noop / rss_small:.2f}×", "≤ 1.5× (flat)", rss_noop / rss_small <= 1.5),
        Row(f"coordinator peak RSS: apply over {count} databases / {schemas} schemas",
            f"{rss_apply / 1024:.1f} MiB", f"schemas: {rss_schemas / 1024:.1f} MiB", "-", "-",
            None),
    ]
    notes = [f"fleet: {count} empty databases created beforehand ({created:.0f} s, not "
             f"counted); default --jobs here: {jobs} (four times the cores, at most half the "
             f"server's free connections); the no-op run over {small} databases took "
             f"{noop_small * 1000:.0f} ms. The first no-op run after the apply makes each "
             "database's first connection since its DDL, for which the server rebuilds that "
             "database's catalog caches; the no-op row is the run after it, as a deploy with "
             "nothing new meets a fleet that is in use. "
             "One database is a whole `mig apply` process (start-up included); the fleet runs "
             "its targets in threads of one process, so the ratio's floor is the server's own "
             "work for all of them on this machine's cores."]
    return rows, notes


def _psql_floor(bench: Bench, count: int, jobs: int) -> float:
    """Seconds per database of ``psql -1 -f`` with the shipped SQL migrations over ``count``
    new databases, ``jobs`` at a time: the server's own work per target, without mig's
    records, its Python migration or a process per target's start-up counted once."""
    all_sql = combined_sql(shipped_sql(bench))
    names = [f"flp_{uuid.uuid4().hex[:6]}_{i:04d}" for i in range(count)]
    _many(bench, [f'CREATE DATABASE "{n}"' for n in names])
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda n: bench.run([bench.psql, "-X", "-q", "-1", "-v",
                                               "ON_ERROR_STOP=1", "-f", str(all_sql),
                                               bench.url(n)]), names))
        return (time.perf_counter() - started) / count
    finally:
        _many(bench, [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names])


def _default_jobs(bench: Bench) -> int:
    import mig
    from mig import fleet
    from mig.fleet.verbs import default_jobs

    settings = mig.resolve(database=bench.url("postgres"), env={})
    return default_jobs(settings, fleet.load("databases:postgres", settings.database) * 1000)
