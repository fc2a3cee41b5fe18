"""Lint settings: ``[tool.mig.lint]`` in the project's ``pyproject.toml``.

.. code-block:: toml

    [tool.mig.lint]
    pg_version = "13"                 # the oldest server the migrations must run on
    include = ["require-table-schema"] # squawk's opt-in rules to switch on
    warn = ["prefer-bigint-over-int"]  # reported, but do not fail the run

    [tool.mig.lint.disabled]          # rules switched off everywhere: rule = "reason"
    ban-char-field = "..."

    [tool.mig.lint.per-file."*_catalogue.sql"]   # switched off for matching files only
    prefer-bigint-over-int = "..."

Every switched-off rule carries its reason; an empty reason is a settings error.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import registry

#: Squawk rules mig switches off by itself, because mig does what they ask for.
_MIG_DOES_IT = {
    "require-lock-timeout": "mig sets lock_timeout for every migration itself (db_lock_timeout, "
    "default 5s; '-- lock_timeout:' in a file); squawk only sees SET statements",
    "require-statement-timeout": "mig sets statement_timeout itself (the statement_timeout "
    "setting; '-- statement_timeout:' in a file); squawk only sees SET statements",
}


def builtin_disabled() -> dict[str, str]:
    """Squawk's rules mig switches off by itself, with why: those whose job mig does, and
    those a rule of mig's reports instead (:attr:`mig.lint.registry.Rule.replaces`)."""
    return {**_MIG_DOES_IT, **registry.replaced()}


@dataclass(frozen=True)
class LintSettings:
    """What ``mig lint`` checks, resolved once from ``pyproject.toml``."""

    source: Path | None = None  # the pyproject.toml read, if any
    pg_version: str | None = None
    include: tuple[str, ...] = ()
    warn: frozenset[str] = frozenset()
    disabled: dict[str, str] = field(default_factory=dict)  # rule -> reason
    per_file: dict[str, dict[str, str]] = field(default_factory=dict)  # glob -> rule -> reason

    def is_off(self, rule: str, path: Path) -> bool:
        """Whether ``rule`` is switched off for ``path`` (everywhere, or by a per-file glob)."""
        if rule in self.disabled or rule in builtin_disabled():
            return True
        return any(
            rule in rules and (fnmatch.fnmatch(path.name, glob) or fnmatch.fnmatch(str(path), glob))
            for glob, rules in self.per_file.items()
        )

    def level(self, rule: str, found: str) -> str:
        """The level of a finding of ``rule`` reported at level ``found`` (its rule's, see
        :mod:`mig.lint.registry`): a warning when ``warn`` lists the rule."""
        return "warning" if rule in self.warn else found

    def switched_off(self) -> dict[str, str]:
        """Every rule switched off, with its reason: mig's built-in ones, those switched off
        everywhere, and ``<rule> in <glob>`` for those switched off for some files."""
        result = {**builtin_disabled(), **self.disabled}
        for glob, rules in self.per_file.items():
            result.update({f"{rule} in {glob}": reason for rule, reason in rules.items()})
        return result


def _toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _reasons(table: Any, where: str, path: Path) -> dict[str, str]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table of rule = \"reason\"")
    for rule, reason in table.items():
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"{path}: {where}: rule {rule!r} is switched off without a reason",
                hint=f'write it as {rule} = "why it does not apply here"',
            )
    return dict(table)


def _strings(value: Any, where: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {where} must be a list of rule names")
    return tuple(value)


def load(project_dir: Path) -> LintSettings:
    """The lint settings of the project whose ``pyproject.toml`` is in ``project_dir``.

    :raises ConfigError: the file does not parse, or a switched-off rule has no reason.
    """
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return LintSettings()
    table = _toml(path).get("tool", {}).get("mig", {}).get("lint", {})
    known = {"pg_version", "include", "warn", "disabled", "per-file"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.mig.lint]: {', '.join(unknown)}",
                          hint=f"known keys: {', '.join(sorted(known))}")
    per_file = table.get("per-file", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{path}: [tool.mig.lint.per-file] must be a table of globs")
    version = table.get("pg_version")
    return LintSettings(
        source=path,
        pg_version=str(version) if version is not None else None,
        include=_strings(table.get("include", []), "include", path),
        warn=frozenset(_strings(table.get("warn", []), "warn", path)),
        disabled=_reasons(table.get("disabled", {}), "[tool.mig.lint.disabled]", path),
        per_file={glob: _reasons(rules, f'[tool.mig.lint.per-file."{glob}"]', path)
                  for glob, rules in per_file.items()},
    )
