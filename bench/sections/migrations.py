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


def shipped_all(bench: Bench) -> Path:
    """The shipped migrations folder as it is (SQL and Python) with the shipped yoyo.ini."""
    root = bench.tmp / "shipped_all"
    if not root.exists():
        shutil.copytree(REPO / "migrations", root / "migrations")
        shutil.copy(REPO / "yoyo.ini", root / "yoyo.ini")
    return root


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


def _apply_files(project: Path) -> list[str]:
    return [p.read_text() for p in sorted((project / "migrations").glob("*.sql"))
            if not p.name.endswith(".rollback.sql")]


def combined_sql(project: Path) -> Path:
    """All apply files in id order (yoyo's directives are comments): what psql -1 -f runs."""
    out = project / "all.sql"
    out.write_text("\n".join(_apply_files(project)))
    return out


def per_file_sql(project: Path) -> Path:
    """The same files, each in a transaction of its own: one commit per migration, as mig."""
    out = project / "per_file.sql"
    out.write_text("".join(f"BEGIN;\n{text}\nCOMMIT;\n" for text in _apply_files(project)))
    return out


def _three_ways(bench: Bench, project: Path, label: str, target: float = 1.5) -> list[Row]:
    all_sql, per_file = combined_sql(project), per_file_sql(project)
    mig = bench.median_fresh(lambda url: bench.run(bench.mig("apply", "-q", "-d", url),
                                                   cwd=project))
    psql = bench.median_fresh(lambda url: bench.run(
        [bench.psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(all_sql), url]))
    psql_each = bench.median_fresh(lambda url: bench.run(
        [bench.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(per_file), url]))
    yoyo = bench.median_fresh(lambda url: bench.run(
        bench.yoyo("apply", "-b", "--no-config-file", "-d", url,
                   str(project / "migrations"))))
    return [
        ratio_row(f"apply {label}: mig vs psql -1 -f (limit)", mig, psql, "psql", target),
        ratio_row(f"apply {label}: mig vs psql, a transaction per file (comparable limit)",
                  mig, psql_each, "psql per file", 1.5),
        ratio_row(f"apply {label}: mig vs yoyo apply (peer)", mig, yoyo, "yoyo", 1.0),
    ]


def apply_section(bench: Bench) -> tuple[list[Row], list[str]]:
    rows = _three_ways(bench, shipped_sql(bench), "shipped migrations")
    count = 10 if bench.quick else 300
    rows += _three_ways(bench, synthetic(bench, count), f"{count} synthetic migrations", 1.2)
    notes = ["apply: whole-process wall time on a new empty database each run; the shipped "
             "history's Python migration is left out of all of them (psql cannot run it). "
             "mig is a Python process: its start-up and imports (the no-op apply rows) are most "
             "of the gap to psql on the short shipped history. On long histories consecutive "
             "transactional migrations commit in groups of up to 50, each migration together "
             "with its records (the atomicity guarantee), against psql -1's single "
             "transaction; 'psql, a transaction per file' runs the same files with a "
             "BEGIN/COMMIT around each, one psql process: the limit for a tool that commits "
             "each migration on its own. "
             "Where the time goes: the Profiles part."]
    return rows, notes


def import_time(bench: Bench, args: list[str], cwd: Path) -> float:
    """Seconds a process spends importing (``-X importtime``): every top-level import after
    the interpreter's own start-up (``site``), lazy ones included."""
    result = subprocess.run([bench.python, "-X", "importtime", *args], cwd=cwd,
                            capture_output=True, text=True, env=bench.env, check=True)
    total, started = 0, False
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line.rstrip())
        if not match:
            continue
        if started:
            total += int(match.group(1))
        started = started or match.group(2) == "site"
    if not started:
        raise RuntimeError(f"no import times from {args}")
    return total / 1_000_000


def noop_section(bench: Bench) -> tuple[list[Row], list[str]]:
    project = shipped_all(bench)  # the real folder: SQL and Python migrations
    name = bench.new_db()
    url = bench.url(name)
    mig_apply = bench.mig("apply", "-q", "-d", url)
    yoyo_apply = bench.yoyo("apply", "-b", "--no-config-file", "-d", url,
                            str(project / "migrations"))
    try:
        bench.run(mig_apply, cwd=project)
        bench.run(yoyo_apply)
        mig = bench.median(lambda: bench.run(mig_apply, cwd=project))
        yoyo = bench.median(lambda: bench.run(yoyo_apply))
        floor = bench.median(lambda: bench.run([bench.python, "-c", "import psycopg2"]))
        status = bench.median(lambda: bench.run(
            bench.mig("status", "-q", "--exit-code", "-d", url), cwd=project))
        imports = bench.median(lambda: import_time(bench, mig_apply[1:], project))
        yoyo_imports = bench.median(lambda: import_time(bench, yoyo_apply[1:], project))
    finally:
        bench.drop_db(name)
    rows = [
        ratio_row("no-op apply at head: mig vs yoyo", mig, yoyo, "yoyo", 1.0),
        Row("no-op apply at head: mig vs import psycopg2 (floor)", ms(mig),
            f"floor {ms(floor)}", f"{mig / floor:.2f}×", "< 200 ms", mig < 0.2),
        Row("status --exit-code at head", ms(status), f"floor {ms(floor)}",
            f"{status / floor:.2f}×", "-", None),
        Row("import time of a no-op apply (-X importtime, all it imports) vs yoyo's",
            ms(imports), f"yoyo {ms(yoyo_imports)}", f"{imports / yoyo_imports:.2f}×", "-",
            None),
    ]
    return rows, ["no-op: the shipped migrations folder as it is, its Python migration "
                  "included, every migration applied; whole-process wall time. The import "
                  "time is the sum of every top-level import after the interpreter's own "
                  "start-up, commands loaded on demand included."]


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
