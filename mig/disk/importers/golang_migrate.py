"""golang-migrate's folders: ``<version>_<title>.up.sql`` and ``<version>_<title>.down.sql``.

The version is an unsigned number, unique in the folder; golang-migrate runs the files in
numeric order, each as it is. Files of other extensions are other databases' (MongoDB's
``.json``).
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Found, Problem, Skipped, Source, Text

NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<title>.*)\.(?P<direction>down|up)\.(?P<ext>.*)$")
TEMPLATES = False


def read(folder: Path) -> Found:
    """The migrations of a golang-migrate folder, in numeric order of their versions."""
    found = Found()
    by_version: dict[int, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        match = NAME.match(path.name) if path.is_file() else None
        if match is None:
            found.skipped.append(Skipped(path, "not a golang-migrate migration file name"))
            continue
        if match.group("ext") != "sql":
            found.skipped.append(Skipped(path, f"a .{match.group('ext')} file, not SQL"))
            continue
        version = int(match.group("version"))
        files = by_version.setdefault(version, {})
        direction = match.group("direction")
        if direction in files:
            found.problems.append(Problem(
                path, None, f"version {version} has a second {direction} file "
                f"({files[direction].name}): golang-migrate refuses the folder too; give each"
                " migration its own version"))
            continue
        files[direction] = path
    for version in sorted(by_version):
        files = by_version[version]
        if "up" not in files:
            found.problems.append(Problem(
                files["down"], None, "a down file without an up file: add the up file, or "
                "remove this one"))
            continue
        up = found.text(files["up"])
        down: Text | None = found.text(files["down"]) if "down" in files else None
        if up is None or ("down" in files and down is None):
            continue
        mid = files["up"].name.removesuffix(".up.sql")
        if "down" in files and files["down"].name.removesuffix(".down.sql") != mid:
            found.problems.append(Problem(
                files["down"], None, f"the down file of version {version} is named unlike its"
                f" up file ({files['up'].name}): rename one so that both say the same title"))
            continue
        found.migrations.append(Source(mid, str(version), up, down))
    return found
