"""Fault injection: mig and the server are killed at random points, and the record never lies.

A project with a transactional SQL migration, a non-transactional one (``CREATE INDEX
CONCURRENTLY``), a transactional Python migration, a non-transactional data step (run forward
and backward), two empty migrations and a seed goes through one run: apply, seed, two
rollbacks, apply, seed. Each round starts one command of that run on a database in the state
the run had reached, and kills ``mig`` (SIGKILL) or the server (``pg_ctl stop -m immediate``)
at a random point: once the server shows one of the command's statements in
``pg_stat_activity``, or after a random delay.
Then ``mig status --check`` and ``mig status`` must agree with the catalog, and finishing the
run (the interrupted command again, then the rest) must reach the schema (compared as
``mig diff`` compares) and rows of an uninterrupted run.

The rounds are drawn from a seeded random generator: ``MIG_FAULT_SEED`` (default 13) and
``MIG_FAULT_ROUNDS`` make a run reproducible. The default suite runs a short run; the long one
is marked ``faults`` and skipped unless asked for: ``python -m pytest -m faults
tests/test_faults.py -s`` (``MIG_FAULT_LONG_ROUNDS``, default 60).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from mig.engine.comparison import diff
from mig.engine.snapshot import snapshot
from mig.server import LocalServer
from tests.support import write_project

SEED = int(os.environ.get("MIG_FAULT_SEED", "13"))

MIGRATIONS = {
    "0001_items.sql": """
        CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL, label text);
        INSERT INTO items SELECT g, g % 97, NULL FROM generate_series(1, 20000) g;
        CREATE TABLE kinds (key text PRIMARY KEY, label text NOT NULL);
    """,
    "0001_items.rollback.sql": "DROP TABLE kinds;\nDROP TABLE items;\n",
    "0002_nt.sql": """
        -- depends: 0001_items
        -- transactional: false
        CREATE INDEX CONCURRENTLY IF NOT EXISTS items_n ON items (n);
        CREATE TABLE IF NOT EXISTS extra (id int);
    """,
    "0002_nt.rollback.sql": "DROP TABLE IF EXISTS extra;\n"
                            "DROP INDEX CONCURRENTLY IF EXISTS items_n;\n",
    "0003_notes.py": '''
        """Notes, filled by a Python step."""
        from yoyo import step

        __depends__ = {"0002_nt"}


        def fill(conn):
            with conn.cursor() as cur:
                cur.execute("INSERT INTO notes"
                            " SELECT g, 'note ' || g FROM generate_series(1, 500) g")


        steps = [step("CREATE TABLE notes (id int PRIMARY KEY, body text)", "DROP TABLE notes"),
                 step(fill, "DELETE FROM notes")]
    ''',
    "0004_data.py": '''
        """Label every item, batch by batch."""
        from mig.data import data_step

        __depends__ = {"0003_notes"}
        __transactional__ = False


        def label(batch):
            batch.execute("UPDATE items SET label = 'item ' || id WHERE {range} AND {where}")


        def unlabel(batch):
            batch.execute("UPDATE items SET label = NULL WHERE {range} AND {where}")


        steps = [data_step(label, unlabel, table="items", where="label IS NULL",
                           backward_where="label IS NOT NULL", batch_size=1000)]
    ''',
    # empty migrations: applied and rolled back as recorded no-ops
    "0005_nothing.sql": "-- transactional: false\n-- nothing to do on PostgreSQL\n",
    "0006_nothing.py": '"""Nothing to do on PostgreSQL."""\n',
}

SEED_FILE = """
table: kinds
key: [key]
rows:
  - key: a
    label: Alpha
  - key: b
    label: Beta
  - key: c
    label: Gamma
"""

# The run, and for each command the statements a kill may wait for (None: a random delay).
RUN = [
    (["apply"], ["CREATE INDEX CONCURRENTLY", "UPDATE items", "INSERT INTO notes",
                 "INSERT INTO items", None]),
    (["seed"], ["_mig_seed", None]),
    (["rollback", "--to", "0003_notes", "--yes"], ["UPDATE items", None]),
    (["rollback", "--to", "0001_items", "--yes"], ["DROP INDEX CONCURRENTLY", "DROP TABLE", None]),
    (["apply"], ["CREATE INDEX CONCURRENTLY", "UPDATE items", None]),
    (["seed"], [None]),
]

_ROWS = """
SELECT (SELECT md5(string_agg(id || ':' || n || ':' || coalesce(label, '-'), ',' ORDER BY id))
          FROM items),
       (SELECT string_agg(key || '=' || label, ',' ORDER BY key) FROM kinds),
       (SELECT md5(string_agg(id || body, ',' ORDER BY id)) FROM notes)
"""


class Lab:
    """A private server (its own LocalServer, so it can be crashed), the project, and the
    states of an uninterrupted run kept as template databases."""

    def __init__(self, root: Path) -> None:
        # Commits must survive an immediate stop: synchronous_commit stays on (the test
        # session's fast settings turn it off, and a crash may then lose the newest commits).
        # fsync may stay off: the operating system itself never crashes here.
        self.server = LocalServer(root / "data", settings={"fsync": "off"})
        self.project = write_project(root / "project", MIGRATIONS)
        seeds = self.project / "seeds" / "base"
        seeds.mkdir(parents=True)
        (seeds / "010_kinds.yaml").write_text(SEED_FILE.lstrip())
        self.server.start()

    def sql(self, statement: str, dbname: str = "postgres") -> list[tuple]:
        conn = psycopg2.connect(self.server.url(dbname))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def env(self, dbname: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
        env.pop("DATABASE_URL", None)
        env.update(MIG_DATABASE_URL=self.server.url(dbname), MIG_SEED_CACHE="off",
                   MIG_SCRATCH_SERVER=self.server.url("postgres"))
        return env

    def mig(self, args: list[str], dbname: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mig", *args], cwd=self.project,
                              env=self.env(dbname), capture_output=True, text=True, timeout=300)

    def build_states(self) -> None:
        """state_0 (empty) ... state_N (the run's end), each a template database."""
        self.sql("CREATE DATABASE state_0")
        self.sql("CREATE DATABASE work TEMPLATE state_0")
        for number, (args, _) in enumerate(RUN, start=1):
            result = self.mig(args, "work")
            assert result.returncode == 0, (args, result.stdout, result.stderr)
            self.sql(f"CREATE DATABASE state_{number} TEMPLATE work")
        self.sql("DROP DATABASE work")
        self.final = self.state(f"state_{len(RUN)}")

    def state(self, dbname: str):
        conn = psycopg2.connect(self.server.url(dbname))
        try:
            with conn.cursor() as cur:
                cur.execute(_ROWS)
                rows = cur.fetchone()
            return snapshot(conn), rows
        finally:
            conn.close()

    def close(self) -> None:
        self.server.destroy()


def _wait_for_statement(lab: Lab, dbname: str, pattern: str | None,
                        proc: subprocess.Popen) -> bool:
    """Poll until the server runs a statement holding ``pattern`` on ``dbname`` (None: until
    the command has connected), or the command ends (False)."""
    conn = psycopg2.connect(lab.server.url("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            while proc.poll() is None:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND"
                            " pid <> pg_backend_pid() AND (%s IS NULL OR (state = 'active'"
                            " AND query ILIKE %s))", (dbname, pattern, f"%{pattern}%"))
                if cur.fetchone()[0]:
                    return True
        return False
    finally:
        conn.close()


def _catalog(lab: Lab, dbname: str) -> dict:
    (row,) = lab.sql(
        "SELECT to_regclass('items') IS NOT NULL, to_regclass('extra') IS NOT NULL,"
        " to_regclass('notes') IS NOT NULL, to_regclass('kinds') IS NOT NULL,"
        " (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('items_n')),"
        " (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_index i JOIN pg_class c"
        "   ON c.oid = i.indexrelid WHERE NOT i.indisvalid)", dbname)
    items, extra, notes, kinds, index_valid, invalid = row
    unlabelled = lab.sql("SELECT count(*) FROM items WHERE label IS NULL", dbname)[0][0] \
        if items else None
    seeded = lab.sql("SELECT count(*) FROM kinds", dbname)[0][0] if kinds else None
    return {"items": items, "extra": extra, "notes": notes, "index_valid": index_valid,
            "unlabelled": unlabelled, "kinds": seeded, "invalid": invalid or []}


def _assert_record_matches_catalog(lab: Lab, dbname: str, note: str) -> dict:
    """``mig status --check`` and ``mig status`` against what the catalog holds."""
    result = lab.mig(["status", "--check", "--json"], dbname)
    assert result.returncode in (0, 7), (note, result.stdout, result.stderr)
    status = json.loads(result.stdout)
    applied = {a["id"] for a in status["applied"]}
    partial = {p["id"]: p["direction"] for p in status["partial"]}
    kinds = {p["kind"] for p in status["problems"]}
    cat = _catalog(lab, dbname)
    where = f"{note}: status {json.dumps(status)[:2000]}; catalog {cat}"

    # every problem the check reports is one a fault may leave, and the check is not silent
    assert kinds <= {"partial", "invalid-index"}, where
    assert (result.returncode == 7) == bool(status["problems"]), where
    assert ("partial" in kinds) == bool(partial), where
    assert sorted(i["name"] for i in status["invalid_indexes"]) == sorted(cat["invalid"]), where
    assert bool(cat["invalid"]) == ("invalid-index" in kinds), where
    if cat["invalid"]:  # only an interrupted CREATE INDEX CONCURRENTLY leaves one
        assert partial.get("0002_nt") is not None, where
    assert status["current"] == (not status["pending"] and not partial
                                 and not status["edited"]), where

    # the transactional migrations are all or nothing, and recorded as they are
    assert cat["items"] == ("0001_items" in applied), where
    assert cat["notes"] == ("0003_notes" in applied), where
    # the non-transactional ones: recorded as applied (and not rolling back) means done,
    # pending (and not partial) means nothing of them is there
    if "0002_nt" not in partial:
        done = "0002_nt" in applied
        assert cat["extra"] == done and (cat["index_valid"] is True) == done, where
        assert cat["index_valid"] is None or done, where
    if "0004_data" not in partial and cat["items"]:
        assert (cat["unlabelled"] == 0) == ("0004_data" in applied), where
        assert cat["unlabelled"] in (0, 20000), where
    # the seed is all or nothing
    assert cat["kinds"] in (None, 0, 3), where
    return status


def run_rounds(lab: Lab, rounds: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    outcomes = []
    for number in range(rounds):
        step = rng.randrange(len(RUN))
        args, patterns = RUN[step]
        pattern = rng.choice(patterns)
        fault = rng.choice(["kill mig", "stop server"])
        delay = rng.uniform(0, 0.5) if pattern is None else rng.uniform(0, 0.02)
        dbname = f"round_{number}"
        lab.sql(f"CREATE DATABASE {dbname} TEMPLATE state_{step}")
        proc = subprocess.Popen([sys.executable, "-m", "mig", *args], cwd=lab.project,
                                env=lab.env(dbname), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        seen = _wait_for_statement(lab, dbname, pattern, proc)
        time.sleep(delay)  # a random point, not a wait for a condition
        hit = proc.poll() is None
        if hit and fault == "kill mig":
            proc.send_signal(signal.SIGKILL)
        elif hit:
            lab.server.stop(mode="immediate")
        out, err = proc.communicate(timeout=300)
        if not lab.server.is_running():
            lab.server.start()
        note = (f"round {number} (seed {seed}): {' '.join(args)}, {fault}"
                f" {'at ' + repr(pattern) if pattern else f'after {delay:.2f}s'}"
                f" -> exit {proc.returncode}; stderr {err.strip()[-600:]!r}")
        if not hit:  # the command ended before the fault: it must have succeeded
            assert proc.returncode == 0, note
        status = _assert_record_matches_catalog(lab, dbname, note)
        # finish the run: the interrupted command again, then the rest
        for rest, _ in RUN[step:]:
            result = lab.mig(rest, dbname)
            assert result.returncode == 0, (note, rest, result.stdout, result.stderr)
        final = lab.state(dbname)
        assert diff(lab.final[0], final[0]) == [], note
        assert final[1] == lab.final[1], note
        after = _assert_record_matches_catalog(lab, dbname, note + " (finished)")
        assert after["current"] and after["problems"] == [], note
        lab.sql(f"DROP DATABASE {dbname}")
        outcomes.append(f"{note.split(' -> ')[0]}: {'hit' if hit else 'missed'}"
                        f"{'' if seen else ' (statement not seen)'}; partial after the fault:"
                        f" {sorted(p['summary'] for p in status['partial']) or 'none'}")
    return outcomes


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("faults"))
    try:
        lab.build_states()
        yield lab
    finally:
        lab.close()


def test_faults_short_run(lab):
    """A few rounds (well under a minute) in the default suite."""
    outcomes = run_rounds(lab, int(os.environ.get("MIG_FAULT_ROUNDS", "4")), SEED)
    print("\n".join(outcomes))


@pytest.mark.faults
def test_faults_long_run(lab, request):
    """Many rounds; run with: python -m pytest -m faults tests/test_faults.py -s"""
    if "faults" not in (request.config.getoption("-m") or ""):
        pytest.skip("the long fault-injection run takes minutes: run with -m faults")
    outcomes = run_rounds(lab, int(os.environ.get("MIG_FAULT_LONG_ROUNDS", "60")), SEED + 1)
    print("\n".join(outcomes))
