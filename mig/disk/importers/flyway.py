"""Flyway's folders: ``V<version>__<description>.sql``, with ``U<version>__<description>.sql``
as its undo (the rollback).

A version is numbers separated by ``.`` or ``_`` (``V1_1__x`` is version 1.1), ordered
numerically part by part, unique. ``V1__x.sql.conf`` with ``executeInTransaction=false``
runs the migration outside a transaction. Repeatable migrations (``R__``) run again whenever
their checksum changes, which mig's history has no place for: they are listed, not imported.
The id is the file name without its ``V``.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Found, Problem, Skipped, Source, Text

NAME = re.compile(r"^(?P<prefix>[VU])(?P<version>\d+(?:[._]\d+)*)__(?P<description>.+)\.sql$")
REPEATABLE = re.compile(r"^R__.+\.sql$")
_CONF = re.compile(r"^\s*executeInTransaction\s*=\s*(\S+)\s*$", re.M)
TEMPLATES = False


def version_of(spelled: str) -> str:
    """The version as Flyway records it (``1_1`` -> ``1.1``)."""
    return spelled.replace("_", ".")


def _key(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 1.0 is 1
        parts.pop()
    return tuple(parts)


def read(folder: Path) -> Found:
    """The versioned migrations of a Flyway folder, in order of their versions."""
    found = Found()
    versioned: dict[tuple[int, ...], Path] = {}
    undo: dict[tuple[int, ...], Path] = {}
    confs: set[Path] = set()
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".sql.conf"):
            confs.add(path)
            continue
        if REPEATABLE.match(path.name):
            found.skipped.append(Skipped(
                path, "a repeatable migration (R__): not supported, mig's history has no "
                "migration that runs again when its file changes; make it a versioned "
                "migration, or keep running it with Flyway"))
            continue
        match = NAME.match(path.name) if path.is_file() else None
        if match is None:
            found.skipped.append(Skipped(path, "not a Flyway SQL migration file name"))
            continue
        key = _key(version_of(match.group("version")))
        into = versioned if match.group("prefix") == "V" else undo
        if key in into:
            found.problems.append(Problem(
                path, None, f"the version {version_of(match.group('version'))} of "
                f"{into[key].name} again: Flyway refuses the folder too"))
            continue
        into[key] = path
    for key in sorted(undo.keys() - versioned.keys()):
        found.problems.append(Problem(undo[key], None,
                                      "an undo migration without its versioned migration"))
    for key in sorted(versioned):
        path = versioned[key]
        up = found.text(path)
        down: Text | None = found.text(undo[key]) if key in undo else None
        if up is None or (key in undo and down is None):
            continue
        transactional = True
        conf = path.with_name(path.name + ".conf")
        if conf in confs:
            confs.discard(conf)
            text = found.text(conf)
            match = _CONF.search(text.text) if text is not None else None
            if match is not None:
                if match.group(1) not in ("true", "false"):
                    found.problems.append(Problem(
                        conf, text.text.count("\n", 0, match.start()) + 1 if text else None,
                        f"executeInTransaction must be true or false, not {match.group(1)}"))
                transactional = match.group(1) != "false"
        match = NAME.match(path.name)
        assert match is not None
        notes = () if transactional else ("executeInTransaction=false",)
        found.migrations.append(Source(path.stem[1:], version_of(match.group("version")),
                                       up, down, transactional, notes))
    for conf in sorted(confs):
        found.skipped.append(Skipped(conf, "the settings of a migration that is not imported"))
    return found
