"""A new migration file written for ``mig new``: a timestamp-prefixed name, and the
template of its kind (SQL with its rollback file beside it, or a yoyo Python file)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MigError
from ..yoyo.migrations import PYTHON_TEMPLATE

_SQL_TEMPLATE = """-- {name}
{depends}
"""


def new_migration(
    folder: Path, name: str, *, python: bool = False, after: str | None = None
) -> list[Path]:
    """Create a timestamp-prefixed migration (and rollback file for SQL); return the paths."""
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
    for p in paths:
        if p.exists():
            raise MigError(f"{p} already exists")
    for p, text in zip(paths, contents):
        p.write_text(text)
    return paths
