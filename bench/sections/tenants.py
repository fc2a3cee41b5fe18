"""New tenants: a database cloned from a template at head (`mig db create --from-template`)
against the history applied to a new empty database (the shipped migrations and seeds, and a
long synthetic history)."""

from __future__ import annotations

import shutil
import statistics
import time
import uuid
from pathlib import Path

from bench.common import REPO, Bench, Row, ms, ratio_row
from bench.sections.migrations import synthetic


def _shipped(bench: Bench) -> Path:
    root = bench.tmp / "tenants_project"
    if not root.exists():
        root.mkdir()
        shutil.copytree(REPO / "migrations", root / "migrations")
        shutil.copytree(REPO / "seeds", root / "seeds")
        shutil.copy(REPO / "yoyo.ini", root / "yoyo.ini")
    return root


def _compare(bench: Bench, root: Path, *, seed: bool) -> tuple[float, float, float]:
    """Medians of: the clone (whole process), the copy alone, the history applied."""
    with_seed = ["--seed"] if seed else []
    template = "tenant_template_" + uuid.uuid4().hex[:6]
    bench.admin(f'CREATE DATABASE "{template}"')

    def cloned() -> float:
        """The whole process: the template proven at head, the copy, the clone proven."""
        name = "b_" + uuid.uuid4().hex[:10]
        try:
            return bench.run(bench.mig("db", "create", name, "--from-template", template,
                                       "-q", "-d", bench.url("postgres")), cwd=root)
        finally:
            bench.drop_db(name)

    def bare() -> float:
        """The floor: the copy alone."""
        name = "b_" + uuid.uuid4().hex[:10]
        started = time.perf_counter()
        try:
            bench.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            return time.perf_counter() - started
        finally:
            bench.drop_db(name)

    def history() -> float:
        """What a clone replaces: a new empty database, then the history (and the seeds)."""
        started = time.perf_counter()
        name = bench.new_db()
        try:
            bench.run(bench.mig("apply", *with_seed, "-q", "-d", bench.url(name)), cwd=root)
            return time.perf_counter() - started
        finally:
            bench.drop_db(name)

    try:
        bench.run(bench.mig("apply", *with_seed, "-q", "-d", bench.url(template)), cwd=root)
        # taking turns, so that a change in the machine's load falls on all three alike
        runs = [(cloned(), bare(), history()) for _ in range(bench.runs)]
        return tuple(statistics.median(r[i] for r in runs) for i in range(3))  # type: ignore
    finally:
        bench.drop_db(template)


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    count = 20 if bench.quick else 200
    for root, label, limit, seed in (
            (_shipped(bench), "the shipped history and seeds", 1.0, True),
            (synthetic(bench, count), f"{count} synthetic migrations", 0.5, False)):
        clone, floor, applied = _compare(bench, root, seed=seed)
        rows += [
            ratio_row(f"new tenant, {label}: mig db create --from-template vs CREATE DATABASE"
                      f" + mig apply{' --seed' if seed else ''}", clone, applied, "history",
                      limit),
            Row(f"new tenant, {label}: bare CREATE DATABASE … TEMPLATE (the copy alone, "
                "floor)", ms(floor), "-", "-", "-", None),
        ]
    return rows, [
        "tenants: whole-process wall time of `mig db create NAME --from-template TEMPLATE` (the "
        "template proven at head, the copy, the clone proven at head) against CREATE DATABASE "
        "of an empty database plus `mig apply` on it (`--seed` for the shipped history: its "
        "migrations, the Python one included, and the base seeds); the template is migrated "
        "(and seeded) once before the runs; each new database is dropped after its run, "
        "outside the timing. The floor is the CREATE DATABASE … TEMPLATE statement alone on a "
        "new connection, no process start-up: PostgreSQL writes every page of the copy, the "
        "template's catalogs included, to the WAL, so a clone costs about the same whatever "
        "the history's length, while applying the history grows with it. The three take "
        "turns in each run (medians of each)."]
