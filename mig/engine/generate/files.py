"""A planned migration rendered into the text of a migration file."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ...reports import DestructiveChange
from .model import PlannedMigration, Statement
from .quoting import ident, literal


def statements_text(statements: Iterable[Statement], *, transactional: bool) -> Iterator[str]:
    """The statements as the lines of a migration file, each note as comment lines above its
    statement.

    In a transaction, ``search_path`` is set (``SET LOCAL``) to each statement's schema, then
    ``pg_catalog``, whenever the schema changes, and put back at the end as it was (mig writes
    its records in the same transaction). Outside one, each statement runs on its own and a
    re-run resumes at the failed one, so nothing is set for the statements after it: they name
    their objects with their schema, and a ``DO`` block sets its own path.
    """
    listed = list(statements)
    if transactional and listed:
        yield "SELECT set_config('mig.search_path', current_setting('search_path'), true);"
    schema = None
    for statement in listed:
        if transactional and statement.schema != schema:
            schema = statement.schema
            yield f"SET LOCAL search_path = {ident(schema)}, pg_catalog;"
        if statement.note:
            yield from (f"-- {line}" for line in statement.note.splitlines())
        text = statement.sql
        if not transactional and text.startswith("DO $mig$\nBEGIN\n"):
            path = literal(f"{ident(statement.schema)}, pg_catalog")
            text = text.replace("DO $mig$\nBEGIN\n", "DO $mig$\nBEGIN\n"
                                f"    PERFORM set_config('search_path', {path}, true);\n", 1)
        yield text
    if transactional and listed:
        yield "SELECT set_config('search_path', current_setting('mig.search_path'), true);"


#: squawk's rules that judge a schema's design (its column types), not how a migration changes
#: it: a generated migration reproduces the database's types as they are.
DESIGN_RULES = ("prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
                "prefer-text-field", "prefer-timestamp-tz", "ban-char-field",
                "ban-create-domain-with-constraint")


#: squawk's rules about taking locks that a rollback, which puts back what its migration
#: changed as it was, is not held to.
ROLLBACK_RULES = ("adding-not-nullable-field", "adding-serial-primary-key-field",
                  "constraint-missing-not-valid", "disallowed-unique-constraint",
                  "adding-foreign-key-constraint", "changing-column-type",
                  "require-concurrent-index-creation", "require-concurrent-index-deletion",
                  "ban-alter-identity", "renaming-column", "adding-field-with-default")


def render(migration: PlannedMigration, *, title: str, depends: str | None,
           destructive: Iterable[DestructiveChange] = ()) -> tuple[str, str]:
    """The text of one planned migration's file and of its rollback file: a title comment,
    ``-- depends:``, ``-- transactional: false`` for one that runs outside a transaction, the
    ``allow-destructive`` marker naming the destructive changes, squawk's design rules switched
    off for the file (see :data:`DESIGN_RULES`) where it creates tables or columns."""
    head = [f"-- {title}"]
    if depends:
        head.append(f"-- depends: {depends}")
    if not migration.transactional:
        head.append("-- transactional: false")
    gone = list(destructive)
    if gone:
        head.append("-- mig: allow-destructive generated with --allow-destructive: "
                    + "; ".join(d.describe() for d in gone))
    if any(re.match(r"CREATE (UNLOGGED )?TABLE |CREATE DOMAIN |ALTER TABLE \S+ ADD COLUMN "
                    r"|ALTER TABLE \S+ ALTER COLUMN \S+ TYPE ", s.sql)
           for s in (*migration.up, *migration.down)):
        head.append("-- the database's column types, reproduced as they are:")
        head.append(f"-- squawk-ignore-file {', '.join(DESIGN_RULES)}")
    up = "\n".join([*head, "", *statements_text(migration.up,
                                                transactional=migration.transactional)])
    down_head = [f"-- rollback of {title}"]
    if head[-1].startswith("-- squawk-ignore-file"):
        down_head.append(head[-1])
    if migration.down:
        down_head += ["-- puts back what the migration changed, as it was (the forms safe under"
                      " load are the migration's):",
                      f"-- squawk-ignore-file {', '.join(ROLLBACK_RULES)}"]
    down = "\n".join([*down_head, "", *statements_text(migration.down,
                                                       transactional=migration.transactional)])
    return up + "\n", down + "\n"
