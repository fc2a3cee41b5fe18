"""Every rule of mig's own: one record each, registered where its check is written.

A rule of :mod:`mig.lint.rules` or :mod:`mig.lint.parsed` registers itself with the
:func:`rule` decorator on its check; a rule reported by another part of mig (the history lock
file's, a file that cannot be read) with :func:`declare`, so that it is a rule all the same:
documented (docs/lint.md, checked by a test), switched off and turned into a warning by name.

The runner (:func:`mig.lint.lint`) runs the checks of :func:`registered` rules, gives their
findings the rule's level, and reads here which of squawk's rules each of mig's stands in for.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .findings import Finding, Source

if TYPE_CHECKING:
    from ..disk.scripts import Script
    from .parsed import Columns

LEVELS = ("error", "warning")


@dataclass(frozen=True)
class Migration:
    """What a check reads of one migration: the script, its SQL (the file and its rollback, or
    a Python migration's SQL strings) and the column types the migrations before it give."""

    script: Script
    sources: tuple[Source, ...]
    columns: Columns

    @property
    def applied(self) -> tuple[Source, ...]:
        """The SQL run on apply."""
        return tuple(s for s in self.sources if not s.rollback)

    @property
    def rollbacks(self) -> tuple[Source, ...]:
        """The SQL run on rollback."""
        return tuple(s for s in self.sources if s.rollback)


Check = Callable[[Migration], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One of mig's lint rules.

    ``check`` finds it in one migration (None: reported elsewhere, named in ``summary``).
    ``supersedes``: squawk's rules left out on a statement this rule reports. ``replaces``:
    squawk's rules switched off everywhere, because this rule reports what they would.
    ``marker_covers``: squawk's rules (globs) that this rule's ``allow-`` marker switches off
    in the file too.
    """

    name: str
    level: str
    summary: str
    check: Check | None = None
    supersedes: tuple[str, ...] = ()
    replaces: tuple[str, ...] = ()
    marker_covers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"lint rule {self.name}: level {self.level!r} is not one of {LEVELS}")

    def run(self, migration: Migration) -> Iterator[Finding]:
        """The findings of ``check`` in ``migration``, at this rule's level."""
        if self.check is None:
            return
        for finding in self.check(migration):
            if finding.rule != self.name:
                raise ValueError(f"the check of lint rule {self.name} reported "
                                 f"{finding.rule!r}: a check reports its own rule only")
            finding.level = self.level
            yield finding

    def covers(self, squawk_rule: str) -> bool:
        """Whether this rule's ``allow-`` marker switches ``squawk_rule`` off too."""
        return any(fnmatch.fnmatchcase(squawk_rule, glob) for glob in self.marker_covers)


_RULES: dict[str, Rule] = {}


def declare(rule_record: Rule) -> Rule:
    """Register ``rule_record``. :raises ValueError: a rule of that name is registered."""
    if rule_record.name in _RULES:
        raise ValueError(f"lint rule {rule_record.name} is registered twice")
    _RULES[rule_record.name] = rule_record
    return rule_record


def rule(name: str, level: str, summary: str, *, supersedes: tuple[str, ...] = (),
         replaces: tuple[str, ...] = (),
         marker_covers: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    """Register the decorated function as the check of rule ``name``."""
    def register(check: Check) -> Check:
        declare(Rule(name, level, summary, check, supersedes, replaces, marker_covers))
        return check
    return register


def registered() -> dict[str, Rule]:
    """Every rule, by name, in the order registered."""
    from . import parsed, rules  # noqa: F401  (importing them registers their rules)

    return dict(_RULES)


def superseded() -> dict[str, str]:
    """squawk's rule -> the rule of mig's that reports the same statement."""
    return {squawk: r.name for r in registered().values() for squawk in r.supersedes}


def replaced() -> dict[str, str]:
    """squawk's rules switched off because a rule of mig's reports them, with why."""
    return {squawk: f"reported as mig's own '{r.name}' rule, which knows rollback files and "
            f"the allow-{r.name} marker" for r in registered().values() for squawk in r.replaces}
