"""Sections 1 and 2: applying migrations, and the no-op apply of a deploy at head."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from bench.common import REPO, Bench, Row, ms, ratio_row


def sql_project(bench: Bench, name: str, files: dict[str, str]) -> Path:
    """A project folder with yoyo.ini and SQL migrations (name -> content)."""
    root = bench.tmp / name
    (root / "migrations").mkdir(parents=True, exist_ok=True)
    (root / "yoyo.ini").write_text("[DEFAULT]\nsources = %(here)s/migrations\n"
                                   "migration_table = _yoyo_migration\n")
    for file_name, content in files.items():
        (root / "migrations" / file_name).write_text(content)
    return root


def shipped_sql(bench: Bench) -> Path:
    """The shipped SQL migrations (Python ones cannot be fed to psql, so all tools skip them)."""
    files = {p.name: p.read_text() for p in sorted((REPO / "migrations").glob("[0-9]*.sql"))}
    return sql_project(bench, "shipped", files)


def synthetic(bench: Bench, count: int) -> Path:
    files = {}
    previous = None
    for i in range(1, count + 1):
        mid = f"{i:04d}_table_{i}"
        depends = f"-- depends: {previous}\n" if previous else ""
        files[f"{mid}.sql"] = (f"{depends}CREATE TABLE t_{i} (id bigint PRIMARY KEY, v text);\n"
                               f"CREATE INDEX t_{i}_v ON t_{i} (v);\n")
        files[f"{mid}.rollback.sql"] = f"DROP TABLE t_{i};\n"
        previous = mid
    return sql_project(bench, f"synthetic_{count}", files)


def combined_sql(project: Path) -> Path:
    """All apply files in id order, stripped of yoyo directives: what psql -1 -f runs."""
    parts = [p.read_text() for p in sorted((project / "migrations").glob("*.sql"))
             if not p.name.endswith(".rollback.sql")]
    out = project / "all.sql"
    out.write_text("\n".join(parts))
    return out


def _three_ways(bench: Bench, project: Path, label: str) -> list[Row]:
    all_sql = combined_sql(project)
    mig = bench.median_fresh(lambda url: bench.run(bench.mig("apply", "-q", "-d", url),
                                                   cwd=project))
    psql = bench.median_fresh(lambda url: bench.run(
        [bench.psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(all_sql), url]))
    yoyo = bench.median_fresh(lambda url: bench.run(
        bench.yoyo("apply", "-b", "--no-config-file", "-d", url,
                   str(project / "migrations"))))
    return [
        ratio_row(f"apply {label}: mig vs psql -1 -f (limit)", mig, psql, "psql", 1.5),
        ratio_row(f"apply {label}: mig vs yoyo apply (peer)", mig, yoyo, "yoyo", 1.0),
    ]


def apply_section(bench: Bench) -> tuple[list[Row], list[str]]:
    rows = _three_ways(bench, shipped_sql(bench), "shipped migrations")
    count = 10 if bench.quick else 200
    rows += _three_ways(bench, synthetic(bench, count), f"{count} synthetic migrations")
    notes = ["apply: whole-process wall time on a new empty database each run; the shipped "
             "history's Python migrations are left out of all three (psql cannot run them). "
             "mig is a Python process: its start-up and imports (the no-op apply row) are most "
             "of the gap to psql on the short shipped history. On long histories the rest is "
             "one transaction and commit per migration, each together with its records (the "
             "atomicity guarantee), against psql -1's single transaction."]
    return rows, notes


def import_time_ms(bench: Bench, module: str) -> float:
    result = subprocess.run([bench.python, "-X", "importtime", "-c", f"import {module}"],
                            capture_output=True, text=True, env=bench.env, check=True)
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$", line.rstrip())
        if match and match.group(2) == module:
            return int(match.group(1)) / 1000
    raise RuntimeError(f"no import time for {module}")


def noop_section(bench: Bench) -> tuple[list[Row], list[str]]:
    project = shipped_sql(bench)
    name = bench.new_db()
    url = bench.url(name)
    try:
        bench.run(bench.mig("apply", "-q", "-d", url), cwd=project)
        bench.run(bench.yoyo("apply", "-b", "--no-config-file", "-d", url,
                             str(project / "migrations")))
        mig = bench.median(lambda: bench.run(bench.mig("apply", "-q", "-d", url), cwd=project))
        yoyo = bench.median(lambda: bench.run(bench.yoyo(
            "apply", "-b", "--no-config-file", "-d", url, str(project / "migrations"))))
        floor = bench.median(lambda: bench.run([bench.python, "-c", "import psycopg2"]))
        status = bench.median(lambda: bench.run(
            bench.mig("status", "-q", "--exit-code", "-d", url), cwd=project))
    finally:
        bench.drop_db(name)
    imports = bench.median(lambda: import_time_ms(bench, "mig.cli") / 1000)
    rows = [
        ratio_row("no-op apply at head: mig vs yoyo", mig, yoyo, "yoyo", 1.0),
        Row("no-op apply at head: mig vs import psycopg2 (floor)", ms(mig),
            f"floor {ms(floor)}", f"{mig / floor:.2f}×", "< 200 ms", mig < 0.2),
        Row("status --exit-code at head", ms(status), f"floor {ms(floor)}",
            f"{status / floor:.2f}×", "-", None),
        Row("import mig.cli (-X importtime)", ms(imports), "-", "-", "-", None),
    ]
    return rows, []


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
