"""The real migration histories of ``../shared/corpus`` made into mig projects for tests and
benchmarks (read where they are, never copied into the repository)."""

from __future__ import annotations

import re
from pathlib import Path

from .project import REPO

CORPUS = REPO.parent / "shared" / "corpus"
SUPABASE_AUTH = CORPUS / "supabase-auth"
_NAMESPACE = re.compile(r'\{\{\s*index\s+\.Options\s+"Namespace"\s*\}\}')


def render_supabase_auth(root: Path, namespace: str = "auth") -> Path:
    """A project in ``root`` with supabase/auth's migrations as SQL migrations, the Go
    template filled with ``namespace``, ids and order kept, each depending on the one before
    it; a first migration creates the schema, which the history expects to exist."""
    folder = root / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "yoyo.ini").write_text(
        "[DEFAULT]\nsources = %(here)s/migrations\nmigration_table = _yoyo_migration\n")
    previous = "0000_namespace"
    (folder / f"{previous}.sql").write_text(f'CREATE SCHEMA IF NOT EXISTS "{namespace}";\n')
    for path in sorted(SUPABASE_AUTH.glob("*.up.sql")):
        name = path.name.removesuffix(".up.sql")
        text = _NAMESPACE.sub(namespace, path.read_text())
        (folder / f"{name}.sql").write_text(f"-- depends: {previous}\n{text}")
        previous = name
    return root
