"""diesel's folders: one folder per migration, ``<version>_<name>/up.sql`` and ``down.sql``,
with an optional ``metadata.toml`` (``run_in_transaction = false``: outside a transaction).

The version is what comes before the first ``_``, dashes removed (``2017-10-18-123456`` is
``20171018123456``); diesel runs the migrations in order of their versions. The id is the
folder's name.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Found, Problem, Skipped, Source, Text

TEMPLATES = False
_RUN_IN_TRANSACTION = re.compile(r"^\s*run_in_transaction\s*=\s*(\S+)\s*(#.*)?$", re.M)


def version_of(name: str) -> str:
    """diesel's version of a migration folder's name."""
    return name.split("_", 1)[0].replace("-", "")


def _transactional(path: Path, found: Found) -> bool:
    """What ``metadata.toml`` says (diesel's default: in a transaction)."""
    text = found.text(path) if path.is_file() else None
    if text is None:
        return True
    try:
        import tomllib
    except ImportError:  # Python 3.10: the one key diesel reads, read by line
        match = _RUN_IN_TRANSACTION.search(text.text)
        value: object = {"true": True, "false": False}.get(match.group(1), match.group(1)) \
            if match else True
    else:
        try:
            value = tomllib.loads(text.text).get("run_in_transaction", True)
        except tomllib.TOMLDecodeError as exc:
            found.problems.append(Problem(path, None, f"not valid TOML: {exc}"))
            return True
    if not isinstance(value, bool):
        found.problems.append(Problem(path, None,
                                      f"run_in_transaction must be true or false, not {value!r}"))
        return True
    return value


def read(folder: Path) -> Found:
    """The migrations of a diesel folder, in order of their versions."""
    found = Found()
    candidates = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if not path.is_dir():
            found.skipped.append(Skipped(path, "a file: diesel's migrations are folders"))
            continue
        if not (path / "up.sql").is_file():
            found.problems.append(Problem(
                path, None, "a migration folder without up.sql: diesel refuses the folder "
                "too; add up.sql, or move the folder out"))
            continue
        if not path.name[:1].isdigit():
            found.problems.append(Problem(
                path, None, "a migration folder whose name does not start with its version"))
            continue
        candidates.append(path)
    seen: dict[str, Path] = {}
    for path in sorted(candidates, key=lambda p: (version_of(p.name), p.name)):
        version = version_of(path.name)
        if version in seen:
            found.problems.append(Problem(
                path, None, f"the version {version} of {seen[version].name} again: give each "
                "migration its own version"))
            continue
        seen[version] = path
        for inner in sorted(path.iterdir()):
            if inner.name not in ("up.sql", "down.sql", "metadata.toml"):
                found.skipped.append(Skipped(inner, "not a file diesel reads"))
        up = found.text(path / "up.sql")
        down: Text | None = (found.text(path / "down.sql") if (path / "down.sql").is_file()
                             else None)
        transactional = _transactional(path / "metadata.toml", found)
        if up is None:
            continue
        notes = () if transactional else ("run_in_transaction = false",)
        found.migrations.append(Source(path.name, version, up, down, transactional, notes))
    return found
