"""Verbs that check migrations before they ship: ``lint`` and the history lock file (``hash``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk import sumfile
from ..engine.connect import open_database
from ..lint import LintReport
from ..lint import lint as lint_migrations


def lint(settings: Settings, files: Sequence[str | Path] = (), *,
         against_database: bool = False, since: str | None = None) -> LintReport:
    """Check migrations (all of ``settings.sources``, or ``files``) with squawk and mig's own
    rules, and the history lock file.

    :param against_database: also report new migrations ordered before one applied in the
        configured database.
    :param since: check only the migrations after this migration id, or those added or changed
        since this git revision (how a shipped history adopts lint).
    :returns: a :class:`mig.lint.LintReport`; ``ok`` is False when any finding is an error.
    :raises ConfigError: a file given is not a migration; ``since`` is neither a migration id
        nor a git revision.
    """
    database = open_database(settings) if against_database else None
    return lint_migrations(settings, files, database=database, since=since)


def hash_history(settings: Settings, *, force: bool = False) -> tuple[Path, int]:
    """Write the history lock file (``mig.sum``) from the migrations on disk.

    :param force: also list a new migration ordered before one already listed, and rewrite
        lines that cannot be read (never a merge conflict).
    :returns: the lock file's path and how many migrations it lists.
    :raises MigError: the lock file has merge conflict markers, or lines it cannot read.
    """
    scripts, hooks = scripts_mod.load(settings.sources, checked=False)  # content, not runnability
    path = sumfile.write(settings.sources, scripts + hooks, force=force)
    return path, len(scripts) + len(hooks)
