"""The real migration histories of ``../shared/corpus`` made into mig projects the way a user
does it, with ``mig import`` (read where they are, never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

from .project import REPO, run_mig

CORPUS = REPO.parent / "shared" / "corpus"
SUPABASE_AUTH = CORPUS / "supabase-auth"
HYDRA = CORPUS / "hydra"


def _import(root: Path, fmt: str, folder: Path, *args: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    done = run_mig(["import", "-q", "--from", fmt, str(folder), *args], cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"mig import of {folder} failed:\n{done.stdout}{done.stderr}")
    return root


def import_supabase_auth(root: Path, namespace: str = "auth") -> Path:
    """A project in ``root`` with supabase/auth's 70 migrations imported by ``mig import
    --from golang-migrate --set Namespace=<namespace>``, and one migration of the project's
    own before them, ``0000_namespace``: ``CREATE SCHEMA IF NOT EXISTS <namespace>``.

    The history expects the schema to exist before its first migration (supabase's
    deployments create it); the project's own first migration makes it exist wherever the
    history is built, the scratch databases of ``mig verify`` and ``mig status --check`` too,
    and leaves a schema created by hand as it was.
    """
    _import(root, "golang-migrate", SUPABASE_AUTH, "--set", f"Namespace={namespace}")
    (root / "migrations" / "0000_namespace.sql").write_text(
        f'CREATE SCHEMA IF NOT EXISTS "{namespace}";\n')
    return root


def import_hydra(root: Path) -> Path:
    """A project in ``root`` with ory/hydra's 228 migrations imported by ``mig import --from
    pop`` (PostgreSQL's dialect files chosen, ``.autocommit`` ones run outside a
    transaction)."""
    return _import(root, "pop", HYDRA)
