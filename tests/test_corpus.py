"""The real histories of ``../shared/corpus`` imported with ``mig import`` and applied on a new
database: supabase's auth history here (hydra needs uuid-ossp, which the embedded server
lacks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REPO, query, run_mig, write_project

CORPUS = REPO.parent / "shared" / "corpus"


def test_supabase_auth_imported_applies_on_a_new_database(tmp_path, db_url):
    folder = CORPUS / "supabase-auth"
    if not folder.is_dir():
        pytest.skip(f"the corpus of real histories is not at {CORPUS} (CI has it there)")
    project: Path = write_project(tmp_path / "auth", {})
    imported = run_mig(["import", "--from", "golang-migrate", str(folder), "--set",
                        "Namespace=auth"], cwd=project)
    assert imported.returncode == 0, imported.stderr
    # as their deployments do: the schema exists before the first migration runs
    query(db_url, "CREATE SCHEMA auth")
    applied = run_mig(["apply", "-d", db_url], cwd=project, timeout=600)
    assert applied.returncode == 0, applied.stderr
    status = run_mig(["status", "-d", db_url], cwd=project)
    assert "70 applied, 0 pending, 0 edited" in status.stdout, status.stdout
    again = run_mig(["apply", "-d", db_url], cwd=project)
    assert again.returncode == 0
    assert "nothing to apply" in (again.stdout + again.stderr).lower()
    assert query(db_url, "SELECT to_regclass('auth.users') IS NOT NULL") == [(True,)]
