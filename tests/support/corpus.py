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
    --from golang-migrate --set Namespace=<namespace>``, and ``create_schemas = <namespace>``
    in its yoyo.ini: the history expects the schema to exist before its first migration
    (supabase's deployments create it), so mig creates it where it is missing, on the
    database and on the scratch databases of ``mig verify`` and ``mig status --check``."""
    _import(root, "golang-migrate", SUPABASE_AUTH, "--set", f"Namespace={namespace}")
    ini = root / "yoyo.ini"
    base = ini.read_text() if ini.exists() else (
        "[DEFAULT]\nsources = %(here)s/migrations\nmigration_table = _yoyo_migration\n")
    ini.write_text(base + f"\n[mig]\ncreate_schemas = {namespace}\n")
    return root


def import_hydra(root: Path) -> Path:
    """A project in ``root`` with ory/hydra's 228 migrations imported by ``mig import --from
    pop`` (PostgreSQL's dialect files chosen, ``.autocommit`` ones run outside a
    transaction)."""
    return _import(root, "pop", HYDRA)
