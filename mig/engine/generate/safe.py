"""The safe forms for a table in use: a constraint added ``NOT VALID`` then validated, an
index built ``CONCURRENTLY``."""

from __future__ import annotations

import re

from .quoting import ident, literal, qname


def add_constraint_guarded(table: str, name: str, text: str) -> str:
    """``ADD CONSTRAINT`` that may run twice (a non-transactional migration's step): in a DO
    block that adds it only while the table has no constraint of that name."""
    return (
        "DO $mig$\nBEGIN\n"
        "    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = "
        f"{literal(name)}\n"
        f"                   AND conrelid = {literal(qname(table))}::regclass) THEN\n"
        f"        ALTER TABLE {qname(table)} ADD CONSTRAINT {ident(name)} {text};\n"
        "    END IF;\nEND\n$mig$;")


def not_valid_again(table: str, name: str, text: str) -> str:
    """The constraint ``name`` made ``NOT VALID`` again, as it was before its validation (a
    validated constraint cannot be made unvalidated): dropped if there and added, in one
    ``DO`` block that may run twice (a non-transactional rollback's step)."""
    return ("DO $mig$\nBEGIN\n"
            f"    ALTER TABLE {qname(table)} DROP CONSTRAINT IF EXISTS {ident(name)};\n"
            f"    ALTER TABLE {qname(table)} ADD CONSTRAINT {ident(name)} {text} NOT VALID;\n"
            "END\n$mig$;")


def concurrently(text: str) -> str:
    """A ``CREATE INDEX`` made ``CONCURRENTLY IF NOT EXISTS``."""
    return re.sub(r"^CREATE (UNIQUE )?INDEX ", r"CREATE \1INDEX CONCURRENTLY IF NOT EXISTS ",
                  text.removesuffix(" -- INVALID"))
