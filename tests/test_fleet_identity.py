"""One database, one lock, one truth: every spelling of one target takes one migration lock, a
fleet refuses two entries that reach the same records, a rerun asks each target instead of
trusting its journal, and a listing never shows a password (nor any part of one)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest

import mig
from mig import fleet
from mig.engine.connect import connect, open_database
from mig.engine.lock import lock_key, tracking_place
from mig.errors import BadListing
from mig.server import LocalServer
from tests.support import (
    PASSWORD,
    PASSWORD_ROLE,
    TWO_MIGRATIONS,
    create_database,
    drop_database,
    query,
    run_mig,
    wait_for,
    write_project,
)

GATE = 741_852  # the advisory lock the first migration waits on; the test holds it

GATED = {
    # one transaction: the tables, then a wait on a lock the test controls, so that the run
    # holds the migration lock for as long as the test wants
    "0001_gate.sql": "CREATE TABLE items (id int PRIMARY KEY);\n"
                     "INSERT INTO items SELECT generate_series(1, 50);\n"
                     "CREATE TABLE step_runs (id int, pid int);\n"
                     f"SELECT pg_advisory_xact_lock({GATE});\n",
    "0001_gate.rollback.sql": "DROP TABLE step_runs;\nDROP TABLE items;\n",
    # a non-transactional data step: each run of it leaves its rows behind
    "0002_fill.py": '''
        from mig.data import data_step

        __depends__ = {"0001_gate"}
        __transactional__ = False


        def fill(batch):
            batch.execute("INSERT INTO step_runs SELECT id, pg_backend_pid() FROM items"
                          " WHERE {range}")


        steps = [data_step(fill, table="items", batch_size=10)]
    ''',
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    env.pop("DATABASE_URL", None)
    return {**env, **extra}


def _start(args: list[str], project: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "mig", *args], cwd=project, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _backend(url: str, pid: int) -> tuple | None:
    """The state of the migration connection of mig process ``pid``: its last query, whether
    it waits for a lock inside a statement, and whether it holds an advisory lock."""
    rows = query(url, "SELECT a.query, a.wait_event_type = 'Lock', EXISTS (SELECT 1 FROM pg_locks"
                 " l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)"
                 " FROM pg_stat_activity a WHERE a.application_name LIKE %s",
                 (f"mig apply (% pid {pid})",))
    return rows[0] if rows else None


def _waits_on_gate(url: str) -> bool:
    return bool(query(url, "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                      " AND classid = 0 AND objid = %s", (GATE,)))


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", GATED)


# Pairs of spellings of one target (the second run while the first holds the lock). Each is
# (mig arguments, environment) with {url}, {alias}, {noport} and {listing} filled in.
SPELLINGS = {
    "plain vs schema=public": (
        (["apply", "-d", "{url}"], {}),
        (["apply", "--fleet", "{listing}", "--journal", "{journal}"], {"listing": "{url} "
                                                                         "schema=public"})),
    "schemas:% fleet vs plain": (
        (["apply", "-d", "{url}", "--fleet", "schemas:%", "--journal", "{journal}"], {}),
        (["apply", "-d", "{url}"], {})),
    "search_path in the URL vs schema=": (
        (["apply", "-d", "{url}?options=-csearch_path%3Dtenant_a"], {}),
        (["apply", "--fleet", "{listing}", "--journal", "{journal}"], {"listing": "{url} "
                                                                         "schema=tenant_a"})),
    "host alias": (
        (["apply", "-d", "{url}"], {}),
        (["apply", "-d", "{alias}"], {})),
    "default port given or not": (
        (["apply", "-d", "{noport}"], {"PGPORT": "{port}"}),
        (["apply", "-d", "{url}"], {})),
}


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_every_spelling_of_one_target_takes_one_lock(pg_server: LocalServer, db_url: str,
                                                     gated: Path, tmp_path: Path,
                                                     spelling: str) -> None:
    """The first run holds the migration lock (its first migration waits on a lock the test
    holds); the second, another spelling of the same target, must wait for it rather than
    migrate beside it. Then each migration, and the non-transactional data step, ran once."""
    query(db_url, "CREATE SCHEMA tenant_a")
    schema = "tenant_a" if "tenant_a" in spelling or "search_path" in spelling else "public"
    port = str(pg_server.port)
    values = {"url": db_url, "alias": db_url.replace("127.0.0.1", "localhost"),
              "noport": db_url.replace(f":{port}/", "/"), "port": port}

    def command(index: int) -> tuple[list[str], dict[str, str]]:
        args, extra = SPELLINGS[spelling][index]
        fill = {**values, "listing": str(tmp_path / f"fleet{index}.txt"),
                "journal": str(tmp_path / f"journal{index}.jsonl")}
        if "listing" in extra:
            Path(fill["listing"]).write_text(extra["listing"].format(**fill) + "\n")
        env = {k: v.format(**fill) for k, v in extra.items() if k != "listing"}
        return [a.format(**fill) for a in args], env

    gate = psycopg2.connect(db_url)
    gate.autocommit = True
    gate.cursor().execute("SELECT pg_advisory_lock(%s)", (GATE,))
    first = second = None
    try:
        args, env = command(0)
        first = _start(args, gated, **env)
        wait_for(lambda: _waits_on_gate(db_url) or first.poll() is not None, 60,
                 "the first run holding the lock, waiting on the gate")
        assert first.poll() is None, first.communicate()
        args, env = command(1)
        second = _start(args, gated, **env)

        def second_state() -> str | None:
            if second.poll() is not None:
                return "ended"
            state = _backend(db_url, second.pid)
            if state is None:
                return None
            last, blocked, holds = state
            if blocked or holds:
                return "migrating beside the first"  # it took a lock of its own
            return "waiting" if last.startswith("SELECT pg_try_advisory_lock") else None

        assert wait_for(second_state, 60, "the second run at the lock") == "waiting"
    finally:
        gate.close()  # the first run goes on
        outputs = [p.communicate(timeout=120) + (p.returncode,) for p in (first, second) if p]
    for out, err, code in outputs:
        assert code == 0, out + err
    assert query(db_url, f"SELECT count(*), count(DISTINCT pid) FROM {schema}.step_runs"
                 ) == [(50, 1)], "the data step ran once"
    assert query(db_url, f"SELECT migration_id, count(*) FROM {schema}._yoyo_log WHERE "
                 "operation = 'apply' GROUP BY 1 ORDER BY 1") == [("0001_gate", 1),
                                                                 ("0002_fill", 1)]


def test_the_lock_key_comes_from_the_server(pg_server: LocalServer, db_url: str) -> None:
    """Plain and schema=public are one place, with the key an older mig takes for a plain
    target; another schema's key is its own; a schema not created yet keys by its name."""
    query(db_url, "CREATE SCHEMA tenant_a")
    places = {}
    for name, schema, url in [("plain", None, db_url), ("public", "public", db_url),
                              ("alias", None, db_url.replace("127.0.0.1", "localhost")),
                              ("tenant", "tenant_a", db_url), ("new", "tenant_new", db_url)]:
        settings = dataclasses.replace(mig.resolve(database=url), schema=schema)
        conn = connect(open_database(settings))
        try:
            places[name] = tracking_place(conn, settings)
        finally:
            conn.close()
    assert places["plain"] == places["public"] == places["alias"]
    assert places["plain"].key == lock_key("_yoyo_migration")
    assert places["tenant"].key == lock_key("tenant_a._yoyo_migration")
    assert places["new"].schema == "tenant_new"
    assert places["new"].key == lock_key("tenant_new._yoyo_migration")
    assert places["plain"].server and places["plain"].dbname == db_url.rsplit("/", 1)[1]


def test_a_fleet_refuses_two_entries_that_reach_the_same_records(pg_server: LocalServer,
                                                                   db_url: str,
                                                                   tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", TWO_MIGRATIONS)
    other = create_database(pg_server)
    try:
        port = str(pg_server.port)
        dbname = db_url.rsplit("/", 1)[1]
        socket = quote(str(pg_server.socket_dir), safe="")
        listing = tmp_path / "fleet.txt"
        listing.write_text(
            f"{db_url}\n"
            f"{pg_server.url(other)}\n"
            f"{db_url.replace('127.0.0.1', 'localhost')} name=alias\n"
            f"{db_url} schema=public name=pub\n"
            f"postgresql://postgres@{socket}:{port}/{dbname} name=socket\n"
            f"{db_url.replace(f':{port}/', '/')} name=noport\n")
        assert len(fleet.load(str(listing), None)) == 6  # as text they all differ
        # the same host, port and database with other parameters, in another order: text
        (tmp_path / "params.txt").write_text(
            f"{db_url}\npostgresql:///{dbname}?port={port}&host=127.0.0.1&sslmode=disable"
            " name=params\n")
        with pytest.raises(BadListing, match="params.txt:2: .* is listed again"):
            fleet.load(str(tmp_path / "params.txt"), None)
        journal = tmp_path / "j.jsonl"
        run = run_mig(["apply", "--fleet", str(listing), "--journal", str(journal)],
                      cwd=project, env={"PGPORT": port})
        assert run.returncode == 2, run.stdout + run.stderr
        for line in (3, 4, 5, 6):
            assert f"fleet.txt:{line}: " in run.stderr and "reaches the same records as " \
                f"{listing}:1" in run.stderr, run.stderr
        assert "fleet.txt:2:" not in run.stderr
        assert "4 problems" in run.stderr
        assert "list each database or schema once" in run.stderr
        # nothing ran, and the journal was not touched
        assert "_yoyo_migration" not in {r[0] for r in query(
            db_url, "SELECT tablename FROM pg_tables")}
        assert not journal.exists()
        status = run_mig(["status", "--fleet", str(listing), "--json"], cwd=project,
                         env={"PGPORT": port})
        assert status.returncode == 2 and "4 problems" in status.stderr, status.stderr
    finally:
        drop_database(pg_server, other)


# -- a rerun asks the database -----------------------------------------------------------------
@pytest.fixture
def three(pg_server: LocalServer) -> Iterator[list[str]]:
    names = [create_database(pg_server) for _ in range(3)]
    yield names
    for name in names:
        drop_database(pg_server, name)


def _lines(stdout: str) -> tuple[dict[str, dict], dict]:
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    summary = records.pop()
    assert summary["summary"] is True
    return {r["target"]: r for r in records}, summary


def _as_killed(journal: Path) -> None:
    """The journal as a run killed after its targets finished leaves it: no complete line."""
    lines = [x for x in journal.read_text().splitlines() if not json.loads(x).get("complete")]
    journal.write_text("".join(x + "\n" for x in lines))


def test_a_rerun_runs_a_target_that_moved_since_the_journal(pg_server: LocalServer,
                                                             three: list[str],
                                                             tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", TWO_MIGRATIONS)
    stays, moved, gone = three
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(f"{pg_server.url(n)} name={n}\n" for n in three))
    journal = tmp_path / "apply.jsonl"
    first = run_mig(["apply", "--fleet", str(listing), "--json", "--journal", str(journal)],
                    cwd=project)
    assert first.returncode == 0, first.stderr
    _as_killed(journal)
    # between the killed run and its rerun: one target rolled back by hand
    back = run_mig(["rollback", "-d", pg_server.url(moved)], cwd=project)
    assert back.returncode == 0, back.stderr

    rerun = run_mig(["apply", "--fleet", str(listing), "--json", "--journal", str(journal)],
                    cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    outcomes, summary = _lines(rerun.stdout)
    assert set(outcomes) == {moved}
    assert outcomes[moved]["outcome"] == "applied" and outcomes[moved]["migrations"] == ["0002_b"]
    assert summary["outcomes"] == {"done before": 2, "applied": 1}
    assert summary["from_journal"] == 2 and summary["ok"] is True
    assert summary["versions"] == [{"version": "0002_b", "state": "current", "targets": 3}]
    assert query(pg_server.url(moved), "SELECT count(*) FROM _yoyo_migration") == [(2,)]

    # a target recorded as done that cannot be asked any more is run (and fails), not counted
    _as_killed(journal)
    drop_database(pg_server, gone)
    failed = run_mig(["apply", "--fleet", str(listing), "--json", "--journal", str(journal)],
                     cwd=project)
    assert failed.returncode == 1, failed.stdout
    outcomes, summary = _lines(failed.stdout)
    assert set(outcomes) == {gone} and outcomes[gone]["error_type"] == "DatabaseUnavailable"
    assert summary["outcomes"] == {"done before": 2, "failed": 1}


def test_a_rollback_rerun_rolls_back_a_target_applied_again_since(pg_server: LocalServer,
                                                                  three: list[str],
                                                                  tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", TWO_MIGRATIONS)
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(f"{pg_server.url(n)} name={n}\n" for n in three))
    assert run_mig(["apply", "--fleet", str(listing), "-q", "--journal",
                    str(tmp_path / "a.jsonl")], cwd=project).returncode == 0
    journal = tmp_path / "rollback.jsonl"
    first = run_mig(["rollback", "--fleet", str(listing), "--json", "--journal", str(journal)],
                    cwd=project)
    assert first.returncode == 0, first.stderr
    _as_killed(journal)
    again = run_mig(["apply", "-d", pg_server.url(three[0])], cwd=project)
    assert again.returncode == 0, again.stderr

    rerun = run_mig(["rollback", "--fleet", str(listing), "--json", "--journal", str(journal)],
                    cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    outcomes, summary = _lines(rerun.stdout)
    assert set(outcomes) == {three[0]} and outcomes[three[0]]["migrations"] == ["0002_b"]
    assert summary["outcomes"] == {"done before": 2, "rolled back": 1}
    for name in three:  # every target where the rollback left it, none rolled back twice
        assert query(pg_server.url(name), "SELECT migration_id FROM _yoyo_migration") == [
            ("0001_a",)]


# -- listings ------------------------------------------------------------------------------------
PASSWORDS = ["Zq9#xWk7vJ", "Hx7 #Tb2mQ", "Lp@4Rz8Nw", "Vc:5Yd3Gs", "Ut%zK6Ej2", "Ob%41Fm9Xp",
             "Rk8/Qe3Wy"]


def _fragments(secret: str) -> set[str]:
    from urllib.parse import unquote

    found = set()
    for text in {secret, unquote(secret)}:
        found |= {text[i:j] for i in range(len(text)) for j in range(i + 3, len(text) + 1)}
    return found


def test_a_listing_never_shows_a_password_and_reports_every_bad_line(tmp_path: Path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text(
        "# tenants\n"
        + "".join(f"postgresql://mig:{p}@127.0.0.1:5432/app{i} name=t{i}\n"
                  for i, p in enumerate(PASSWORDS))
        + "postgresql://127.0.0.1/good  # a comment after a space\n"
        + "postgresql://127.0.0.1/other colour=red\n")
    yaml_listing = tmp_path / "fleet.yaml"
    yaml_listing.write_text("targets:\n" + "".join(
        f"  - url: 'postgresql://mig:{p}@127.0.0.1/app{i}'\n" for i, p in enumerate(PASSWORDS)))
    runs = []
    for source in (listing, yaml_listing):
        for args in (["apply"], ["apply", "--json"], ["status", "--json"], ["rollback", "-v"]):
            runs.append(run_mig([*args, "--fleet", str(source)], cwd=tmp_path))
    for i, password in enumerate(PASSWORDS):  # each alone: the first problem of its listing
        alone = tmp_path / f"alone{i}.txt"
        alone.write_text(f"postgresql://mig:{password}@127.0.0.1:5432/app\n")
        runs.append(run_mig(["apply", "--json", "--fleet", str(alone)], cwd=tmp_path))
    for run in runs:
        assert run.returncode == 2, run.stdout + run.stderr
        output = run.stdout + run.stderr
        for password in PASSWORDS:
            shown = [f for f in _fragments(password) if f in output]
            assert not shown, (password, shown, output)
    text_run = runs[0].stderr
    for line in range(2, 2 + len(PASSWORDS)):  # each refused for its password (unshown)
        assert re.search(f"fleet.txt:{line}: (this target's URL holds a password|the password"
                         " in the database URL contains)", text_run), text_run
    assert f"fleet.txt:{2 + len(PASSWORDS) + 1}: unknown key 'colour'" in text_run
    assert f"{len(PASSWORDS) + 1} problems" in text_run
    for line in range(2, 2 + len(PASSWORDS)):
        assert re.search(f"fleet.yaml:{line}: (this target's URL holds a password|the password"
                         " in the database URL contains)", runs[4].stderr), runs[4].stderr


def test_a_hash_starts_a_comment_only_after_a_space(tmp_path: Path) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("postgresql://127.0.0.1/db#1 name=first # the first\n"
                       "  # an indented comment\n"
                       "postgresql://127.0.0.1/db2 label.tag=a#b\n")
    first, second = fleet.load(str(listing), None)
    assert first.dsn.dbname == "db#1" and first.name == "first"
    assert second.labels == (("tag", "a#b"),)
    assert first.listed_at == f"{listing}:1" and second.listed_at == f"{listing}:3"


def test_the_catalogs_password_reaches_the_targets_it_lists(pg_server: LocalServer,
                                                            three: list[str],
                                                            tmp_path: Path) -> None:
    """A catalog reached as the role that must give a password: the databases and schemas it
    lists are reached with the same password, which no output shows."""
    project = write_project(tmp_path / "project", TWO_MIGRATIONS)
    catalog = (f"postgresql://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:{pg_server.port}/"
               f"{three[0]}")
    pattern = f"sql:SELECT datname AS dbname FROM pg_database WHERE datname IN " \
              f"('{three[0]}', '{three[1]}', '{three[2]}')"
    outputs = []
    for source in (pattern, "schemas:public"):
        run = run_mig(["apply", "--fleet", source, "--json", "--journal",
                       str(tmp_path / f"{source[:3]}.jsonl")], cwd=project,
                      env={"MIG_DATABASE_URL": catalog})
        assert run.returncode == 0, run.stdout + run.stderr
        outputs.append(run.stdout + run.stderr)
    for name in three:
        assert query(pg_server.url(name), "SELECT count(*) FROM _yoyo_migration") == [(2,)]
    assert not any(PASSWORD in out for out in outputs)
    # databases: finds them on the catalog's server too
    listed = fleet.load(f"databases:{three[1]}", mig.resolve(database=catalog).database)
    assert [t.dsn.password for t in listed] == [PASSWORD] and PASSWORD not in listed[0].where
