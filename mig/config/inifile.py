"""``yoyo.ini``: found, read (yoyo's reader, its interpolation and includes), and checked: a
section that looks like a misspelt ``[mig]`` and an unknown key of ``[mig]`` are refused,
naming file and line; an unreadable file is told without quoting a value (the ``database``
option may hold a password)."""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError, did_you_mean
from ..yoyo import ini
from .options import KNOWN_INI_KEYS


def find_config(start: Path | None = None) -> Path | None:
    """The closest ``yoyo.ini`` in ``start`` (default: the working folder) or a parent."""
    folder = (start or Path.cwd()).absolute()
    for candidate in [folder, *folder.parents]:
        path = candidate / "yoyo.ini"
        if path.is_file():
            return path
    return None


def ini_file(config_file: str | Path | None, project_dir: str | Path | None,
              env: Mapping[str, str]) -> Path | None:
    """The yoyo.ini to read: the one given (or ``MIG_CONFIG``), else the nearest one."""
    if config_file is None and env.get("MIG_CONFIG"):
        config_file = env["MIG_CONFIG"]
    if config_file is not None:
        ini_path: Path | None = Path(config_file).absolute()
        if not Path(config_file).is_file():
            raise ConfigError(f"config file {config_file} does not exist")
    else:
        ini_path = find_config(Path(project_dir) if project_dir else None)
    return ini_path


def read_ini(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The ``[DEFAULT]`` (yoyo's) and ``[mig]`` values of ``path``, its sections checked.

    :raises ConfigError: an unreadable file, or a section like a misspelt ``[mig]``.
    """
    try:
        parser = ini.read(path)
        defaults = {key: parser.get("DEFAULT", key) for key in parser.defaults()}
        mig = dict(parser.items("mig")) if parser.has_section("mig") else {}
        sections = parser.sections()
    except Exception as exc:  # configparser errors, interpolation errors, missing includes
        raise ini_error(path, exc) from None
    check_ini_sections(path, sections)
    return defaults, mig


# Sections of yoyo.ini that yoyo itself reads or writes: never taken for a misspelt [mig].
_YOYO_SECTIONS = ("DEFAULT", "migrations")
_SECTION_HEADER = re.compile(r"^\[(?P<name>.+)\]")


def check_ini_sections(path: Path, sections: list[str]) -> None:
    """Refuse a section that looks like a misspelt ``[mig]``: mig would silently ignore the
    settings under it. ``[mgi]``, ``[MIG]``, ``[mig ]`` or ``[mig.lint]`` is refused, naming
    the file and line; yoyo's own sections and unrelated ones (``[alembic]``) are left alone.

    :raises ConfigError: naming the section, file and line, with the section meant.
    """
    for section in sections:
        if section == "mig" or section in _YOYO_SECTIONS:
            continue
        name = section.strip().lower()
        prefixed = re.match(r"mig[.\-_: /]", name) is not None
        if not (name == "mig" or prefixed or did_you_mean(name, ["mig"])):
            continue
        line = _section_line(path, section)
        where = f"{path}:{line}" if line else str(path)
        hint = ("mig reads its settings from [mig] alone (lowercase, no spaces): rename the "
                "section; a section of another tool's must not be named like it")
        if prefixed:
            hint += ("; mig lint's settings are read from pyproject.toml ([tool.mig.lint], "
                     "docs/lint.md)")
        raise ConfigError(
            f"{where}: section [{section}] is not read by mig (did you mean [mig]?); the "
            "settings under it would be ignored", hint=hint)


def _section_line(path: Path, section: str) -> int | None:
    """The line of ``[section]`` in ``path`` (None: it comes from an included file)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        match = _SECTION_HEADER.match(line)
        if match and match.group("name") == section:
            return number
    return None


def ini_error(path: Path, exc: Exception) -> ConfigError:
    """What is wrong in a yoyo.ini, saying where but never quoting a value or a line: the
    ``database`` option may hold a password (configparser's own messages quote them)."""
    if isinstance(exc, configparser.InterpolationError):
        where = f"option {exc.option!r} in section [{exc.section}]"
        if isinstance(exc, configparser.InterpolationMissingOptionError):
            what = f"refers to %({exc.reference})s, which is not defined"
        elif isinstance(exc, configparser.InterpolationSyntaxError):
            what = "has a '%' that is neither '%%' nor the start of a %(name)s reference"
        else:
            what = "has references that cannot be resolved (too deep, or circular)"
        return ConfigError(
            f"cannot read {path}: {where} {what}",
            hint="yoyo.ini interpolates values: write a literal '%' as '%%', so a "
            "percent-encoded password p%40ss is written p%%40ss in the URL there "
            "(%(here)s is the file's folder)",
        )
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return ConfigError(f"cannot read {path}: line {exc.lineno} comes before any "
                           "[section] header (mig's settings go under [DEFAULT] and [mig])")
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors)
        return ConfigError(f"cannot read {path}: cannot parse line(s) {lines} "
                           "(expected 'name = value', a [section] or a comment)")
    if isinstance(exc, FileNotFoundError) and exc.filename is None and exc.args:
        return ConfigError(f"cannot read {path}: it includes {exc.args[0]}, which does not exist")
    return ConfigError(f"cannot read {path}: {exc}")  # names sections, options, files


def check_ini_keys(
    ini_mig: Mapping[str, str], ini_defaults: Mapping[str, str], ini_path: Path | None
) -> None:
    """Refuse a key of ``[mig]`` that is no setting, naming the one meant."""
    # configparser hands [DEFAULT]'s keys (yoyo's) to every section: those are not [mig]'s
    unknown = sorted(set(ini_mig) - set(KNOWN_INI_KEYS) - set(ini_defaults))
    if not unknown:
        return
    key = unknown[0]
    raise ConfigError(
        f"unknown setting {key!r} in [mig] of {ini_path}{did_you_mean(key, KNOWN_INI_KEYS)}",
        hint="the settings of [mig] are: " + ", ".join(KNOWN_INI_KEYS),
    )
