"""The parsers of settings' values: durations, numbers of attempts and seconds, flags, role
and schema names, folders. Each names the setting in its error."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

# A PostgreSQL duration as lock_timeout and statement_timeout take it (a bare number: ms).
DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$")


def duration(name: str, value: object) -> str:
    """A PostgreSQL duration (``5s``, ``500ms``, ``2min``; a bare number: ms)."""
    text = str(value).strip()
    if not DURATION.match(text):
        raise ConfigError(
            f"{name} must be a duration like 5s, 500ms or 2min (0 switches it off), got {text!r}"
        )
    return text


def attempts(name: str, value: object) -> int:
    """A number of attempts: a whole number of at least 1."""
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {text!r}")
    return int(text)


def seed_cache(value: object, root: Path) -> Path | None:
    """The seed cache folder: default ``.mig/seed-cache``; ``off`` turns the cache off."""
    text = str(value).strip()
    if text.lower() in ("off", "no", "none", "false", "0"):
        return None
    path = Path(text).expanduser() if text else Path(".mig") / "seed-cache"
    return path if path.is_absolute() else root / path


def flag(name: str, value: object) -> bool:
    """A yes or no: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``."""
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {value!r}")


def seconds(name: str, value: object) -> float:
    """A number of seconds, not negative (``2``, ``2.5``, ``2s``)."""
    try:
        seconds = float(str(value).strip().rstrip("s"))
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return seconds


def folder(value: object, root: Path) -> Path | None:
    """A folder setting: None when unset; relative to the ini's folder (the project's)."""
    if not value:
        return None
    path = Path(str(value).strip()).expanduser()
    return path if path.is_absolute() else root / path


def names(name: str, value: object) -> tuple[str, ...]:
    """A list of names, separated by commas or white space (``auth, storage``)."""
    names = tuple(n for n in re.split(r"[\s,]+", str(value or "").strip()) if n)
    for n in names:
        if len(n.encode()) > 63 or "\x00" in n:
            raise ConfigError(f"{name}: {n!r} is not a PostgreSQL name (at most 63 bytes)",
                              hint=f"list plain schema names: {name} = auth, storage")
    return names


def role(name: str, value: object) -> str:
    """A role name of 1 to 63 bytes."""
    text = str(value).strip()
    if not text or len(text.encode()) > 63:
        raise ConfigError(f"{name} must be a role name of 1 to 63 bytes, got {value!r}")
    return text
