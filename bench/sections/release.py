"""Section: a whole release in one transaction (``mig apply --single-transaction``) against
``psql -1``, the same files in one transaction by the PostgreSQL client itself."""

from __future__ import annotations

from pathlib import Path

from bench.common import Bench, Row, ratio_row
from bench.sections.migrations import combined_sql, shipped_sql, synthetic


def _release(bench: Bench, project: Path, label: str, limit: float | None) -> list[Row]:
    all_sql = combined_sql(project)
    mig = bench.median_fresh(lambda url: bench.run(
        bench.mig("apply", "-q", "--single-transaction", "-d", url), cwd=project))
    psql = bench.median_fresh(lambda url: bench.run(
        [bench.psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", str(all_sql), url]))
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
             f"transaction; whole-process wall time on a new empty database each run. The "
             f"target (≤ 1.3× psql -1) is for a long history ({count} migrations); on the "
             f"shipped 8-file history mig's Python start-up and imports (the no-op rows) are "
             f"most of the figure."]
    return rows, notes
