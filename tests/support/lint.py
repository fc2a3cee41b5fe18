"""Linting a project written on the fly, its migrations listed in the lock file first."""

from __future__ import annotations

from pathlib import Path

from mig.config import resolve
from mig.disk import scripts as scripts_mod
from mig.disk import sumfile
from mig.lint import LintReport, lint

from .project import write_project

# One table every lint case builds on.
LINT_BASE = {
    "0001_base.sql": "CREATE TABLE items (id bigint PRIMARY KEY, name text, size int8);\n",
    "0001_base.rollback.sql": "DROP TABLE items;\n",
}


def lint_listed(root: Path, files=(), **options) -> LintReport:
    """Lint the project at ``root`` after listing its migrations in the lock file."""
    settings = resolve(project_dir=root, env={})
    scripts, hooks = scripts_mod.load(settings.sources, checked=False)  # as mig hash reads them
    sumfile.write(settings.sources, scripts + hooks, force=True)
    return lint(settings, files, **options)


def lint_found(root: Path, migrations: dict[str, str], files=()) -> list[tuple]:
    """``(file name, line, rule)`` of each finding in LINT_BASE plus ``migrations``."""
    write_project(root, {**LINT_BASE, **migrations})
    return [(f.path.name, f.line, f.rule) for f in lint_listed(root, files).findings]
