"""Fleet: each figure against its floor measured in the same run, at the same concurrency.

Two sections: ``fleet`` (the deploy and the no-op run) and ``fleet-history``.

- the realistic deploy: databases at head−2 (cloned from a template at head−2, the clones not
  counted), the two newest migrations applied by ``mig apply --fleet``, against ``psql -1 -f``
  of the same two files per database;
- the no-op run over the same databases at head, against one connection and one query per
  target (a small Python process);
- the whole history applied to new empty databases, against ``psql -1 -f`` of every shipped
  SQL migration per database; the same history over schemas of one database; the
  coordinator's peak memory.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import Bench, Row, ms, ratio_row
from bench.sections.migrations import combined_sql, shipped_all, shipped_sql, sql_project

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

# The no-op floor: one process, one connection and one query (the records) per target,
# ``jobs`` targets at a time; what any tool that asks each target where it is must do.
_ONE_QUERY = """
import sys
from concurrent.futures import ThreadPoolExecutor
import psycopg2
urls = open(sys.argv[1]).read().split()
def one(url):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT migration_id FROM _yoyo_migration")
            cur.fetchall()
    finally:
        conn.close()
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    list(pool.map(one, urls))
"""

# How many of the newest migrations the realistic deploy applies to each database.
NEW = 2


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


def _databases(bench: Bench, tag: str, count: int, template: str | None = None) -> list[str]:
    """``count`` new databases (empty, or clones of ``template``); the time is not counted."""
    names = [f"{tag}_{uuid.uuid4().hex[:6]}_{i:04d}" for i in range(count)]
    clone = f' TEMPLATE "{template}"' if template else ""
    _many(bench, [f'CREATE DATABASE "{n}"{clone}' for n in names])
    return names


def _drop(bench: Bench, names: list[str]) -> None:
    _many(bench, [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names])


def _listing(bench: Bench, name: str, databases: list[str]) -> Path:
    path = bench.tmp / name
    path.write_text("".join(bench.url(n) + "\n" for n in databases))
    return path


def _psql_each(bench: Bench, sql: Path, databases: list[str], jobs: int) -> float:
    """Wall time (s) of ``psql -1 -f sql`` on every database, ``jobs`` at a time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda n: bench.run([bench.psql, "-X", "-q", "-1", "-v",
                                           "ON_ERROR_STOP=1", "-f", str(sql),
                                           bench.url(n)]), databases))
    return time.perf_counter() - started


def _one_query_each(bench: Bench, listing: Path, jobs: int) -> float:
    """Wall time (s) of the no-op floor process over the listing's databases."""
    return bench.run([bench.python, "-c", _ONE_QUERY, str(listing), str(jobs)])


def _deploy_project(bench: Bench) -> tuple[Path, str, Path]:
    """The shipped SQL migrations, the id of head−``NEW``, and the newest ``NEW`` files as
    one SQL file (what psql -1 -f runs)."""
    project = shipped_sql(bench)
    files = sorted(p for p in (project / "migrations").glob("*.sql")
                   if not p.name.endswith(".rollback.sql"))
    newest = sql_project(bench, "deploy_newest", {p.name: p.read_text() for p in files[-NEW:]})
    return project, files[-NEW - 1].stem, combined_sql(newest)


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    count, small = (10, 5) if bench.quick else (1000, 100)
    jobs = _default_jobs(bench)
    rows: list[Row] = []
    notes: list[str] = []

    # -- the realistic deploy: head−2 → head ---------------------------------------------
    project, base, newest_sql = _deploy_project(bench)
    template = bench.new_db()
    try:
        bench.run(bench.mig("apply", "-q", "-d", bench.url(template), "--to", base),
                  cwd=project)
        created = time.perf_counter()
        floor_dbs = _databases(bench, "fdp", count, template)
        mig_dbs = _databases(bench, "fdm", count, template)
        created = time.perf_counter() - created
    finally:
        bench.drop_db(template)
    try:
        deploy_floor = _psql_each(bench, newest_sql, floor_dbs, jobs)
        listing = _listing(bench, "fleet-deploy.txt", mig_dbs)
        journal = ["--journal", str(bench.tmp / "fleet-deploy.jsonl")]
        fleet = ["apply", "-q", "--fleet", str(listing), "--jobs", str(jobs), *journal]
        deploy, _ = _timed(bench, bench.mig(*fleet), project)
        # the first run after the apply opens each database's first connection since its DDL
        first_noop, _ = _timed(bench, bench.mig(*fleet), project)
        noop, rss_noop = _timed(bench, bench.mig(*fleet), project)
        noop_floor = _one_query_each(bench, listing, jobs)
        small_listing = _listing(bench, "fleet-small.txt", mig_dbs[:small])
        noop_small, rss_small = _timed(
            bench, bench.mig("apply", "-q", "--fleet", str(small_listing), "--jobs", str(jobs),
                             *journal), project)
    finally:
        _drop(bench, floor_dbs + mig_dbs)
    rows += [
        ratio_row(f"deploy {NEW} new migrations to {count} databases at head−{NEW}: mig apply "
                  f"--fleet vs psql -1 -f of the same {NEW} files per database, {jobs} at a "
                  "time (floor)", deploy, deploy_floor, "psql", 1.1),
        ratio_row(f"no-op fleet apply over {count} databases at head vs one connection and one "
                  f"query per database, {jobs} at a time (floor)", noop, noop_floor, "floor",
                  1.1),
        Row(f"no-op fleet apply over {count} databases, the first run after the apply",
            ms(first_noop), "-", f"{first_noop / count * 1000:.2f} ms per target", "-", None),
        Row(f"coordinator peak RSS: no-op run over {small} vs {count} databases",
            f"{rss_noop / 1024:.1f} MiB", f"{small}: {rss_small / 1024:.1f} MiB",
            f"{rss_noop / rss_small:.2f}×", "≤ 1.5× (flat)", rss_noop / rss_small <= 1.5),
    ]
    notes.append(
        f"fleet, deploy: the shipped SQL migrations (the Python one left out: psql cannot run "
        f"it); a template database migrated to head−{NEW} ({base}), then {count} clones of it "
        f"for mig and {count} for the floor ({created:.0f} s, not counted). mig applies the "
        f"{NEW} newest migrations to each clone (`mig apply -q --fleet LISTING --jobs {jobs}`, "
        "one whole process, its start-up included: the two share one transaction with their "
        f"records, as grouped commits do); the floor runs `psql -X -q -1 -f` of the same {NEW} "
        f"files (one transaction, no records) on each of its clones, {jobs} processes at a "
        f"time. --jobs {jobs} is the default here (four times the cores, at most half the "
        "server's free connections). The no-op rows run over mig's clones, then at head: the "
        "first run after the apply makes each database's first connection since its DDL, for "
        "which the server rebuilds that database's catalog caches; the no-op row is the run "
        "after it, as a deploy with nothing new meets a fleet that is in use. Its floor is one "
        "Python process (psycopg2) that connects to each database and reads its "
        f"_yoyo_migration rows, {jobs} at a time. The no-op run over {small} databases took "
        f"{noop_small * 1000:.0f} ms.")

    return rows, notes


def history_section(bench: Bench) -> tuple[list[Row], list[str]]:
    """The whole shipped history over new empty databases and over schemas of one database."""
    count, schemas = (10, 5) if bench.quick else (1000, 200)
    jobs = _default_jobs(bench)
    everything = shipped_all(bench)
    all_sql = combined_sql(shipped_sql(bench))
    created = time.perf_counter()
    floor_dbs = _databases(bench, "fhp", count)
    mig_dbs = _databases(bench, "fhm", count)
    created = time.perf_counter() - created
    catalog = bench.new_db()
    try:
        history_floor = _psql_each(bench, all_sql, floor_dbs, jobs)
        listing = _listing(bench, "fleet-history.txt", mig_dbs)
        journal = ["--journal", str(bench.tmp / "fleet-history.jsonl")]
        history, rss_apply = _timed(bench, bench.mig("apply", "-q", "--fleet", str(listing),
                                                     "--jobs", str(jobs), *journal),
                                    everything)
        bench.admin("; ".join(f"CREATE SCHEMA tenant_{i:04d}" for i in range(schemas)), catalog)
        in_schemas, rss_schemas = _timed(
            bench, bench.mig("apply", "-q", "--fleet", "schemas:tenant\\_%", "-d",
                             bench.url(catalog), "--jobs", str(jobs), *journal), everything)
    finally:
        _drop(bench, floor_dbs + mig_dbs)
        bench.drop_db(catalog)
    rows = [
        ratio_row(f"apply the whole shipped history to {count} new databases: mig apply --fleet "
                  f"vs psql -1 -f of every shipped SQL migration per database, {jobs} at a time "
                  "(floor)", history, history_floor, "psql", 2.0),
        Row(f"apply the whole shipped history to {schemas} schemas of one database",
            ms(in_schemas), "-", f"{in_schemas / schemas * 1000:.1f} ms per schema", "-", None),
        Row(f"coordinator peak RSS: apply over {count} databases / {schemas} schemas",
            f"{rss_apply / 1024:.1f} MiB", f"schemas: {rss_schemas / 1024:.1f} MiB", "-", "-",
            None),
    ]
    notes = [(
        f"fleet, whole history: {count} new empty databases for mig and {count} for the floor "
        f"({created:.0f} s, not counted). mig applies the shipped folder as it is (its Python "
        "migration and its data step included, the tracking tables created in each database) "
        "with one commit per group of migrations and the Python migration on its own; the "
        "floor runs `psql -1 -f` of the shipped SQL migrations (no Python migration, no "
        "records). The schemas row does the same work in schemas of one database.")]
    return rows, notes


def _default_jobs(bench: Bench) -> int:
    import mig
    from mig import fleet
    from mig.fleet.verbs import default_jobs

    settings = mig.resolve(database=bench.url("postgres"), env={})
    return default_jobs(settings, fleet.load("databases:postgres", settings.database) * 1000)

