"""mig's lint rules that read the SQL through PostgreSQL's own parser (``pglast``, the Python
binding of libpg_query), so that what a statement is never depends on how it is spelled.

- ``non-transactional-statement`` (error): a statement PostgreSQL refuses inside a transaction
  block (``CREATE/DROP INDEX CONCURRENTLY``, ``REINDEX ... CONCURRENTLY``, ``DETACH PARTITION
  ... CONCURRENTLY``, ``VACUUM``, ``CREATE/DROP DATABASE``, ``ALTER SYSTEM``, ...) in a
  transactional migration: it always fails on apply.
- ``transaction-control`` (error): ``BEGIN``, ``COMMIT``, ``ROLLBACK``, ``SAVEPOINT``, ... in a
  migration: mig runs each migration's transaction itself (and, with ``--single-transaction``,
  a whole release in one), so a ``COMMIT`` in a file breaks the all-or-nothing guarantee.
- ``unbounded-dml`` (warning): ``UPDATE`` or ``DELETE`` without ``WHERE`` on a table the
  migration did not create: on a large live table it rewrites every row in one transaction,
  holding its row locks to the end; a data step does it in batches.
- ``noop-rollback`` (warning): a rollback whose statements change nothing (``SELECT 1;``) for a
  migration that does change something.
- ``syntax-error`` (error): the SQL does not parse; the other rules cannot read it.

Each registers itself in :mod:`mig.lint.registry`. The column types the migrations give
(:class:`Columns`) are what ``destructive`` (:mod:`mig.lint.rules`) reads type changes with.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import MigError
from .findings import Finding, Source
from .registry import Migration, rule

if TYPE_CHECKING:
    from pglast import ast


def _pglast() -> ModuleType:
    try:
        import pglast
    except ImportError:  # the lint extra installs it
        raise MigError("mig lint needs pglast (PostgreSQL's parser for Python), which is not"
                       " installed: it comes with mig's lint extra",
                       hint="pip install 'mig-schema[lint]' (pglast and squawk-cli)") from None
    return pglast


def require() -> None:
    """Make sure pglast can be imported, before any rule runs.

    :raises MigError: it is not installed, naming the extra that brings it.
    """
    _pglast()


@dataclass(frozen=True)
class Parsed:
    """One statement: its parse tree and the line of ``path`` where it starts."""

    node: Any
    line: int
    end_line: int


class Unparsable(Exception):
    """PostgreSQL's parser refused the text: ``message`` and the ``line`` it names."""
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _skip_space_and_comments(data: bytes, start: int, end: int) -> int:
    """The offset of the first byte of ``data[start:end]`` that is not blank or a comment."""
    i = start
    while i < end:
        if data[i:i + 1].isspace():
            i += 1
        elif data.startswith(b"--", i):
            newline = data.find(b"\n", i)
            i = end if newline < 0 else newline + 1
        elif data.startswith(b"/*", i):
            close = data.find(b"*/", i + 2)
            i = end if close < 0 else close + 2
        else:
            break
    return i


@functools.lru_cache(maxsize=256)
def _raw(text: str) -> tuple:
    """pglast's statements of ``text`` (each source is read by several rules)."""
    pglast = _pglast()
    try:
        return tuple(pglast.parse_sql(text))
    except pglast.parser.ParseError as exc:
        message, *rest = exc.args
        position = rest[0] if rest else 0
        line = text.count("\n", 0, position) + 1
        raise Unparsable(str(message), line) from None


def parse(source: Source) -> list[Parsed]:
    """The statements of ``source``, with file lines. :raises Unparsable: a syntax error."""
    data = source.text.encode("utf-8")
    try:
        raws = _raw(source.text)
    except Unparsable as exc:
        raise Unparsable(exc.message, source.first_line + exc.line - 1) from None
    found = []
    for raw in raws:
        begin = raw.stmt_location or 0
        end = begin + raw.stmt_len if raw.stmt_len else len(data)
        begin = _skip_space_and_comments(data, begin, end)
        found.append(Parsed(raw.stmt, source.first_line + data.count(b"\n", 0, begin),
                            source.first_line + data.count(b"\n", 0, end)))
    return found


def _finding(source: Source, stmt: Parsed, name: str, message: str, hint: str) -> Finding:
    return Finding(source.path, stmt.line, name, message, hint, end_line=stmt.end_line)


def _outside_transaction(node: ast.Node) -> str | None:
    """What in ``node`` PostgreSQL refuses to run inside a transaction block, or None."""
    from pglast import ast

    name = type(node).__name__
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and any(
            getattr(p, "defname", None) == "concurrently" for p in node.params or ()):
        return "REINDEX ... CONCURRENTLY"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            if getattr(getattr(cmd, "def_", None), "concurrent", False):
                return "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY"
    if isinstance(node, ast.VacuumStmt):
        return "VACUUM" if node.is_vacuumcmd else None  # ANALYZE alone may run in one
    simple = {"CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
              "AlterSystemStmt": "ALTER SYSTEM", "CreateTableSpaceStmt": "CREATE TABLESPACE",
              "DropTableSpaceStmt": "DROP TABLESPACE"}
    if name in simple:
        return simple[name]
    if isinstance(node, (ast.CreateSubscriptionStmt, ast.DropSubscriptionStmt)):
        return "CREATE/DROP SUBSCRIPTION"
    return None


def _created_tables(statements: list[Parsed]) -> set[Any]:
    from pglast import ast

    names: set[Any] = set()
    for stmt in statements:
        node = stmt.node
        if isinstance(node, ast.CreateStmt):
            names.add(_relname(node.relation))
        elif isinstance(node, ast.CreateTableAsStmt):
            names.add(_relname(node.into.rel))  # type: ignore[union-attr]
    return names


def _relname(relation: Any) -> str:
    return str(relation.relname)


def _changes_nothing(node: ast.Node) -> bool:
    """A statement without effect on the schema or the data: a plain SELECT (no INTO, no
    function call that could do anything)."""
    from pglast import ast

    if not isinstance(node, ast.SelectStmt) or node.intoClause is not None:
        return False
    return "FuncCall" not in repr(node)


@rule("syntax-error", "error", "SQL that PostgreSQL's parser refuses",
      supersedes=("syntax-error",))
def syntax_error(migration: Migration) -> Iterator[Finding]:
    """``syntax-error``: a source that does not parse."""
    for source in migration.sources:
        try:
            parse(source)
        except Unparsable as exc:
            # spans the rest of the source: squawk's own syntax errors after it are left out
            yield Finding(source.path, exc.line, "syntax-error",
                          f"the SQL does not parse: {exc.message}",
                          "fix the statement (the other checks could not read this file)",
                          end_line=source.first_line + source.text.count("\n"))


def _statements(migration: Migration) -> Iterator[tuple[Source, Parsed]]:
    """Every statement of every source that parses."""
    for source in migration.sources:
        for stmt in parsed_or_none(source) or ():
            yield source, stmt


@rule("transaction-control", "error",
      "BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ... in a migration or its rollback",
      supersedes=("transaction-nesting",))
def transaction_control(migration: Migration) -> Iterator[Finding]:
    """``transaction-control``: a statement that starts or ends a transaction."""
    from pglast import ast

    for source, stmt in _statements(migration):
        if isinstance(stmt.node, ast.TransactionStmt):
            keyword = _transaction_keyword(stmt.node)
            yield _finding(
                source, stmt, "transaction-control",
                f"{keyword} in a migration: mig runs each migration in a transaction of its own"
                " (a whole release in one with --single-transaction) and records it in the"
                " same transaction, so a transaction ended here breaks that",
                "remove it; for statements that cannot run in a transaction (CREATE INDEX"
                " CONCURRENTLY), put them in a migration of their own with"
                " '-- transactional: false'")


@rule("non-transactional-statement", "error",
      "a statement PostgreSQL refuses inside a transaction block, in a transactional migration",
      supersedes=("ban-concurrent-index-creation-in-transaction",))
def non_transactional_statement(migration: Migration) -> Iterator[Finding]:
    """``non-transactional-statement``: what always fails on apply in a transaction."""
    from pglast import ast

    for source, stmt in _statements(migration):
        if isinstance(stmt.node, ast.TransactionStmt) or not source.transactional:
            continue
        outside = _outside_transaction(stmt.node)
        if outside:
            yield _finding(
                source, stmt, "non-transactional-statement",
                f"{outside} cannot run inside a transaction block, and this migration runs in"
                " one: it fails on apply",
                "move it to a migration of its own starting with '-- transactional: false'"
                " (__transactional__ = False in Python), written so that it can run again"
                " (IF NOT EXISTS / IF EXISTS)")


@rule("unbounded-dml", "warning",
      "UPDATE or DELETE without WHERE on a table the migration did not create")
def unbounded_dml(migration: Migration) -> Iterator[Finding]:
    """``unbounded-dml``: every row of an existing table changed in one statement."""
    from pglast import ast

    for source in migration.applied:
        statements = parsed_or_none(source) or []
        created = _created_tables(statements)
        for stmt in statements:
            node = stmt.node
            if isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)) and node.whereClause is None \
                    and _relname(node.relation) not in created:
                verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
                yield _finding(
                    source, stmt, "unbounded-dml",
                    f"{verb} of every row of {_relname(node.relation)}, an existing table, in"
                    " one statement: on a large live table it locks every row it changes until"
                    " the migration commits",
                    "do it in batches with a data step (mig.data.data_step: short transactions,"
                    " resumable, with progress), or bound it with a WHERE if only some rows are"
                    " meant")


def _transaction_keyword(node: ast.TransactionStmt) -> str:
    from pglast.enums import TransactionStmtKind as Kind

    keywords: dict[Kind | None, str] = {
        Kind.TRANS_STMT_BEGIN: "BEGIN", Kind.TRANS_STMT_START: "START TRANSACTION",
        Kind.TRANS_STMT_COMMIT: "COMMIT", Kind.TRANS_STMT_ROLLBACK: "ROLLBACK",
        Kind.TRANS_STMT_SAVEPOINT: "SAVEPOINT", Kind.TRANS_STMT_RELEASE: "RELEASE SAVEPOINT",
        Kind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO SAVEPOINT",
        Kind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
        Kind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
        Kind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
    }
    return keywords.get(node.kind, "COMMIT")


def parsed_or_none(source: Source) -> list[Parsed] | None:
    """The statements of ``source``, or None when it does not parse (``syntax-error`` says
    so, once)."""
    try:
        return parse(source)
    except Unparsable:
        return None


@rule("noop-rollback", "warning",
      "a rollback whose statements change nothing, of a migration that does")
def noop_rollback(migration: Migration) -> Iterator[Finding]:
    """``noop-rollback``: a rollback file that changes nothing, of a migration that does."""
    script = migration.script
    if not script.is_sql or script.post_apply:
        return
    apply = migration.applied[0]
    for rollback in migration.rollbacks:
        applied, undone = parsed_or_none(apply), parsed_or_none(rollback)
        if not applied or not undone:
            continue  # an empty migration, or a rollback without statements (missing-rollback)
        if all(_changes_nothing(s.node) for s in undone):
            yield Finding(rollback.path, undone[0].line, "noop-rollback",
                          f"the rollback of {rollback.script.id} changes nothing (only SELECT),"
                          " but the migration does: rolling it back would only forget that it"
                          " was applied", "write statements that undo the migration ('mig"
                          " verify' proves they restore the schema), or delete the rollback"
                          " file so that rollback refuses it")


# -- column type changes ----------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnType:
    """A column type as the parser gives it: ``int8``, ``varchar`` with ``(200,)``, ..."""

    name: str
    mods: tuple[int, ...] = ()
    array: bool = False

    def __str__(self) -> str:
        mods = f"({', '.join(map(str, self.mods))})" if self.mods else ""
        return self.name + mods + ("[]" if self.array else "")


def _column_type(type_name: ast.TypeName) -> ColumnType:
    names = [n.sval for n in type_name.names or ()]
    mods = []
    for mod in type_name.typmods or ():
        value = getattr(getattr(mod, "val", None), "ival", None)
        if value is None:
            return ColumnType(names[-1], (), bool(type_name.arrayBounds))
        mods.append(value)
    return ColumnType(names[-1], tuple(mods), bool(type_name.arrayBounds))


# Whole digits each integer type needs in a numeric.
_INTEGER_DIGITS = {"int2": 5, "int4": 10, "int8": 19}
_INTEGER_RANK = {"int2": 1, "int4": 2, "int8": 3}
_TEXT = {"text", "varchar"}
# Types no other type narrows into: a change to one of them keeps every value.
_WIDEST = {"text", "numeric", "int8", "float8", "jsonb", "timestamptz"}


def widens(old: ColumnType | None, new: ColumnType) -> bool:
    """Whether every value of ``old`` fits ``new`` unchanged (``old`` unknown: whether ``new``
    is a type nothing narrows into)."""
    if old is None:
        return not new.mods and new.name in _WIDEST | {"varchar"} and not new.array
    if old.array != new.array:
        return False
    if old == new:
        return True
    if old.name in _TEXT and new.name in _TEXT:
        return not new.mods or (bool(old.mods) and new.mods[0] >= old.mods[0])
    if old.name == new.name == "bpchar":
        return bool(old.mods) and bool(new.mods) and new.mods[0] >= old.mods[0]
    if old.name in _INTEGER_RANK and new.name in _INTEGER_RANK:
        return _INTEGER_RANK[new.name] >= _INTEGER_RANK[old.name]
    if new.name == "numeric":
        if not new.mods:
            return old.name in _INTEGER_RANK or old.name == "numeric"
        whole = new.mods[0] - (new.mods[1] if len(new.mods) > 1 else 0)
        if old.name in _INTEGER_DIGITS:
            return whole >= _INTEGER_DIGITS[old.name]
        if old.name == "numeric" and old.mods:
            old_scale = old.mods[1] if len(old.mods) > 1 else 0
            new_scale = new.mods[1] if len(new.mods) > 1 else 0
            return new_scale >= old_scale and whole >= old.mods[0] - old_scale
        return False
    return old.name == "float4" and new.name == "float8"


class Columns:
    """The column types the migrations so far give each table (as far as their SQL says)."""

    def __init__(self) -> None:
        self.types: dict[tuple[Any, Any], ColumnType] = {}

    def learn(self, source: Source) -> None:
        """Take in the column types that ``source``'s statements create or change."""
        from pglast import ast
        from pglast.enums import AlterTableType

        for stmt in parsed_or_none(source) or ():
            node = stmt.node
            if isinstance(node, ast.CreateStmt):
                for element in node.tableElts or ():
                    if isinstance(element, ast.ColumnDef) and element.typeName is not None:
                        self.types[(_relname(node.relation), element.colname)] = _column_type(
                            element.typeName)
            elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
                table = node.relation.relname
                for cmd in node.cmds or ():
                    if cmd.subtype in (AlterTableType.AT_AddColumn,
                                       AlterTableType.AT_AlterColumnType) \
                            and isinstance(cmd.def_, ast.ColumnDef) \
                            and cmd.def_.typeName is not None:
                        name = cmd.name or cmd.def_.colname
                        self.types[(table, name)] = _column_type(cmd.def_.typeName)
                    elif cmd.subtype == AlterTableType.AT_DropColumn:
                        self.types.pop((table, cmd.name), None)

    def narrowing(self, source: Source) -> Iterator[Finding]:
        """``destructive`` findings for column type changes in ``source`` that may narrow."""
        from pglast import ast
        from pglast.enums import AlterTableType

        if source.rollback:
            return
        for stmt in parsed_or_none(source) or ():
            node = stmt.node
            if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
                continue
            for cmd in node.cmds or ():
                if cmd.subtype != AlterTableType.AT_AlterColumnType:
                    continue
                new = _column_type(cmd.def_.typeName)
                old = self.types.get((node.relation.relname, cmd.name))
                if widens(old, new):
                    continue
                was = f" from {old}" if old else ""
                yield _finding(
                    source, stmt, "destructive",
                    f"changing column {cmd.name} of {node.relation.relname}{was} to {new} may"
                    " narrow it: values that do not fit fail the migration or lose detail",
                    "if intended, say so in the file: -- mig: allow-destructive <reason> (and"
                    " keep the data the rollback needs, or say why it cannot)")
