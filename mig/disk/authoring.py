"""A new migration file written for ``mig new``: a timestamp-prefixed name, and the
template of its kind (SQL with its rollback file beside it, or a yoyo Python file) — mig's
own, or the project's from its templates folder (``templates`` in ``[mig]``)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MigError
from ..yoyo.migrations import PYTHON_TEMPLATE

_SQL_TEMPLATE = """-- {name}
{depends}
"""
# A project's templates: the file of each kind, and the placeholders they may hold.
TEMPLATE_FILES = {"sql": "migration.sql", "rollback": "migration.rollback.sql",
                  "python": "migration.py"}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PLACEHOLDERS = ("id", "name", "depends")


def _from_template(path: Path, values: dict[str, str]) -> str:
    """The text of the project's template ``path`` with ``{{ id }}``, ``{{ name }}`` and
    ``{{ depends }}`` filled (the depends line is put first when the template has no place
    for it, so the new migration still follows the newest one)."""
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        for found in _PLACEHOLDER.finditer(line):
            if found.group(1) not in _PLACEHOLDERS:
                raise MigError(
                    f"{path}:{number}: unknown placeholder {found.group(0)}",
                    hint="a template may hold {{ id }}, {{ name }} and {{ depends }}")
    filled = _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    if values["depends"] and "depends" not in {m.group(1) for m in _PLACEHOLDER.finditer(text)}:
        filled = f"{values['depends']}\n{filled}"
    return filled


def new_migration(
    folder: Path, name: str, *, python: bool = False, after: str | None = None,
    templates: Path | None = None,
) -> list[Path]:
    """Create a timestamp-prefixed migration (and rollback file for SQL); return the paths.

    :param templates: the project's templates folder: its ``migration.sql``,
        ``migration.rollback.sql`` and ``migration.py`` replace mig's own (each one missing
        there leaves mig's).
    :raises MigError: the name has no letters or digits; a file exists; the templates folder
        is missing, or a template holds an unknown placeholder.
    """
    if templates is not None and not templates.is_dir():
        raise MigError(f"the templates folder {templates} does not exist",
                       hint="create it with migration.sql, migration.rollback.sql and "
                       "migration.py as needed, or unset templates (MIG_TEMPLATES)")
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise MigError(f"migration name {name!r} has no letters or digits")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d_%H%M%S")
    mid = f"{stamp}_{slug}"
    folder.mkdir(parents=True, exist_ok=True)
    if python:
        path = folder / f"{mid}.py"
        depends = f"__depends__ = {{{after!r}}}\n" if after else ""
        paths = [path]
        contents = [PYTHON_TEMPLATE.format(name=name, depends=depends)]
    else:
        path = folder / f"{mid}.sql"
        depends = f"-- depends: {after}" if after else ""
        paths = [path, folder / f"{mid}.rollback.sql"]
        contents = [
            _SQL_TEMPLATE.format(name=name, depends=depends),
            f"-- rollback of {mid}: undo every statement of {mid}.sql\n",
        ]
    if templates is not None:
        kinds = ["python"] if python else ["sql", "rollback"]
        values = {"id": mid, "name": name, "depends": depends}
        contents = [_from_template(templates / TEMPLATE_FILES[kind], values)
                    if (templates / TEMPLATE_FILES[kind]).is_file() else text
                    for kind, text in zip(kinds, contents)]
    for p in paths:
        if p.exists():
            raise MigError(f"{p} already exists")
    for p, text in zip(paths, contents):
        p.write_text(text)
    return paths
