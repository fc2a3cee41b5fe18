"""Section: a whole release in one transaction (``mig apply --single-transaction``) against
``psql -1``, the same files in one transaction by the PostgreSQL client itself."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

from bench.common import Bench, Row, ratio_row
from bench.sections.migrations import combined_sql, shipped_sql, synthetic


def _fresh(bench: Bench, measure: Callable[[str], float]) -> float:
    name = bench.new_db()
    try:
        return measure(bench.url(name))
    finally:
        bench.drop_db(name)


def _release(bench: Bench, project: Path, label: str, limit: float | None) -> list[Row]:
    all_sql = combined_sql(project)

    def mig_run(url: str) -> float:
        return bench.run(bench.mig("apply", "-q", "--single-transaction", "-d", url),
                         cwd=project)

    def psql_run(url: str) -> float:
        return bench.run([bench.psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f",
                          str(all_sql), url])

    # mig and psql alternate, each on a new database, so that a change in the machine's load
    # during the run weighs on both alike.
    pairs = [(_fresh(bench, mig_run), _fresh(bench, psql_run)) for _ in range(bench.runs)]
    mig = statistics.median(m for m, _ in pairs)
    psql = statistics.median(p for _, p in pairs)
    row = ratio_row(f"apply --single-transaction {label}: mig vs psql -1 -f", mig, psql,
                    "psql -1", limit or 0.0)
    if limit is None:  # reported, no target (a Python process's start-up dominates)
        row.target, row.met = "-", None
    return [row]


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    count = 10 if bench.quick else 250
    rows = _release(bench, shipped_sql(bench), "shipped migrations", None)
    rows += _release(bench, synthetic(bench, count), f"{count} synthetic migrations", 1.3)
    notes = [f"release: every pending migration and its records in one transaction "
             f"(--single-transaction) against psql -1 -f running the same files in one "
             f"transaction; whole-process wall time on a new empty database each run, mig and "
             f"psql taking turns. The target (≤ 1.3× psql -1) is for a long history ({count} "
             f"migrations); on the shipped 8-file history mig's Python start-up and imports "
             f"(the no-op rows) are most of the figure."]
    return rows, notes
