"""dbmate's folders: one file per migration, ``<version>_<name>.sql``, holding its up and
down statements after the lines ``-- migrate:up`` and ``-- migrate:down``.

Either line may carry ``transaction:false`` (the migration runs outside a transaction). A
down section with no statement is dbmate's template left as it was: no rollback. dbmate
runs the files in order of their names; a version is unique.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Found, Problem, Skipped, Source, Text

NAME = re.compile(r"^(?P<version>\d+)_.*\.sql$")
_MARKER = re.compile(r"^--\s*migrate:(?P<direction>up|down)(?P<options>[^\n]*)$", re.M)
_OPTION = re.compile(r"(\w+):(\S+)")
TEMPLATES = False


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


def split(text: Text, found: Found) -> tuple[Text, Text | None, bool] | None:
    """``(up, down or None, transactional)`` of one dbmate file; None after a problem."""
    markers = list(_MARKER.finditer(text.text))
    ups = [m for m in markers if m.group("direction") == "up"]
    downs = [m for m in markers if m.group("direction") == "down"]

    def line_of(match: re.Match[str]) -> int:
        return text.text.count("\n", 0, match.start()) + 1

    if len(ups) != 1 or len(downs) > 1:
        where = line_of((ups or downs)[1]) if len(ups) > 1 or len(downs) > 1 else None
        found.problems.append(Problem(
            text.path, where, "a dbmate migration has one '-- migrate:up' line (and at most "
            "one '-- migrate:down' after it)"))
        return None
    up_marker = ups[0]
    down_marker = downs[0] if downs else None
    if not _only_comments(text.text[:up_marker.start()]):
        found.problems.append(Problem(text.path, 1, "statements before '-- migrate:up'"))
        return None
    if down_marker is not None and down_marker.start() < up_marker.start():
        found.problems.append(Problem(text.path, line_of(down_marker),
                                      "'-- migrate:down' comes before '-- migrate:up'"))
        return None
    transactional = True
    for marker in (up_marker, down_marker):
        if marker is None:
            continue
        for key, value in _OPTION.findall(marker.group("options")):
            if key == "transaction" and value in ("false", "true"):
                transactional = transactional and value == "true"
            else:
                found.problems.append(Problem(
                    text.path, line_of(marker), f"the option {key}:{value} is not one dbmate "
                    "has (transaction:false or transaction:true)"))

    def section(start: re.Match[str], end: int) -> Text:
        begin = start.end() + 1 if start.end() < len(text.text) else start.end()
        return Text(text.path, text.text[begin:end], line_of(start) + 1)

    up = section(up_marker, down_marker.start() if down_marker else len(text.text))
    down = section(down_marker, len(text.text)) if down_marker else None
    if down is not None and _only_comments(down.text):
        down = None
    return up, down, transactional


def read(folder: Path) -> Found:
    """The migrations of a dbmate folder, in order of their file names."""
    found = Found()
    seen: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        match = NAME.match(path.name) if path.is_file() else None
        if match is None:
            found.skipped.append(Skipped(path, "not a dbmate migration file name"))
            continue
        version = match.group("version")
        if version in seen:
            found.problems.append(Problem(
                path, None, f"the version {version} of {seen[version].name} again: dbmate "
                "records versions, so each migration needs its own"))
            continue
        seen[version] = path
        text = found.text(path)
        parts = split(text, found) if text is not None else None
        if parts is None:
            continue
        up, down, transactional = parts
        notes: tuple[str, ...] = () if transactional else ("transaction:false",)
        if down is None:
            notes += ("no down statements: no rollback",)
        found.migrations.append(Source(path.stem, version, up, down, transactional, notes))
    return found
