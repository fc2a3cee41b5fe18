"""mig's own lint rules: what squawk cannot know about mig's migrations.

- ``missing-rollback``: an SQL migration without ``<id>.rollback.sql`` (or with one that holds
  no statement), a Python step without a rollback. Not of an empty migration: it ran nothing,
  so it has nothing to undo.
- ``empty-migration`` (warning): a migration with nothing to run (an SQL file without a
  statement, a Python file without a step): ``mig apply`` records it and runs nothing, which is
  right for a migration empty on purpose and wrong for one not yet written (or saved).
- ``not-rerunnable``: a statement of a non-transactional migration that fails when run a second
  time. Such a migration runs statement by statement and resumes at the failed one, so each
  statement must be safe to repeat after a partial run.
- ``destructive``: DROP TABLE / DROP SCHEMA / TRUNCATE / DROP COLUMN in a migration (not a
  rollback: undoing is their job) without the marker ``-- mig: allow-destructive <reason>``;
  column type changes that may narrow are found by :mod:`mig.lint.parsed`, which knows the type
  the earlier migrations gave the column.

Each registers itself in :mod:`mig.lint.registry`, with the rules reported elsewhere:
``out-of-order`` needs the whole history and lives in :mod:`mig.lint`, the ``history-*`` rules
are the lock file's (:mod:`mig.disk.sumfile`), ``unrunnable`` is a file mig cannot read.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path

from ..disk.scripts import Script
from ..disk.sqltext import Statement, statements, top_level
from ..yoyo import steps as yoyo_steps
from .findings import Finding, Source
from .registry import Migration, Rule, declare, rule

#: ``-- mig: allow-<rule> <reason>`` (``#`` in Python files): switches a rule off for the file.
MARKER = re.compile(r"(?:--|#)\s*mig:\s*allow-([a-z][a-z0-9-]*)[ \t]*(.*?)\s*$", re.M)

_OBJECT = (r"(TABLE|INDEX|SEQUENCE|SCHEMA|EXTENSION|TYPE|DOMAIN|FUNCTION|PROCEDURE|VIEW"
           r"|MATERIALIZED VIEW|TRIGGER|CONSTRAINT TRIGGER|POLICY|ROLE)")
_CREATE = re.compile(r"^CREATE (OR REPLACE )?(?:UNIQUE )?(?:(?:GLOBAL |LOCAL )?TEMP(?:ORARY)? "
                     r"|UNLOGGED )?" + _OBJECT + r" (CONCURRENTLY )?(IF NOT EXISTS )?")
_DROP = re.compile(r"^DROP " + _OBJECT + r" (CONCURRENTLY )?(IF EXISTS )?")
_ALTER_TABLE = re.compile(r"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?\S+ (.*)$")
_IF_NOT_EXISTS = {"TABLE", "INDEX", "SEQUENCE", "SCHEMA", "EXTENSION", "MATERIALIZED VIEW"}
_OR_REPLACE = {"FUNCTION", "PROCEDURE", "VIEW", "TRIGGER"}


def _finding(source: Source, stmt: Statement, rule: str, message: str, hint: str) -> Finding:
    return Finding(source.path, source.first_line + stmt.line - 1, rule, message, hint,
                   end_line=source.first_line + stmt.end_line - 1)


def _not_rerunnable(words: str) -> tuple[str, str] | None:
    """(what cannot be repeated, how to fix it) for one statement, or None."""
    create = _CREATE.match(words)
    if create:
        replace, kind, concurrently, guarded = create.groups()
        what = f"CREATE {kind}" + (" CONCURRENTLY" if concurrently else "")
        if kind in _IF_NOT_EXISTS and not guarded:
            return what, "write CREATE ... IF NOT EXISTS" + (
                " (and drop an INVALID index a failed run left behind first)"
                if concurrently else "")
        if kind in _OR_REPLACE and not replace:
            return what, "write CREATE OR REPLACE"
        if kind not in _IF_NOT_EXISTS | _OR_REPLACE:
            return what, "check for it first in a DO block, or move it to a transactional migration"
        return None
    drop = _DROP.match(words)
    if drop and not drop.group(3):
        return f"DROP {drop.group(1)}", "write DROP ... IF EXISTS"
    alter = _ALTER_TABLE.match(words)
    for action in top_level(alter.group(1)) if alter else []:
        if action.startswith("ADD CONSTRAINT ") or re.match(
                r"ADD (PRIMARY KEY|UNIQUE|CHECK|FOREIGN KEY|EXCLUDE)\b", action):
            return "ALTER TABLE ... ADD CONSTRAINT", (
                "ADD CONSTRAINT has no IF NOT EXISTS: drop it first (ALTER TABLE ... DROP "
                "CONSTRAINT IF EXISTS ...), or add it in a DO block that checks pg_constraint")
        if action.startswith("ADD ") and not re.match(r"ADD (COLUMN )?IF NOT EXISTS ", action):
            return f"ALTER TABLE {' '.join(action.split()[:2])}", "write ADD COLUMN IF NOT EXISTS"
        if action.startswith("DROP ") and not re.match(r"DROP (COLUMN |CONSTRAINT )?IF EXISTS ",
                                                       action):
            return f"ALTER TABLE {' '.join(action.split()[:2])}", "write DROP ... IF EXISTS"
        if action.startswith("RENAME "):
            return "ALTER TABLE ... RENAME", "check for the old name first in a DO block"
    return None


@rule("not-rerunnable", "error",
      "a statement of a non-transactional migration that fails when run a second time",
      supersedes=("prefer-robust-stmts",))
def not_rerunnable(migration: Migration) -> Iterator[Finding]:
    """``not-rerunnable``: a non-transactional migration's statement that fails when run again."""
    for source in migration.sources:
        if not source.transactional:
            yield from _not_rerunnable_in(source)


def _not_rerunnable_in(source: Source) -> Iterator[Finding]:
    for stmt in statements(source.text):
        found = _not_rerunnable(stmt.words)
        if found:
            what, hint = found
            yield _finding(
                source, stmt, "not-rerunnable",
                f"{what} fails when run again, and this migration runs outside a transaction: "
                "after a failure, 'mig apply' resumes by re-running the failed statement",
                hint)


def _destructive(words: str) -> str | None:
    """What an apply statement destroys, or None."""
    match = re.match(r"^(DROP (?:TABLE|SCHEMA|MATERIALIZED VIEW)|TRUNCATE)\b", words)
    if match:
        return f"{match.group(1)} deletes data"
    alter = _ALTER_TABLE.match(words)
    for action in top_level(alter.group(1)) if alter else []:
        column = re.match(r"^DROP (?!CONSTRAINT )(?:COLUMN )?(?:IF EXISTS )?(\S+)", action)
        if column:
            return f"DROP COLUMN {column.group(1).lower()} deletes its data"
    return None  # a column type change: see mig.lint.parsed, which knows the type it had


@rule("destructive", "error",
      "DROP TABLE/SCHEMA/MATERIALIZED VIEW, TRUNCATE, DROP COLUMN or a column type change that"
      " may narrow, in a migration (not a rollback) without the allow-destructive marker",
      replaces=("ban-drop-table", "ban-drop-column"), marker_covers=("ban-drop-*",))
def destructive(migration: Migration) -> Iterator[Finding]:
    """``destructive``: a statement that drops or narrows, without the allow marker (the
    narrowing type changes: :meth:`mig.lint.parsed.Columns.narrowing`)."""
    for source in migration.applied:
        yield from _drops(source)
        yield from migration.columns.narrowing(source)


def _drops(source: Source) -> Iterator[Finding]:
    for stmt in statements(source.text):
        what = _destructive(stmt.words)
        if what:
            yield _finding(
                source, stmt, "destructive", what,
                "if intended, say so in the file: -- mig: allow-destructive <reason> "
                "(and keep the data the rollback needs, or say why it cannot)")


def _line_of_callable(func: object, path: Path) -> int:
    try:
        if Path(inspect.getsourcefile(func) or "") == path:  # type: ignore[arg-type]
            return inspect.getsourcelines(func)[1]  # type: ignore[arg-type]
    except (TypeError, OSError):
        pass
    return 1


@rule("missing-rollback", "error",
      "an SQL migration without a rollback file (or with one without statements), a Python step"
      " without a rollback")
def missing_rollback(migration: Migration) -> Iterator[Finding]:
    """``missing-rollback``: no rollback file, an empty one, or a Python step without rollback."""
    script = migration.script
    hint = "write a rollback that restores the previous schema ('mig verify' proves it does)"
    if script.post_apply or script.empty:
        return
    if script.is_sql:
        if script.rollback_path is None:
            yield Finding(script.path, 1, "missing-rollback",
                          f"{script.id} has no rollback file ({script.id}.rollback.sql)", hint)
        elif not statements(script.rollback_path.read_text(encoding="utf-8")):
            yield Finding(script.rollback_path, 1, "missing-rollback",
                          "the rollback file has no statements", hint)
        return
    for _, inner in yoyo_steps.flatten(script.steps):
        if yoyo_steps.action(inner, "rollback") is None:
            apply = yoyo_steps.action(inner, "apply")
            line = (script.line_of(apply) or 1) if isinstance(apply, str) else (
                _line_of_callable(apply, script.path))
            yield Finding(script.path, line, "missing-rollback",
                          "this step has no rollback", hint + "; give step() a second argument")


@rule("empty-migration", "warning",
      "a migration with nothing to run: applying it only records it")
def empty_migration(migration: Migration) -> Iterator[Finding]:
    """``empty-migration``: a migration that runs nothing (what ``mig apply`` applies as a
    recorded no-op, ``Script.empty``)."""
    script = migration.script
    if script.post_apply or not script.empty:
        return
    what, mark = ("holds no statement", "--") if script.is_sql else ("has no step", "#")
    yield Finding(script.path, 1, "empty-migration",
                  f"{script.id} {what}: applying it only records it, and changes nothing",
                  "write what it should do (was it saved?); if it is empty on purpose (nothing"
                  f" to do on PostgreSQL), say so in the file: {mark} mig: allow-empty-migration"
                  " <reason>")


declare(Rule("unrunnable", "error",
             "a file mig apply refuses before reading it further (a NUL byte, not UTF-8):"
             " reported by the runner"))
declare(Rule("out-of-order", "error",
             "a migration not in the lock file (or not applied in --database) ordered before"
             " one that is: reported by the runner, which reads the whole history"))
declare(Rule("history-unlisted", "error", "a migration missing from mig.sum (mig.disk.sumfile)"))
declare(Rule("history-edited", "error",
             "a migration changed since mig.sum listed it (mig.disk.sumfile)"))
declare(Rule("history-stale", "error",
             "an entry of mig.sum whose migration is gone (mig.disk.sumfile)"))
declare(Rule("history-sum", "error",
             "no mig.sum, a line of it that cannot be read, a merge conflict in it, or a sum"
             " line that does not match its entries (mig.disk.sumfile)"))


def sources(script: Script) -> Iterator[Source]:
    """The SQL of a migration: its files, or the string steps of a Python migration."""
    if script.is_sql:
        yield Source(script, script.path, script.path.read_text(encoding="utf-8"),
                     rollback=False)
        if script.rollback_path is not None:
            text = script.rollback_path.read_text(encoding="utf-8")
            yield Source(script, script.rollback_path, text, rollback=True)
        return
    for _, inner in yoyo_steps.flatten(script.steps):
        for direction, rollback in (("apply", False), ("rollback", True)):
            action = yoyo_steps.action(inner, direction)
            if isinstance(action, str) and action.strip():
                found = script.line_of(action)
                lead = action[: len(action) - len(action.lstrip())].count("\n")
                yield Source(script, script.path, action, rollback=rollback,
                             first_line=max(found - lead, 1) if found else 1)
