"""The environment mig reads: the project's ``.env`` under the process's own variables, and
the ``MIG_*`` variables it does not read (a misspelt setting, most likely)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError, did_you_mean
from .options import KNOWN_ENV

DOTENV = ".env"  # the project's file of variables, and the database's source when set there


def with_dotenv(env: Mapping[str, str], project_dir: str | Path | None, ini_path: Path | None
                 ) -> tuple[Mapping[str, str], Path | None, frozenset[str]]:
    """``env`` over the variables of the project folder's ``.env`` that mig reads (``MIG_*``,
    ``DATABASE_URL``; an application's own keys there are none of mig's business), the file
    read, and the names it supplied. A variable set in ``env`` wins over the file's."""
    folder = Path(project_dir) if project_dir else (ini_path.parent if ini_path else Path.cwd())
    path = folder.absolute() / DOTENV
    if not path.is_file():
        return env, None, frozenset()
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}",
                          hint="make it a readable UTF-8 file of NAME=value lines") from None
    found = {name: value for name, value in values.items()
             if value is not None and (name.startswith("MIG_") or name == "DATABASE_URL")
             and name not in env}
    return {**env, **found}, path, frozenset(found)


def unknown_env(env: Mapping[str, str], seeds_dir: Path) -> tuple[str, ...]:
    """Warnings for ``MIG_*`` variables mig does not read and the seeds do not name."""
    unknown = sorted(var for var in env if var.startswith("MIG_") and var not in KNOWN_ENV)
    if not unknown:
        return ()
    named = _seed_text(seeds_dir)  # only read when there is something to look up
    return tuple(
        f"warning: unknown environment variable {var}{did_you_mean(var, KNOWN_ENV, 0.8)}: mig "
        "does not read it (its variables: docs/cli.md#settings)"
        for var in unknown if not re.search(rf"\b{re.escape(var)}\b", named)
    )


def _seed_text(seeds_dir: Path) -> str:
    """The text of the seed files, where a ``!secret`` may name any variable."""
    texts = []
    for path in sorted(seeds_dir.rglob("*.y*ml")) if seeds_dir.is_dir() else []:
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return "\n".join(texts)
