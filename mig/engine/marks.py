"""A transactional SQL migration sent whole, and where it failed: the statement marks.

A transactional SQL migration is sent as its whole file in one string: the same effect as
yoyo's statement-by-statement steps inside one transaction, without parsing the file or a
round trip per statement. A mark before each of its statements (a notice the server sends as
it reaches the statement) tells which one was running when it failed, without running
anything again: a timeout, a lock failure, a slow statement, a release. The server's own
position names the place of a syntax error. Where neither says, the statements are replayed
one by one, only where that is cheap and safe (:func:`replayable`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg2

from ..disk import sqltext
from ..disk.scripts import Script
from .connect import fetch_row
from .failures import text_error
from .session import Session

if TYPE_CHECKING:
    from ..yoyo.backend import Backend

_MARK = "DO $mig_mark$BEGIN RAISE NOTICE 'mig:statement:{}'; END$mig_mark$; "
_MARK_NOTICE = re.compile(r"mig:statement:(\d+)\s*$")
_MARK_TEXT = re.compile(re.escape(_MARK).replace(r"\{\}", r"\d+"))
# A file that changes who runs it or which notices reach mig would silence the marks after that
# point (and then name an earlier statement): it is sent unmarked.
_SILENCES_MARKS = re.compile(
    r"^(SET|RESET)\s+(SESSION\s+|LOCAL\s+)?(ROLE|SESSION\s+AUTHORIZATION|CLIENT_MIN_MESSAGES)\b")
_MARKS_USABLE_SQL = """
SELECT coalesce((SELECT has_language_privilege(oid, 'USAGE') FROM pg_language
                  WHERE lanname = 'plpgsql'), false)
   AND current_setting('client_min_messages')
       IN ('debug5', 'debug4', 'debug3', 'debug2', 'debug1', 'log', 'notice')
"""

# A failed SQL migration is run again statement by statement to name the failing statement
# only when its first run failed within this many seconds: a replay takes about as long again,
# holding the same locks, which a quick failure can afford and a long table rewrite cannot.
REPLAY_WITHIN = 1.0


class Notices:
    """The connection's notices (what psycopg2 appends to ``conn.notices``), without the
    statement marks: the last mark's number is kept in ``at`` instead, so that thousands of
    marks never push a migration's own warnings out."""

    LIMIT = 50  # as many as psycopg2 keeps

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.at: int | None = None

    def append(self, notice: str) -> None:
        """Take one notice from the server."""
        mark = _MARK_NOTICE.search(notice)
        if mark is not None:
            self.at = int(mark.group(1))
            return
        self.kept.append(notice)
        del self.kept[:-self.LIMIT]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.kept))

    def __len__(self) -> int:
        return len(self.kept)

    def __delitem__(self, index: slice) -> None:
        del self.kept[index]


class Marks:
    """Transactional SQL migrations sent whole on ``backend``'s connection, marked: whether
    the marks reach mig (asked once), the notices they arrive with, and where a failed one
    failed."""

    def __init__(self, backend: Backend, session: Session) -> None:
        self.backend = backend
        self.session = session
        self.conn = backend.connection
        self.notices = Notices()
        # psycopg2 appends each notice to whatever list-like object ``notices`` is
        self.conn.notices = self.notices
        self._usable: bool | None = None

    def marked(self, text: str) -> tuple[str, list[sqltext.Statement]]:
        """``text`` as sent: with a mark before each statement, on the statement's own line
        (so the server's line numbers stay the file's), and its statements. Unmarked when
        the marks would not reach mig: no PL/pgSQL for the role, notices switched off, or a
        file that changes either (:data:`_SILENCES_MARKS`)."""
        if self._usable is None:
            with self.conn.cursor() as cur:
                cur.execute(_MARKS_USABLE_SQL)
                self._usable = bool(fetch_row(cur)[0])
        parts = sqltext.statements(text)
        if not self._usable or any(_SILENCES_MARKS.match(part.words) for part in parts):
            return text, parts
        pieces: list[str] = []
        at = 0
        for number, part in enumerate(parts, 1):
            pieces += [text[at:part.start], _MARK.format(number)]
            at = part.start
        pieces.append(text[at:])
        return "".join(pieces), parts

    def located(self, exc: psycopg2.DatabaseError, sent: str, parts: list[sqltext.Statement],
                offset: int = 0) -> tuple[str | None, int | None] | None:
        """The failing statement of ``sent`` (marked, after ``offset`` characters of settings)
        and its line, where the server says (a syntax error), else the statement whose mark
        came last; None when neither tells."""
        position = getattr(getattr(exc, "diag", None), "statement_position", None)
        if position and int(position) > offset:  # a syntax error: the server says where
            # a mark holds no line break: lines counted in the sent text are the file's
            line = sent.count("\n", 0, int(position) - offset - 1) + 1
            for part in parts:
                if part.line <= line <= part.end_line:
                    return part.text, line
            return None, line
        at = self.notices.at
        if at is not None and 1 <= at <= len(parts):
            return parts[at - 1].text, parts[at - 1].line
        return None

    def run(self, script: Script, path: Path, text: str, direction: str, prefix: str = "", *,
            in_release: bool = False) -> None:
        """Send ``text`` (of ``path``, run in ``direction``), marked, after ``prefix`` (SQL),
        inside the caller's transaction; ``in_release``: the transaction holds migrations
        before it, which a replay would have to run again.

        :raises StatementFailed: naming the failing statement and its line where known, the
            transaction rolled back.
        """
        started = time.monotonic()
        sent, parts = self.marked(text) if sqltext.has_sql(text) else ("", [])
        self.notices.at = None
        try:
            with self.conn.cursor() as cur:
                cur.execute(prefix + sent)
        except psycopg2.DatabaseError as exc:
            if self.conn.closed:
                raise
            elapsed = time.monotonic() - started
            self.backend.rollback()
            statement, line = self._locate(script, sent, parts, exc, elapsed, len(prefix),
                                           in_release=in_release)
            unlocated = "statement not located"
            if in_release:
                unlocated += (": not run again, as the migrations before it in the release were"
                              " rolled back with it")
            elif isinstance(exc, psycopg2.OperationalError):
                unlocated += ": not run again after a timeout, lock or connection failure"
            elif elapsed > REPLAY_WITHIN:
                unlocated += (f": the migration ran {elapsed:.1f}s before it failed; running it"
                              " again to find the statement would hold its locks as long again")
            detail = None
            position = getattr(getattr(exc, "diag", None), "statement_position", None)
            if sent != text and position and int(position) > len(prefix):
                pgerror = (getattr(exc, "pgerror", None) or str(exc)).strip()
                detail = unmarked(pgerror, sent, int(position) - len(prefix) - 1)
            raise text_error(script, path, statement, line, exc, direction, unlocated,
                             detail=detail) from None

    def _locate(self, script: Script, sent: str, parts: list[sqltext.Statement],
                exc: psycopg2.DatabaseError, elapsed: float, offset: int, *, in_release: bool
                ) -> tuple[str | None, int | None]:
        """The failing statement of ``sent`` and its line, for the error message: what the
        server's position or the statement marks say, else found by a replay where that is
        cheap and safe."""
        found = self.located(exc, sent, parts, offset)
        if found is not None:
            return found
        if in_release or not replayable(exc, elapsed):
            return None, None
        # Replay the statements one by one in a transaction rolled back at the end, each
        # bounded by a statement_timeout the failed run would have met comfortably.
        self.backend.begin()
        try:
            with self.conn.cursor() as cur:
                self.session.set(cur, script, local=True)
                cur.execute("SELECT set_config('statement_timeout', %s, true)",
                            (f"{int(REPLAY_WITHIN * 2000)}ms",))
                for part in parts:
                    try:
                        cur.execute(part.text)
                    except psycopg2.DatabaseError:
                        return part.text, part.line
        finally:
            self.backend.rollback()
        return None, None


def unmarked(message: str, sent: str, position: int) -> str:
    """The server's error message about ``sent`` (a marked text; ``position``: the 0-based
    offset in it that the server points at) with the ``LINE n:`` excerpt it quotes replaced
    by that line as the file has it, the ``^`` under the same character."""
    lines = message.split("\n")
    for index, line in enumerate(lines):
        head, colon, excerpt = line.partition(": ")
        if not (head.startswith("LINE ") and colon and index + 1 < len(lines)
                and lines[index + 1].strip() == "^"):
            continue
        begin = sent.rfind("\n", 0, position) + 1
        end = sent.find("\n", position)
        written = sent[begin:end if end >= 0 else len(sent)]
        column = position - begin
        column -= sum(m.end() - m.start() for m in _MARK_TEXT.finditer(written)
                      if m.end() <= column)
        original = _MARK_TEXT.sub("", written)
        lines[index] = head + colon + original
        lines[index + 1] = " " * (len(head) + len(colon) + column) + "^"
        break
    return "\n".join(lines)


def replayable(exc: psycopg2.DatabaseError, elapsed: float) -> bool:
    """Whether running the statements again would find the failing one cheaply and surely.

    Not after a timeout, a lock or deadlock failure, a cancel or a lost connection (all
    ``OperationalError``): those depend on other sessions and on time, so a replay would mostly
    wait out the same limits again and could fail elsewhere or not at all.
    """
    return elapsed <= REPLAY_WITHIN and not isinstance(exc, psycopg2.OperationalError)
