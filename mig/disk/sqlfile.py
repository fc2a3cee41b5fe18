"""An SQL migration file's text: read as mig reads it (UTF-8, a byte-order mark dropped, a NUL
byte refused), the ``-- name: value`` directives of its leading comments, and its
transaction-control statements."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import BadMigrationFile


def read_text(path: Path) -> str:
    """A migration file's text: UTF-8, a leading byte-order mark removed (as Flyway does).

    :raises BadMigrationFile: the file holds a NUL byte (libpq would silently cut the SQL
        there) or is not valid UTF-8; the error names the file and line.
    """
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise BadMigrationFile(
            f"{path}:{line}: the file holds a NUL byte (offset {nul}); everything after it would"
            " never reach the server", path=str(path), line=line,
            hint="remove the NUL byte (a binary file saved as SQL, or a bad paste)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadMigrationFile(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset"
            f" {exc.start})", path=str(path), line=line,
            hint="save the file as UTF-8") from None
    return text.removeprefix("\ufeff")


# Statements that end or start a transaction: in a transactional migration they would commit
# part of it (or open a second transaction) behind mig's back.
_TRANSACTION_CONTROL = re.compile(
    r"^(BEGIN|COMMIT|END|ABORT|START TRANSACTION|PREPARE TRANSACTION|ROLLBACK(?! TO\b))\b")


def transaction_control(text: str) -> list[tuple[int, str]]:
    """``(line, statement)`` of each transaction-control statement of ``text``."""
    from .sqltext import statements

    return [(part.line, part.text) for part in statements(text)
            if _TRANSACTION_CONTROL.match(part.words)]


_DIRECTIVE = re.compile(
    r"^\s*--\s*(transactional|depends|replaces|also-replaces|lock_timeout|lock_attempts"
    r"|statement_timeout)\s*:\s*(.*?)\s*$"
)
# the spellings yoyo accepts (any letter case)
TRANSACTIONAL = {"true": True, "false": False}
_COMMENT_OR_EMPTY = re.compile(r"^\s*(--.*)?$")


def sql_directives(text: str) -> dict[str, str]:
    """The ``-- name: value`` lines of an SQL file's leading comments, as yoyo reads them.

    Read with a line scan rather than yoyo's SQL parser, so listing and ordering migrations
    (every ``mig status`` and no-op ``mig apply``) never parses SQL.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not _COMMENT_OR_EMPTY.match(line):
            break
        match = _DIRECTIVE.match(line)
        if match:
            key, value = match.groups()
            found[key] = f"{found[key]} {value}" if key in found else value
    return found
