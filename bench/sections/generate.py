"""Section: what ``mig new initial --from URL`` costs for the product's own schema.

The shipped migrations are applied to a database of the bench server; each run then writes the
first migration of a new, empty project from it: the schema read with its dependencies, the
plan rendered, proven on a scratch database of the bench server (``--scratch-server``: applied,
compared, rolled back, compared), and written (docs/generate.md).
"""

from __future__ import annotations

import shutil

from bench.common import Bench, Row, ms
from bench.sections.migrations import shipped_all


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    name = bench.new_db()
    url = bench.url(name)
    runs = 0
    try:
        bench.run(bench.mig("apply", "-q", "-d", url), cwd=shipped_all(bench))

        def once() -> float:
            nonlocal runs
            runs += 1
            project = bench.tmp / f"generate_{runs}"
            (project / "migrations").mkdir(parents=True)
            shutil.copy(shipped_all(bench) / "yoyo.ini", project / "yoyo.ini")
            try:
                return bench.run(bench.mig("new", "initial", "--from", url,
                                           "--scratch-server", bench.url("postgres")),
                                 cwd=project)
            finally:
                shutil.rmtree(project)

        value = bench.median(once)
    finally:
        bench.drop_db(name)
    rows = [Row("mig new initial --from URL, the product's own schema (proven, written)",
                ms(value), "-", "-", "-", None)]
    notes = ["generate: whole-process wall time of `mig new initial --from URL` in an empty "
             "project, URL a database the shipped migrations were applied to; the migration "
             "is generated, proven on a scratch database of the bench server "
             "(--scratch-server: applied, compared, rolled back, compared) and written, exit 0 "
             "required; a new empty project each run."]
    return rows, notes
