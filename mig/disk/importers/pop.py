"""gobuffalo pop's (and ory popx's) folders:
``<version>_<name>[.<dialect>][.autocommit].(up|down).(sql|fizz)``.

For PostgreSQL a ``.postgres.`` file (``.postgresql.``, ``.pg.``) replaces the generic file of
the same version, name and direction; files of other dialects are not PostgreSQL's.
``.autocommit`` runs outside a transaction. Several migrations may share one version number
under different names: each stays a migration of its own, in pop's order (by version, a
PostgreSQL file before a generic one, then by name). An empty file is a migration with
nothing to do on this database. Pop runs every file through Go's templates.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import Found, Problem, Skipped, Source

NAME = re.compile(
    r"^(?P<version>\d+)_(?P<name>[^.]+)(?:\.(?!autocommit\.)(?P<dialect>[a-z0-9]+))?(?P<autocommit>\.autocommit)?"
    r"\.(?P<direction>up|down)\.(?P<kind>sql|fizz)$")
POSTGRES = {"postgres", "postgresql", "pg"}
OTHER_DIALECTS = {"mysql", "mariadb", "sqlite", "sqlite3", "cockroach", "cockroachdb", "crdb"}
TEMPLATES = True  # every file goes through Go's templates


def read(folder: Path) -> Found:
    """The PostgreSQL migrations of a pop folder, in pop's order."""
    found = Found()
    # (version, name, direction) -> {"postgres" or "all": [matching files]}
    chosen: dict[tuple[str, str, str], dict[str, list[tuple[Path, re.Match[str]]]]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            found.skipped.append(Skipped(path, "a folder: pop reads the files of one folder"))
            continue
        match = NAME.match(path.name)
        if match is None:
            found.skipped.append(Skipped(path, "not a pop migration file name"))
            continue
        dialect = match.group("dialect")
        if dialect is not None and dialect not in POSTGRES:
            reason = (f"for {dialect}, not PostgreSQL" if dialect in OTHER_DIALECTS
                      else f"for the dialect {dialect!r}, not PostgreSQL")
            found.skipped.append(Skipped(path, reason))
            continue
        key = (match.group("version"), match.group("name"), match.group("direction"))
        chosen.setdefault(key, {}).setdefault(
            "postgres" if dialect else "all", []).append((path, match))
    picked: dict[tuple[str, str], dict[str, tuple[Path, re.Match[str]]]] = {}
    for (version, name, direction), kinds in chosen.items():
        specific = "postgres" in kinds
        files = kinds["postgres" if specific else "all"]
        if specific:
            for path, _ in kinds.get("all", []):
                found.skipped.append(Skipped(
                    path, f"replaced by {files[0][0].name} (PostgreSQL's own file)"))
        if len(files) > 1:
            names = ", ".join(p.name for p, _ in files)
            found.problems.append(Problem(
                files[0][0], None, f"{len(files)} files for the {direction} of {version}_{name}"
                f" ({names}): pop would not know which to run either; keep one"))
            continue
        path, found_match = files[0]
        if found_match.group("kind") == "fizz":
            found.problems.append(Problem(
                path, None, "a fizz migration: fizz is pop's own language, which mig does not"
                f" translate; write its PostgreSQL SQL as {version}_{name}.postgres."
                f"{direction}.sql beside it (pop then runs that one on PostgreSQL instead)"
                " and import again"))
            continue
        picked.setdefault((version, name), {})[direction] = (path, found_match)

    def pop_order(item: tuple[tuple[str, str], dict]) -> tuple[str, int, str]:
        (version, name), files = item
        up = files.get("up")
        return version, 0 if up is not None and up[1].group("dialect") else 1, name

    for (version, name), pair in sorted(picked.items(), key=pop_order):
        if "up" not in pair:
            path = pair["down"][0]
            found.problems.append(Problem(
                path, None, f"a down file without an up file for {version}_{name}: pop refuses"
                " that folder too; add the up file (empty when there is nothing to do)"))
            continue
        up_path, _ = pair["up"]
        down = pair.get("down")
        up = found.text(up_path)
        down_text = found.text(down[0]) if down else None
        if up is None or (down is not None and down_text is None):
            continue
        autocommit = [p.name for p, m in pair.values() if m.group("autocommit")]
        notes = []
        if any(m.group("dialect") for _, m in pair.values()):
            notes.append("PostgreSQL's own file")
        if autocommit:
            notes.append("autocommit: runs outside a transaction")
        if all(not line.strip() or line.strip().startswith("--")
               for line in up.text.splitlines()):
            notes.append("empty: nothing to do on PostgreSQL")
        found.migrations.append(Source(f"{version}_{name}", version, up, down_text,
                                       transactional=not autocommit, notes=tuple(notes)))
    return found
