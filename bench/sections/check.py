"""Section: what ``mig status --check`` costs after a clean apply, against ``mig status``.

The check builds the applied history on a scratch database (here on the bench server, through
``--scratch-server``) the first time, and reads the build's objects from ``.mig/check-cache``
after; both are measured, on the shipped history and on supabase/auth's 70 migrations (from
``../shared/corpus``, imported with ``mig import`` as ``tests.support.corpus`` does for the tests).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.common import Bench, Row, ms
from bench.sections.migrations import shipped_all


def _supabase_auth(bench: Bench) -> Path | None:
    from tests.support.corpus import SUPABASE_AUTH, import_supabase_auth

    if not SUPABASE_AUTH.is_dir():
        return None
    root = bench.tmp / "supabase_auth"
    if not root.exists():
        import_supabase_auth(root)
    return root


def _rows(bench: Bench, project: Path, label: str) -> list[Row]:
    name = bench.new_db()
    url = bench.url(name)
    scratch = bench.url("postgres")
    cache = project / ".mig" / "check-cache"
    check = bench.mig("status", "-q", "--check", "-d", url, "--scratch-server", scratch)
    try:
        bench.run(bench.mig("apply", "-q", "-d", url), cwd=project)
        status = bench.median(lambda: bench.run(bench.mig("status", "-q", "-d", url),
                                                cwd=project))

        def built() -> float:
            shutil.rmtree(cache, ignore_errors=True)
            return bench.run(check, cwd=project)  # raises unless it exits 0: no false alarm

        cold = bench.median(built)
        warm = bench.median(lambda: bench.run(check, cwd=project))
    finally:
        bench.drop_db(name)
    return [Row(f"status --check after a clean apply, {label}: {what}", ms(value),
                f"status {ms(status)}", f"{value / status:.2f}×", "-", None)
            for what, value in (("scratch build", cold), ("build cached", warm))]


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    rows = _rows(bench, shipped_all(bench), "the shipped history")
    project = _supabase_auth(bench)
    if project is not None:
        rows += _rows(bench, project, "supabase/auth (70 migrations)")
    notes = ["check: whole-process wall time of `mig status --check` on a database just "
             "migrated, exit 0 required (no false alarm); 'scratch build': the applied history "
             "applied on a scratch database of the bench server (--scratch-server), its cache "
             "removed before each run; 'build cached': the build's objects read from "
             ".mig/check-cache (a repeated check of the same history); the reference is "
             "`mig status` without --check on the same database."
             + ("" if project is not None else " supabase/auth: ../shared/corpus not found.")]
    return rows, notes
