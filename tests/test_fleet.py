"""mig over a fleet: many databases (and schemas) of the suite's server, with faults."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest

import mig
from mig import fleet
from mig.engine.lock import lock_key
from mig.errors import EXIT_CANARY, EXIT_PENDING, ConfigError
from mig.server import LocalServer
from tests.support import (
    PASSWORD,
    PASSWORD_ROLE,
    REPO,
    TWO_MIGRATIONS,
    query,
    run_mig,
    wait_for,
    write_project,
)

HEAD = "20260212_120000_application_role_privileges"
BEFORE_HEAD = "20260209_090000_lowercase_emails"


def _admin(server: LocalServer, *statements: str) -> None:
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def _create_from(server: LocalServer, template: str, names: list[str]) -> None:
    """Databases cloned from ``template``, four at a time (each clone waits on the disk)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: _admin(server, f'CREATE DATABASE "{n}" TEMPLATE "{template}"'),
                      names))


def _drop(server: LocalServer, names: list[str]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: _admin(server, f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)'),
                      names))


@pytest.fixture(scope="module")
def template(pg_server: LocalServer) -> Iterator[str]:
    """A database with the shipped history applied up to the migration before the newest."""
    name = "fleet_tpl_" + uuid.uuid4().hex[:8]
    _admin(pg_server, f'CREATE DATABASE "{name}"')
    mig.apply(mig.resolve(database=pg_server.url(name), project_dir=REPO), to=BEFORE_HEAD)
    yield name
    _drop(pg_server, [name])


@pytest.fixture(scope="module")
def hundred(pg_server: LocalServer, template: str) -> Iterator[list[str]]:
    """100 databases one migration behind, named with a common prefix."""
    prefix = "fleet_" + uuid.uuid4().hex[:6] + "_"
    names = [f"{prefix}{i:03d}" for i in range(100)]
    _create_from(pg_server, template, names)
    yield names
    _drop(pg_server, names)


@pytest.fixture
def few(pg_server: LocalServer, template: str) -> Iterator[list[str]]:
    names = ["fleet_few_" + uuid.uuid4().hex[:8] for _ in range(6)]
    _create_from(pg_server, template, names)
    yield names
    _drop(pg_server, names)


def _applied(server: LocalServer, name: str, schema: str = "public") -> list[str]:
    return [r[0] for r in query(server.url(name),
                                f'SELECT migration_id FROM "{schema}"._yoyo_migration'
                                " ORDER BY migration_id")]


def _lines(stdout: str) -> tuple[dict[str, dict], dict]:
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    summary = records.pop()
    assert summary["summary"] is True
    by_target = {r["target"]: r for r in records}
    assert len(by_target) == len(records), "each target reported once"
    return by_target, summary


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 100 databases -----------------------------------------------------------------------------
@pytest.mark.long
def test_apply_status_rollback_over_100_databases(pg_server, hundred, tmp_path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("# the tenants\n" + "".join(
        f"{pg_server.url(n)}  label.region={'eu' if i % 2 else 'us'}\n"
        for i, n in enumerate(hundred)))
    journal = tmp_path / "apply.jsonl"
    done = run_mig(["apply", "--fleet", str(listing), "--json", "--journal", str(journal)],
                   cwd=REPO)
    assert done.returncode == 0, done.stderr
    outcomes, summary = _lines(done.stdout)
    assert sorted(outcomes) == sorted(hundred)
    assert {o["outcome"] for o in outcomes.values()} == {"applied"}
    assert all(o["migrations"] == [HEAD] and o["version"] == HEAD for o in outcomes.values())
    assert summary["outcomes"] == {"applied": 100} and summary["ok"] is True
    for name in hundred:
        assert _applied(pg_server, name)[-1] == HEAD
    assert json.loads(journal.read_text().splitlines()[-1])["complete"] is True

    # the same run again: a fresh run (the last one completed) finds every target at head
    again = run_mig(["apply", "--fleet", str(listing), "--json", "--journal", str(journal)],
                    cwd=REPO)
    assert again.returncode == 0, again.stderr
    _, summary = _lines(again.stdout)
    assert summary["outcomes"] == {"at head": 100}

    # three of them one migration back, then status groups the fleet by version
    three = tmp_path / "three.txt"
    three.write_text("".join(pg_server.url(n) + "\n" for n in hundred[:3]))
    back = run_mig(["rollback", "--fleet", str(three), "--journal", str(tmp_path / "rb.jsonl")],
                   cwd=REPO)
    assert back.returncode == 0, back.stderr
    for name in hundred[:3]:
        assert _applied(pg_server, name)[-1] == BEFORE_HEAD
    prefix = hundred[0][:-3]
    status = run_mig(["status", "--fleet", f"databases:{prefix}%", "-d", pg_server.url()],
                     cwd=REPO)
    assert status.returncode == 0, status.stderr
    assert f"  97 at {HEAD} (current)" in status.stdout
    assert f"  3 at {BEFORE_HEAD} (1 pending)" in status.stdout
    behind = run_mig(["status", "--fleet", f"databases:{prefix}%", "-d", pg_server.url(),
                      "--exit-code", "-q"], cwd=REPO)
    assert behind.returncode == 4


def test_seed_and_wait_over_a_fleet(pg_server, few, tmp_path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(pg_server.url(n) + "\n" for n in few[:3]))
    waited = run_mig(["wait", "--fleet", str(listing), "--timeout", "0", "--json"], cwd=REPO)
    assert waited.returncode == 1
    outcomes, summary = _lines(waited.stdout)
    assert {o["error_type"] for o in outcomes.values()} == {"NotAtHead"}
    applied = run_mig(["apply", "--fleet", str(listing), "--seed", "--json", "--journal",
                       str(tmp_path / "j.jsonl")], cwd=REPO)
    assert applied.returncode == 0, applied.stderr
    outcomes, _ = _lines(applied.stdout)
    assert all(o["seed"]["inserted"] > 0 for o in outcomes.values())
    for name in few[:3]:
        assert query(pg_server.url(name), "SELECT count(*) FROM roles")[0][0] >= 3
    seeded = run_mig(["seed", "--fleet", str(listing), "--json", "--journal",
                      str(tmp_path / "s.jsonl")], cwd=REPO)
    assert seeded.returncode == 0, seeded.stderr
    outcomes, _ = _lines(seeded.stdout)
    assert all(o["seed"]["inserted"] == 0 and o["seed"]["unchanged"] > 0
               for o in outcomes.values())
    waited = run_mig(["wait", "--fleet", str(listing), "--timeout", "5"], cwd=REPO)
    assert waited.returncode == 0, waited.stderr
    assert f"3 at {HEAD} (current)" in waited.stdout


# -- faults ------------------------------------------------------------------------------------
def test_each_fault_is_reported_for_its_target_and_a_rerun_finishes(pg_server, few,
                                                                    tmp_path) -> None:
    ok1, wrong_pw, edited, locked, ok2, _ = few
    port = pg_server.url().split(":")[-1].split("/")[0]
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password-xyz\n")
    listing = tmp_path / "fleet.yaml"
    listing.write_text(f"""\
targets:
  - name: ok1
    url: {pg_server.url(ok1)}
  - name: unreachable
    url: postgresql://postgres@127.0.0.1:{_closed_port()}/nowhere
  - name: wrong-password
    url: postgresql://{PASSWORD_ROLE}@127.0.0.1:{port}/{wrong_pw}
    password_file: {wrong}
  - name: edited
    url: {pg_server.url(edited)}
  - name: locked
    url: {pg_server.url(locked)}
  - name: ok2
    url: {pg_server.url(ok2)}
    labels: {{tier: large}}
""")
    query(pg_server.url(edited), "UPDATE _mig_migrations SET checksum = 'x' || checksum"
          " WHERE migration_id = '20260128_104444_users'")
    holder = psycopg2.connect(pg_server.url(locked))
    holder.autocommit = True
    holder.cursor().execute("SELECT pg_advisory_lock(%s)", (lock_key("_yoyo_migration"),))
    journal = tmp_path / "journal.jsonl"
    try:
        run = run_mig(["apply", "--fleet", str(listing), "--json", "--lock-wait", "1",
                       "--journal", str(journal)], cwd=REPO)
    finally:
        holder.close()
    assert run.returncode == 1
    assert "not-the-password-xyz" not in run.stdout + run.stderr
    outcomes, summary = _lines(run.stdout)
    assert {n: o["outcome"] for n, o in outcomes.items()} == {
        "ok1": "applied", "ok2": "applied", "unreachable": "failed",
        "wrong-password": "failed", "edited": "failed", "locked": "failed"}
    assert outcomes["unreachable"]["error_type"] == "DatabaseUnavailable"
    assert "connection refused" in outcomes["unreachable"]["error"].lower()
    assert outcomes["wrong-password"]["error_type"] == "DatabaseUnavailable"
    assert "password authentication failed" in outcomes["wrong-password"]["error"]
    assert outcomes["edited"]["error_type"] == "ChecksumMismatch"
    assert "20260128_104444_users" in outcomes["edited"]["error"]
    assert outcomes["locked"]["error_type"] == "LockTimeout"
    assert summary["failed"] == 4 and summary["outcomes"]["applied"] == 2
    for name in (ok1, ok2):
        assert _applied(pg_server, name)[-1] == HEAD
    for name in (wrong_pw, edited, locked):  # nothing half-applied
        assert _applied(pg_server, name)[-1] == BEFORE_HEAD

    # fix all but the unreachable one; the rerun resumes: the two done are not run again
    wrong.write_text(PASSWORD + "\n")
    assert run_mig(["repair", "-q", "-d", pg_server.url(edited)], cwd=REPO).returncode == 0
    rerun = run_mig(["apply", "--fleet", str(listing), "--json", "--journal", str(journal)],
                    cwd=REPO)
    assert rerun.returncode == 1
    outcomes, summary = _lines(rerun.stdout)
    assert set(outcomes) == {"unreachable", "wrong-password", "edited", "locked"}
    assert summary["from_journal"] == 2 and summary["outcomes"]["done before"] == 2
    assert {n: o["outcome"] for n, o in outcomes.items() if n != "unreachable"} == {
        "wrong-password": "applied", "edited": "applied", "locked": "applied"}
    assert summary["failures"].keys() == {"unreachable"}
    assert PASSWORD not in rerun.stdout + rerun.stderr


def test_a_no_op_run_skips_only_the_targets_at_head(pg_server, few, tmp_path) -> None:
    """The one-query skip never passes over a target that is behind, edited or unfinished."""
    at_head, edited, unfinished, unchecked, also_at_head, behind = few
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(f"{pg_server.url(n)} name={n}\n" for n in few[:5]))
    first = run_mig(["apply", "-q", "--fleet", str(listing), "--journal",
                     str(tmp_path / "first.jsonl")], cwd=REPO)
    assert first.returncode == 0, first.stderr
    listing.write_text("".join(f"{pg_server.url(n)} name={n}\n" for n in few))
    query(pg_server.url(edited), "UPDATE _mig_migrations SET checksum = 'x' || checksum"
          " WHERE migration_id = '20260128_104444_users'")
    query(pg_server.url(unfinished), "INSERT INTO _mig_partial (migration_id, direction,"
          f" checksum, steps) SELECT migration_id, 'rollback', checksum, 2"
          f" FROM _mig_migrations WHERE migration_id = '{HEAD}'")
    query(pg_server.url(unchecked),  # a record without mig's checksum (applied by yoyo)
          f"DELETE FROM _mig_migrations WHERE migration_id = '{HEAD}'")

    run = run_mig(["apply", "--fleet", str(listing), "--json", "--journal",
                   str(tmp_path / "noop.jsonl")], cwd=REPO)
    outcomes, summary = _lines(run.stdout)
    assert {n: o["outcome"] for n, o in outcomes.items()} == {
        at_head: "at head", also_at_head: "at head", unchecked: "at head",
        behind: "applied", edited: "failed", unfinished: "failed"}, run.stdout
    assert outcomes[behind]["migrations"] == [HEAD]
    assert outcomes[edited]["error_type"] == "ChecksumMismatch"
    assert "20260128_104444_users" in outcomes[edited]["error"]
    assert HEAD in outcomes[unfinished]["error"]
    assert {outcomes[n]["version"] for n in (at_head, also_at_head, unchecked, behind)} == {HEAD}
    assert summary["failed"] == 2 and run.returncode == 1

    # the one-query check proves "at head" only where the whole status read says current
    from mig.commands.state import at_head as probe
    from mig.disk.scripts import scan

    settings = mig.resolve(project_dir=REPO)
    scripts, _ = scan(settings.sources)
    for name in few:
        one = dataclasses.replace(settings, database=mig.resolve(
            database=pg_server.url(name)).database)
        head = probe(one, scripts)
        report = mig.status(one)
        assert (head is not None) == (name in (at_head, also_at_head, behind)), name
        if head is not None:
            assert report.current and head.version == report.applied[-1].id == HEAD
    # an edited file on disk (the same records) is no longer at head anywhere
    changed = [dataclasses.replace(s, _checksum="0" * 64) if s.id == HEAD else s
               for s in scripts]
    one = dataclasses.replace(settings, database=mig.resolve(
        database=pg_server.url(at_head)).database)
    assert probe(one, changed) is None


def test_max_failures_and_canary_stop_before_the_rest(pg_server, few, tmp_path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{_closed_port()}/nowhere"
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"{pg_server.url(few[0])}\n{unreachable} name=down\n"
                       + "".join(pg_server.url(n) + "\n" for n in few[1:4]))
    stopped = run_mig(["apply", "--fleet", str(listing), "--jobs", "1", "--max-failures", "1",
                       "--journal", str(tmp_path / "a.jsonl")], cwd=REPO)
    assert stopped.returncode == 1
    assert "failed down" in stopped.stdout
    assert "3 pending" in stopped.stdout and "--max-failures" in stopped.stdout
    assert _applied(pg_server, few[0])[-1] == HEAD
    for name in few[1:4]:
        assert _applied(pg_server, name)[-1] == BEFORE_HEAD

    canary = run_mig(["apply", "--fleet", str(listing), "--canary", "2", "--json",
                      "--journal", str(tmp_path / "b.jsonl"), "--restart"], cwd=REPO)
    assert canary.returncode == EXIT_CANARY == 8  # told apart from a failure past the canary
    outcomes, summary = _lines(canary.stdout)
    assert set(outcomes) == {few[0], "down"}
    assert summary["pending"] == 3 and "canary" in summary["stopped"]
    assert summary["canary_failed"] is True
    for name in few[1:4]:
        assert _applied(pg_server, name)[-1] == BEFORE_HEAD

    listing.write_text("".join(pg_server.url(n) + "\n" for n in few[:4]))
    passed = run_mig(["apply", "--fleet", str(listing), "--canary", "2", "--json",
                      "--journal", str(tmp_path / "c.jsonl")], cwd=REPO)
    assert passed.returncode == 0, passed.stderr
    _, summary = _lines(passed.stdout)
    assert summary["outcomes"] == {"applied": 3, "at head": 1}


SLOW = {
    "0001_a.sql": "CREATE TABLE a (id int);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_slow.sql": "-- depends: 0001_a\nCREATE TABLE b (id int);\nSELECT pg_sleep(0.3);\n",
    "0002_slow.rollback.sql": "DROP TABLE b;\n",
}


def test_a_killed_coordinator_loses_nothing_and_a_rerun_finishes(pg_server, tmp_path) -> None:
    project = write_project(tmp_path / "project", SLOW)
    names = ["fleet_kill_" + uuid.uuid4().hex[:8] for _ in range(12)]
    _create_from(pg_server, "template0", names)
    try:
        listing = tmp_path / "fleet.txt"
        listing.write_text("".join(pg_server.url(n) + "\n" for n in names))
        journal = tmp_path / "journal.jsonl"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
        coordinator = subprocess.Popen(
            [sys.executable, "-m", "mig", "apply", "--fleet", str(listing), "--jobs", "2",
             "--journal", str(journal), "-q"], cwd=project, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (journal.exists() and len(journal.read_text().splitlines()) >= 3):
                assert coordinator.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.02)
            coordinator.send_signal(signal.SIGKILL)
        finally:
            coordinator.wait(timeout=30)
        recorded = [json.loads(x) for x in journal.read_text().splitlines() if x.strip()]
        assert not any(r.get("complete") for r in recorded)
        done_before = {r["target"] for r in recorded if r["ok"]}
        assert 3 <= len(done_before) < len(names)

        rerun = run_mig(["apply", "--fleet", str(listing), "--json", "--journal",
                         str(journal)], cwd=project)
        assert rerun.returncode == 0, rerun.stderr
        outcomes, summary = _lines(rerun.stdout)
        assert summary["from_journal"] == len(done_before)
        assert set(outcomes) == set(names) - done_before
        for name in names:  # every migration applied exactly once on every target
            rows = query(pg_server.url(name), "SELECT migration_id, count(*) FROM _yoyo_log"
                         " WHERE operation = 'apply' GROUP BY 1 ORDER BY 1")
            assert rows == [("0001_a", 1), ("0002_slow", 1)], name
    finally:
        _drop(pg_server, names)


# -- schemas -----------------------------------------------------------------------------------
def test_schema_targets_each_have_their_own_tables_records_and_lock(pg_server, db_url,
                                                                    tmp_path) -> None:
    query(db_url, "CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b; CREATE SCHEMA other")
    settings = mig.resolve(database=db_url, project_dir=REPO)
    targets = fleet.load("schemas:tenant\\_%", settings.database)
    assert [t.name for t in targets] == [f"{settings.database.dbname}.tenant_a",
                                         f"{settings.database.dbname}.tenant_b"]
    holder = psycopg2.connect(db_url)
    holder.autocommit = True
    holder.cursor().execute("SELECT pg_advisory_lock(%s)",
                            (lock_key("tenant_a._yoyo_migration"),))
    seen: list[fleet.Outcome] = []
    try:
        summary = fleet.apply(
            dataclasses.replace(settings, lock_wait=0.5), targets,
            fleet.FleetOptions(jobs=2, journal=tmp_path / "j.jsonl",
                               on_outcome=lambda o, s: seen.append(o)))
    finally:
        holder.close()
    by_name = {o.target: o for o in seen}
    failure = by_name[targets[0].name].failure
    assert failure is not None and failure.error_type == "LockTimeout"
    assert by_name[targets[1].name].outcome == "applied"
    assert summary.failed == 1
    # a schema named in a file that does not exist yet is created
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"{db_url} schema=tenant_a\n{db_url} schema=tenant_new name=new\n")
    run = run_mig(["apply", "--fleet", str(listing), "--journal", str(tmp_path / "k.jsonl")],
                  cwd=REPO)
    assert run.returncode == 0, run.stderr
    for schema in ("tenant_a", "tenant_b", "tenant_new"):
        ids = [r[0] for r in query(db_url, f"SELECT migration_id FROM {schema}._yoyo_migration")]
        assert len(ids) == 8 and HEAD in ids
        assert query(db_url, f"SELECT to_regclass('{schema}.users') IS NOT NULL")[0][0]
    assert query(db_url, "SELECT to_regclass('public._yoyo_migration')")[0][0] is None
    assert query(db_url, "SELECT to_regclass('other.users')")[0][0] is None
    status = run_mig(["status", "--fleet", str(listing)], cwd=REPO)
    assert f"2 at {HEAD} (current)" in status.stdout


# -- sources and bad input ---------------------------------------------------------------------
def test_a_catalog_query_lists_the_targets(pg_server, few) -> None:
    catalog = pg_server.url(few[5])
    query(catalog, "CREATE TABLE tenants (db text, active bool)")
    query(catalog, "INSERT INTO tenants VALUES (%s, true), (%s, false), (%s, true)",
          (few[0], few[1], few[2]))
    targets = fleet.load("sql:SELECT db AS dbname FROM tenants WHERE active ORDER BY db",
                         mig.resolve(database=catalog).database)
    assert [t.dsn.dbname for t in targets] == sorted([few[0], few[2]])
    assert all(t.dsn.get("port") == catalog.split(":")[-1].split("/")[0] for t in targets)
    with pytest.raises(ConfigError, match="must return url or dbname"):
        fleet.load("sql:SELECT db FROM tenants", mig.resolve(database=catalog).database)
    with pytest.raises(ConfigError, match="the query failed"):
        fleet.load("sql:SELECT nope FROM tenants", mig.resolve(database=catalog).database)


@pytest.mark.parametrize(("text", "message"), [
    ("postgresql://u:hunter2secret@db/x\n", "fleet.txt:1: this target's URL holds a password"),
    ("postgresql://db/x\npostgresql://db/y name=x\n", "fleet.txt:2: the target name 'x'"),
    ("postgresql://db/x\n\npostgresql://db:5432/x name=other\n", ""),
    ("postgresql://db/x colour=red\n", "fleet.txt:1: unknown key 'colour'"),
    ("postgresql://db/x schema\n", "fleet.txt:1: expected KEY=VALUE"),
    ("# nothing\n", "lists no targets"),
])
def test_bad_listings_are_refused_with_where(tmp_path, text, message) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text(text)
    if not message:  # the same database with and without its default port: two listings
        assert len(fleet.load(str(listing), None)) == 2
        return
    run = run_mig(["apply", "--fleet", str(listing)], cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr
    assert "hunter2secret" not in run.stderr + run.stdout


def test_bad_yaml_and_options(tmp_path) -> None:
    listing = tmp_path / "fleet.yaml"
    listing.write_text("targets:\n  - url: postgresql://db/a\n  - name: b\n")
    run = run_mig(["status", "--fleet", str(listing)], cwd=tmp_path)
    assert run.returncode == 2 and "fleet.yaml:3: a target must be a mapping with url" in run.stderr
    listing.write_text("targets:\n  - url: postgresql://db/a\n    labels: [x]\n")
    assert "fleet.yaml:2: labels must be a mapping" in run_mig(
        ["status", "--fleet", str(listing)], cwd=tmp_path).stderr
    listing.write_text("targets: [\n")
    assert "fleet.yaml:2: not valid YAML" in run_mig(["status", "--fleet", str(listing)],
                                                     cwd=tmp_path).stderr
    assert "--jobs works with --fleet only" in run_mig(["apply", "--jobs", "2"],
                                                       cwd=tmp_path).stderr
    bad_shard = run_mig(["status", "--fleet", str(listing), "--shard", "4/4"], cwd=tmp_path)
    assert bad_shard.returncode == 2 and "expected I/N with 0 <= I < N" in bad_shard.stderr
    assert "no such file" in run_mig(["apply", "--fleet", "missing.txt"], cwd=tmp_path).stderr
    (tmp_path / "one.txt").write_text("postgresql://nowhere.invalid/x\n")
    wide = run_mig(["rollback", "--fleet", "one.txt", "--steps", "2"], cwd=tmp_path)
    assert wide.returncode == 2 and "needs --yes" in wide.stderr
    assert "--dry-run does not work with --fleet" in run_mig(
        ["apply", "--fleet", "missing.txt", "--dry-run"], cwd=tmp_path).stderr


def test_shards_split_the_fleet_deterministically(tmp_path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(f"postgresql://db/tenant_{i}\n" for i in range(200)))
    targets = fleet.load(str(listing), None)
    shares = [fleet.shard(targets, i, 4) for i in range(4)]
    names = [t.name for share in shares for t in share]
    assert sorted(names) == sorted(t.name for t in targets)  # every target once
    assert all(20 < len(share) < 80 for share in shares)
    # a new tenant moves nobody else
    listing.write_text(listing.read_text() + "postgresql://db/tenant_new\n")
    grown = fleet.load(str(listing), None)
    assert [[t.name for t in fleet.shard(grown, i, 4) if t.name != "tenant_new"]
            for i in range(4)] == [[t.name for t in share] for share in shares]
    assert fleet.parse_shard("1/4") == (1, 4)


# -- 1,000 databases (run with -m fleet1000) ---------------------------------------------------
@pytest.mark.fleet1000
def test_apply_over_1000_databases(request, pg_server, template, tmp_path) -> None:
    if "fleet1000" not in (request.config.getoption("-m") or ""):
        pytest.skip("1,000 databases take minutes to create: run with -m fleet1000")
    names = [f"fleet_k_{uuid.uuid4().hex[:6]}_{i:04d}" for i in range(1000)]
    _create_from(pg_server, template, names)
    try:
        listing = tmp_path / "fleet.txt"
        listing.write_text("".join(pg_server.url(n) + "\n" for n in names))
        run = run_mig(["apply", "--fleet", str(listing), "--json", "--journal",
                       str(tmp_path / "j.jsonl")], cwd=REPO, timeout=1800)
        assert run.returncode == 0, run.stderr
        outcomes, summary = _lines(run.stdout)
        assert len(outcomes) == 1000 and summary["outcomes"] == {"applied": 1000}
        for name in names:
            assert _applied(pg_server, name)[-1] == HEAD
    finally:
        _drop(pg_server, names)


def test_verify_proves_the_rollbacks_once_per_server(pg_server, few, tmp_path) -> None:
    project = write_project(tmp_path / "project", TWO_MIGRATIONS)
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"{pg_server.url(few[0])}\n{pg_server.url(few[1])}\n"
                       f"postgresql://postgres@127.0.0.1:{_closed_port()}/x name=down\n")
    run = run_mig(["verify", "--fleet", str(listing), "--json"], cwd=project)
    assert run.returncode == 1
    outcomes, summary = _lines(run.stdout)
    assert outcomes[few[0]]["migrations"] == outcomes[few[1]]["migrations"] == ["0001_a",
                                                                                "0002_b"]
    assert outcomes[few[0]]["scratch"] == outcomes[few[1]]["scratch"]  # one proof
    assert outcomes["down"]["error_type"] == "DatabaseUnavailable"
    assert summary["outcomes"] == {"verified": 2, "failed": 1}


def test_the_production_profile_checks_every_target_before_any_runs(pg_server, few,
                                                                    tmp_path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"{pg_server.url(few[0])} name=plain\n")
    run = run_mig(["apply", "--fleet", str(listing), "--profile", "production"], cwd=REPO)
    assert run.returncode == 2
    assert "target plain: the production profile requires a verified TLS connection" in run.stderr
    assert _applied(pg_server, few[0])[-1] == BEFORE_HEAD


def test_a_target_on_a_host_that_is_not_local_gets_verified_tls(tmp_path) -> None:
    from mig.config import InsecureTLSWarning, resolve
    from mig.fleet.verbs import secured

    listing = tmp_path / "fleet.txt"
    listing.write_text("postgresql://app@db.example.invalid/tenant_a name=remote\n"
                       "postgresql://app@db.example.invalid/tenant_b?sslmode=require name=weak\n"
                       "postgresql://app@127.0.0.1/tenant_c name=local\n")
    remote, weak, local = fleet.load(str(listing), None)
    settings = resolve(project_dir=REPO, fleet=True, env={})
    verified = secured(settings, remote).dsn
    assert verified.get("sslmode") == "verify-full"
    assert verified.get("sslrootcert") in ("system", None)
    assert secured(settings, local).dsn.get("sslmode") is None  # loopback: left to libpq
    with pytest.warns(InsecureTLSWarning, match="target weak: .*NOT verified.*'require'"):
        assert secured(settings, weak).dsn.get("sslmode") == "require"  # explicit: honoured


def test_the_progress_line_counts_done_failed_pending_rate_and_eta() -> None:
    import io

    from mig.fleet.report import Progress

    # as if the run began two seconds ago
    summary = fleet.Summary("apply", 10, {"applied": 3, "failed": 1}, seconds=2.0)
    stream = io.StringIO()
    Progress(stream).update(summary, final=True)
    line = stream.getvalue()
    assert line.startswith("\rapply: 4/10 done, 1 failed, 6 pending, ")
    rate = float(line.split("pending, ")[1].split("/s")[0])
    assert 1.5 < rate <= 2.0  # 4 targets in a little over 2 s
    eta = float(line.split("ETA ")[1].split(" s")[0])
    assert abs(eta - 6 / rate) <= 1
    assert line.endswith("\n")


def test_the_journal_resumes_past_a_cut_line_and_restarts_when_complete(tmp_path) -> None:
    from mig.fleet.journal import Journal

    listing = tmp_path / "fleet.txt"
    listing.write_text("postgresql://db/a\npostgresql://db/b\npostgresql://db/c\n")
    a, b, c = fleet.load(str(listing), None)
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.record(fleet.Outcome("a", a.where, fleet.Result("applied")))
    journal.record(fleet.Outcome("b", b.where, fleet.Failure("DatabaseUnavailable", "down")))
    journal._file.write('{"target": "c", "wh')  # killed while writing
    journal._file.close()
    resumed = Journal(path)
    assert [resumed.done(t) for t in (a, b, c)] == [True, False, False]
    resumed.record(fleet.Outcome("b", b.where, fleet.Result("applied")))
    resumed.finish(all_ok=False)
    again = Journal(path)
    assert [again.done(t) for t in (a, b, c)] == [True, True, False]
    again.finish(all_ok=True)
    assert [Journal(path).done(t) for t in (a, b, c)] == [False, False, False]  # a new run
    other = dataclasses.replace(a, dsn=c.dsn)  # same name, another database: not done
    path.write_text(json.dumps({"target": "a", "where": a.where, "ok": True}) + "\n")
    assert not Journal(path).done(other)
    path.write_text("garbage\n{}\n")
    with pytest.raises(ConfigError, match="j.jsonl:1: not a journal record"):
        Journal(path)


def test_a_journal_written_by_the_previous_release_is_resumed(tmp_path) -> None:
    """The lines 0.x wrote (dicts of each verb's keys, an ``at``) are read as they are."""
    from mig.fleet.journal import Journal

    listing = tmp_path / "fleet.txt"
    listing.write_text("postgresql://db/a\npostgresql://db/b\npostgresql://db/c\n")
    a, b, c = fleet.load(str(listing), None)
    path = tmp_path / "old.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in [
        {"target": "a", "where": a.where, "ok": True, "outcome": "applied",
         "migrations": ["0001_a"], "version": "0001_a", "state": "current", "ms": 12,
         "at": "2026-12-01T10:00:00+00:00"},
        {"target": "b", "where": b.where, "ok": True, "outcome": "rolled back",
         "migrations": ["0002_b"], "version": None, "ms": 5,
         "at": "2026-12-01T10:00:01+00:00"},
        {"target": "c", "where": c.where, "ok": False, "outcome": "failed",
         "error_type": "DatabaseUnavailable", "error": "down", "ms": 3,
         "at": "2026-12-01T10:00:02+00:00"}]))
    journal = Journal(path)
    recorded = journal.recorded(a)
    assert recorded is not None and (recorded.where, recorded.outcome, recorded.version) == (
        a.where, "applied", "0001_a")
    gone = journal.recorded(b)
    assert gone is not None and gone.version is None  # rolled back to nothing: told apart
    assert journal.recorded(c) is None
    journal.record(fleet.Outcome("c", c.where, fleet.Result(
        "applied", migrations=("0001_a",), at=fleet.Place("0001_a", "current")), ms=7))
    journal.finish(all_ok=True)
    *_, written, complete = [json.loads(x) for x in path.read_text().splitlines()]
    assert list(written) == ["target", "where", "ok", "outcome", "migrations", "version",
                             "state", "ms", "at"]
    assert complete["complete"] is True and list(complete) == ["complete", "at"]


def test_an_outcome_and_the_summary_print_the_keys_they_always_had() -> None:
    def keys(outcome: fleet.Outcome) -> list[str]:
        return list(json.loads(json.dumps(outcome.to_json())))

    from mig.seeds.report import TableCounts

    at_head = fleet.Place("0002_b", "current")
    assert keys(fleet.Outcome("t", "db/t", fleet.Result(
        "current", at=at_head, pending=0, edited=0))) == [
        "target", "where", "ok", "outcome", "version", "state", "pending", "edited", "ms"]
    behind = fleet.Outcome("t", "db/t", fleet.Result(
        "behind", at=fleet.Place(None, "1 pending"), pending=1, edited=0, partial=()))
    assert behind.to_json() == {"target": "t", "where": "db/t", "ok": True, "outcome": "behind",
                                "version": None, "state": "1 pending", "pending": 1,
                                "edited": 0, "partial": [], "ms": 0}
    assert behind.line() == "t: behind, at no migration (1 pending)"
    created = fleet.Outcome("t", "db/t", fleet.Result(
        "created", template="tpl", migrations=(), at=at_head, clone_ms=40,
        seed=TableCounts(inserted=2)), ms=50)
    assert created.to_json() == {
        "target": "t", "where": "db/t", "ok": True, "outcome": "created", "template": "tpl",
        "migrations": [], "version": "0002_b", "state": "current", "clone_ms": 40,
        "seed": {"inserted": 2, "updated": 0, "unchanged": 0, "deleted": 0}, "ms": 50}
    rolled = fleet.Outcome("t", "db/t", fleet.Result(
        "rolled back", migrations=("0002_b",), at=fleet.Place("0001_a")))
    assert keys(rolled) == ["target", "where", "ok", "outcome", "migrations", "version", "ms"]
    assert rolled.line() == "t: rolled back (1 migration(s)), at 0001_a"
    verified = fleet.Outcome("t", "db/t", fleet.Result(
        "verified", migrations=("0001_a",), scratch="mig_verify_x"))
    assert keys(verified) == ["target", "where", "ok", "outcome", "migrations", "scratch", "ms"]
    failed = fleet.Outcome("t", "db/t", fleet.Failure("LockTimeout", "locked\nby pid 7"), ms=9)
    assert failed.to_json() == {"target": "t", "where": "db/t", "ok": False,
                                "outcome": "failed", "error_type": "LockTimeout",
                                "error": "locked\nby pid 7", "ms": 9}
    assert failed.line() == "t: failed [db/t]: locked\nby pid 7"

    from mig.fleet.outcomes import Tally

    tally = Tally("apply", 4)
    for outcome in (created, failed, fleet.Outcome("u", "db/u", fleet.Result(
            "at head", migrations=(), at=at_head))):
        tally.add(outcome)
    summary = tally.summary()
    data = summary.to_json()
    assert list(data) == ["summary", "verb", "targets", "ok", "outcomes", "failed", "pending",
                          "from_journal", "versions", "failures", "stopped", "canary_failed",
                          "seconds"]
    assert data["versions"] == [{"version": "0002_b", "state": "current", "targets": 2}]
    assert (data["ok"], data["failed"], data["pending"]) == (False, 1, 1)
    assert data["failures"] == {"t": "locked\nby pid 7"}
    assert summary.lines() == ["apply over 4 target(s): 1 at head, 1 created, 1 failed,"
                               " 1 pending", "  2 at 0002_b (current)", "  failed t: locked"]


# -- what the output says ----------------------------------------------------------------------
def test_seed_over_a_shard_says_which_migration_its_targets_are_at(pg_server, few,
                                                                    tmp_path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(pg_server.url(n) + "\n" for n in few[:4]))
    applied = run_mig(["apply", "-q", "--fleet", str(listing), "--journal",
                       str(tmp_path / "a.jsonl")], cwd=REPO)
    assert applied.returncode == 0, applied.stderr
    targets = fleet.load(str(listing), None)
    index = 0 if fleet.shard(targets, 0, 2) else 1  # a share that holds a target
    share = fleet.shard(targets, index, 2)
    seeded = run_mig(["seed", "--fleet", str(listing), "--shard", f"{index}/2", "--journal",
                      str(tmp_path / "s.jsonl")], cwd=REPO)
    assert seeded.returncode == 0, seeded.stderr
    assert f"  {len(share)} at {HEAD} (current)" in seeded.stdout.splitlines()
    assert "no migration" not in seeded.stdout
    as_json = run_mig(["seed", "--fleet", str(listing), "--shard", f"{index}/2", "--json",
                       "--journal", str(tmp_path / "s2.jsonl")], cwd=REPO)
    outcomes, summary = _lines(as_json.stdout)
    assert {o["version"] for o in outcomes.values()} == {HEAD}
    assert summary["versions"] == [{"version": HEAD, "state": "current",
                                    "targets": len(share)}]


def test_status_tells_a_target_with_an_unfinished_run_from_one_behind(pg_server, few,
                                                                      tmp_path) -> None:
    from mig.disk.scripts import scan

    half_done, behind = few[:2]
    checksum = {s.id: s.checksum for s in scan(mig.resolve(project_dir=REPO).sources)[0]}[HEAD]
    # what a run killed inside a non-transactional migration leaves: its run recorded as
    # started (from the file as it is), its first step done, its record not written
    query(pg_server.url(half_done), "INSERT INTO _mig_partial (migration_id, direction,"
          f" checksum, steps) VALUES ('{HEAD}', 'apply', '{checksum}', 2);"
          f" INSERT INTO _mig_progress (migration_id, step) VALUES ('{HEAD}', 0)")
    listing = tmp_path / "fleet.txt"
    listing.write_text(f"{pg_server.url(half_done)} name=half\n"
                       f"{pg_server.url(behind)} name=behind\n")
    run = run_mig(["status", "--fleet", str(listing), "--json"], cwd=REPO)
    outcomes, summary = _lines(run.stdout)
    assert outcomes["half"]["outcome"] == "partial", outcomes["half"]
    assert outcomes["half"]["partial"] == [HEAD]
    assert f"unfinished apply of {HEAD}" in outcomes["half"]["state"]
    assert outcomes["behind"]["outcome"] == "behind" and outcomes["behind"]["partial"] == []
    assert summary["outcomes"] == {"partial": 1, "behind": 1}
    text = run_mig(["status", "--fleet", str(listing), "--exit-code"], cwd=REPO)
    assert text.returncode == EXIT_PENDING
    assert text.stdout.splitlines()[0] == "status over 2 target(s): 1 behind, 1 partial"
    assert f"  1 at {BEFORE_HEAD} (unfinished apply of {HEAD}, 1 pending)" in text.stdout


def test_the_canary_question_is_not_drawn_over_by_the_progress_line(pg_server, few,
                                                                    tmp_path) -> None:
    """On a terminal, the progress line is erased before the question, which stays whole."""
    import pty
    import select

    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(pg_server.url(n) + "\n" for n in few[:3]))
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mig", "apply", "--fleet", str(listing), "--canary", "1",
         "--journal", str(tmp_path / "j.jsonl")], cwd=REPO, env=env, stdin=follower,
        stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"[y/N]" not in seen:
            assert time.monotonic() < deadline, seen
            assert proc.poll() is None, seen
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                seen += os.read(leader, 4096)
        question = seen.rindex(b"the canary's")
        before = seen[:question]
        assert before.endswith(b"\r\x1b[K"), before[-120:]  # the progress line erased first
        assert b"apply: 1/3 done" in before  # there was a progress line to erase
        # nothing draws over the question while it waits for its answer
        ready, _, _ = select.select([leader], [], [], 0.5)
        assert not ready or b"\r" not in os.read(leader, 4096)
        os.write(leader, b"n\n")
        assert proc.wait(timeout=60) == EXIT_PENDING  # declined: the rest left pending
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    assert _applied(pg_server, few[0])[-1] == HEAD
    assert _applied(pg_server, few[1])[-1] == BEFORE_HEAD


def _sessions(server: LocalServer, names: list[str]) -> dict[str, int]:
    """Each database's sessions so far, once none is connected (a session's count is
    written as it ends)."""
    def settled() -> dict[str, int] | None:
        rows = query(server.url(), "SELECT datname, numbackends, sessions FROM pg_stat_database"
                     " WHERE datname = ANY (%s)", (names,))
        if len(rows) != len(names) or any(busy for _, busy, _ in rows):
            return None
        return {name: count for name, _, count in rows}

    return wait_for(settled, what="no session connected")


def test_a_target_behind_is_applied_on_two_connections(pg_server, few, tmp_path) -> None:
    """A target the look proves behind gets the look's connection and the apply's: no
    status read between them."""
    names = few[:2]
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(f"{pg_server.url(n)} name={n}\n" for n in names))
    before = _sessions(pg_server, names)
    # --jobs given: the default asks the first target's server how many connections it has
    run = run_mig(["apply", "--fleet", str(listing), "--json", "--jobs", "2", "--journal",
                   str(tmp_path / "j.jsonl")], cwd=REPO)
    outcomes, summary = _lines(run.stdout)
    assert summary["failed"] == 0
    assert {n: (o["outcome"], o["migrations"], o["version"]) for n, o in outcomes.items()} == {
        n: ("applied", [HEAD], HEAD) for n in names}, run.stdout
    after = _sessions(pg_server, names)
    assert {n: after[n] - before[n] for n in names} == {n: 2 for n in names}
