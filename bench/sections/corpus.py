"""Section: the real histories of ``../shared/corpus`` taken over: ``mig import`` and ``mig
apply`` on a new database, beside yoyo applying the same imported files.

supabase/auth (70 migrations; ``create_schemas = auth`` makes mig create the schema they
expect, which psql and yoyo are given by hand) runs on the bench server; ory/hydra (228
migrations) on Debian's PostgreSQL 15, started here, since its first migration needs
``uuid-ossp``. psql runs every file in order with no transaction around any (each statement
commits alone); yoyo is timed where it can apply the files at all (it cannot apply hydra's:
the notes say why).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2

from bench.common import Bench, Row, ms, ratio_row
from mig.server import LocalServer

PG15_BINDIR = Path("/usr/lib/postgresql/15/bin")


def _on(server: LocalServer, sql: str, dbname: str | None = None) -> None:
    conn = psycopg2.connect(server.url(dbname) if dbname else server.url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _fresh(bench: Bench, server: LocalServer, measure: Callable[[str], float],
           setup: str = "") -> float:
    """Median of ``measure(url)``, each run on a new empty database of ``server`` (given
    ``setup`` first: what the history expects before its first migration)."""
    times = []
    for _ in range(bench.runs):
        name = "b_" + uuid.uuid4().hex[:10]
        _on(server, f'CREATE DATABASE "{name}"')
        if setup:
            _on(server, setup, name)
        try:
            times.append(measure(server.url(name)))
        finally:
            _on(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return statistics.median(times)


def _psql_args(project: Path) -> list[str]:
    """``-f`` for every apply file in id order: what psql runs with no transaction around
    them (each statement its own; CREATE INDEX CONCURRENTLY as the tool runs it)."""
    files = sorted(p for p in (project / "migrations").glob("*.sql")
                   if not p.name.endswith(".rollback.sql"))
    return [arg for path in files for arg in ("-f", str(path))]


def _yoyo_fails(bench: Bench, server: LocalServer, folder: Path, setup: str) -> str | None:
    """Why yoyo cannot apply ``folder`` (its last line of error), or None when it can."""
    name = "b_" + uuid.uuid4().hex[:10]
    _on(server, f'CREATE DATABASE "{name}"')
    if setup:
        _on(server, setup, name)
    try:
        done = subprocess.run(bench.yoyo("apply", "-b", "--no-config-file", "-d",
                                         server.url(name), str(folder)),
                              env=bench.env, capture_output=True, text=True)
        return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]
    finally:
        _on(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(bench: Bench, server: LocalServer, psql: str, label: str,
          imported: Callable[[Path], Path], setup: str = "") -> tuple[list[Row], str | None]:
    def import_once() -> float:
        root = bench.tmp / f"corpus-{uuid.uuid4().hex[:6]}"
        begun = time.perf_counter()
        imported(root)
        spent = time.perf_counter() - begun
        shutil.rmtree(root)
        return spent

    project = imported(bench.tmp / f"corpus-{uuid.uuid4().hex[:6]}")
    importing = bench.median(import_once)
    mig = _fresh(bench, server, lambda url: bench.run(bench.mig("apply", "-q", "-d", url),
                                                      cwd=project))
    plain = _fresh(bench, server, lambda url: bench.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", *_psql_args(project), url]), setup)
    rows = [
        Row(f"mig import {label}", ms(importing), "-", "-", "-", None),
        Row(f"apply {label} on a new database: mig vs psql -f of every file, each "
            "statement committed alone", ms(mig), f"psql {ms(plain)}", f"{mig / plain:.2f}×",
            "-", None),
    ]
    failure = _yoyo_fails(bench, server, project / "migrations", setup)
    if failure is None:
        yoyo = _fresh(bench, server, lambda url: bench.run(
            bench.yoyo("apply", "-b", "--no-config-file", "-d", url,
                       str(project / "migrations"))), setup)
        rows.append(ratio_row(f"apply {label} on a new database: mig vs yoyo apply of the "
                              "same files (peer)", mig, yoyo, "yoyo", 1.0))
        rows.append(Row(f"import + apply {label}", ms(importing + mig),
                        f"yoyo apply {ms(yoyo)}", f"{(importing + mig) / yoyo:.2f}×", "-", None))
    else:
        rows.append(Row(f"apply {label} on a new database: mig vs yoyo apply of the same "
                        "files (peer)", ms(mig), "yoyo fails", "-", "-", None))
        rows.append(Row(f"import + apply {label}", ms(importing + mig), "-", "-", "-", None))
    return rows, failure


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    from tests.support.corpus import HYDRA, SUPABASE_AUTH, import_hydra, import_supabase_auth

    rows: list[Row] = []
    notes = ["corpus: whole-process wall times; 'mig import' runs `mig import` into a new "
             "folder (supabase/auth: --from golang-migrate --set Namespace=auth, and "
             "create_schemas = auth, where psql and yoyo get CREATE SCHEMA auth first; "
             "hydra: --from pop); apply runs on a new empty database each time; psql and "
             "yoyo run the files mig import wrote."]
    if SUPABASE_AUTH.is_dir():
        found, failure = _rows(bench, bench.server, bench.psql,
                               "supabase/auth (70 migrations)", import_supabase_auth,
                               "CREATE SCHEMA auth")
        rows += found
        if failure:
            notes.append(f"supabase/auth: yoyo fails: {failure}")
    else:
        notes.append("supabase/auth: ../shared/corpus not found.")
    if bench.quick:
        notes.append("hydra: left out of a --quick run.")
    elif HYDRA.is_dir() and PG15_BINDIR.is_dir():
        server = LocalServer(bench.tmp / "pg15" / "data", bindir=PG15_BINDIR, listen_tcp=True,
                             hba=["host all all 127.0.0.1/32 trust"])
        server.start()
        try:
            found, failure = _rows(bench, server, str(PG15_BINDIR / "psql"),
                                   "ory/hydra (228 migrations, PostgreSQL 15)", import_hydra)
            rows += found
        finally:
            server.destroy()
        notes.append("hydra runs on Debian's PostgreSQL 15 (uuid-ossp), started for the "
                     "section with the bench server's durable settings."
                     + (f" yoyo cannot apply the imported files: {failure} (its statement "
                        "splitter takes the apostrophe of a comment, `let's`, for a string, "
                        "and it sends comment-only files and the comments after a last `;` as "
                        "empty queries)." if failure else ""))
    else:
        notes.append("hydra: ../shared/corpus or /usr/lib/postgresql/15/bin not found.")
    return rows, notes
