"""Resume by content: where a re-run of an interrupted non-transactional migration starts.

Each completed step is recorded with the checksum of its statement (:mod:`mig.engine.partial`);
a re-run of the same file skips the steps whose statements completed, whatever their
position, and a re-run of an edited file is refused. A ``CREATE``/``DROP INDEX CONCURRENTLY``
that completed before it could be recorded is recognised in the catalog.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import psycopg2.extensions
from psycopg2 import sql

from ..disk import sqltext
from ..disk.scripts import Script
from ..errors import ChecksumMismatch, MigError
from ..reports import Edited, Reporter
from ..yoyo import steps as yoyo_steps
from . import partial

# Statements PostgreSQL refuses inside a transaction block: such a step of a non-transactional
# migration runs on its own and is recorded right after it.
_NO_TRANSACTION = re.compile(
    r"\bCONCURRENTLY\b|^\s*(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM|"
    r"CREATE\s+TABLESPACE|DROP\s+TABLESPACE|COMMIT|BEGIN|END|START)\b",
    re.IGNORECASE | re.MULTILINE)
# CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name / DROP INDEX CONCURRENTLY [IF EXISTS]
# name, on the statement's words (comments and literals blanked, whitespace collapsed).
_CONCURRENT_INDEX = re.compile(
    r"^\s*(?P<verb>CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+"
    r"(?P<exists>IF\s+(NOT\s+)?EXISTS\s+)?(?P<name>[^\s(;]+)", re.IGNORECASE)


def outside_transaction(statement: str) -> bool:
    """Whether PostgreSQL refuses ``statement`` inside a transaction block: it runs on its
    own, and is recorded right after it."""
    return _NO_TRANSACTION.search(statement) is not None


def step_checksum(inner: yoyo_steps.Step, direction: str) -> str:
    """What identifies a step's work on resume: its SQL (whitespace-insensitive), or a Python
    step's name."""
    action = yoyo_steps.action(inner, direction)
    if isinstance(action, str):
        text = "sql:" + " ".join(action.split())
    else:
        text = "python:" + str(getattr(action, "__qualname__", action))
    return hashlib.sha256(text.encode()).hexdigest()


def resume(conn: psycopg2.extensions.connection, script: Script, direction: str,
           total: int) -> tuple[Counter[str], set[int], int]:
    """``(step checksums to skip, legacy positions to skip, steps done)`` of a run of
    ``script`` in ``direction``; a first run records itself in ``_mig_partial``.

    :raises ChecksumMismatch: the run started from another version of the file.
    """
    run = partial.partial_of(conn, script.id)
    done = partial.completed_steps(conn, script.id, direction)
    if run is None:
        partial.start_partial(conn, script.id, direction, script.checksum, total)
    elif run.direction != direction:
        raise MigError(
            f"{script.id} is {run.summary}: finish that first",
            hint="'mig apply' resumes a partial apply, 'mig rollback' a partial rollback")
    elif run.checksum is not None and run.checksum != script.checksum:
        raise partial_edited(script, run)
    legacy = {step for step, checksum in done.items() if checksum is None}
    skip = Counter(checksum for checksum in done.values() if checksum is not None)
    return skip, legacy, len(done)


def partial_edited(script: Script, run: partial.Partial) -> ChecksumMismatch:
    """The refusal to resume ``run`` from an edited file."""
    recorded, current = run.checksum or "?", script.checksum
    return ChecksumMismatch(
        f"{script.path}: {script.id} is {run.summary}, but its file was edited since"
        f" that run started (checksum then {recorded[:12]}, now {current[:12]}): resuming"
        " could skip or repeat statements",
        problems=[Edited(script.id, "edited-partial", recorded, current,
                         path=str(script.path))],
        hint="restore the file as it was when the run started (e.g. from version control);"
        " or check by hand which of its statements the database already holds and run"
        " 'mig repair' to resume from the file as it is now: its steps whose statements"
        " already completed are skipped, the others run")


def concurrent_step_done(conn: psycopg2.extensions.connection, script: Script,
                         statement: str, report: Reporter) -> bool:
    """Whether a ``CREATE``/``DROP INDEX CONCURRENTLY`` step is already done; an
    ``INVALID`` index left by an interrupted ``CREATE INDEX CONCURRENTLY`` is dropped first
    so the step builds it again."""
    match = _CONCURRENT_INDEX.match(sqltext.mask(statement))  # same offsets as statement
    if match is None:
        return False
    name = statement[match.start("name"):match.end("name")]
    with conn.cursor() as cur:
        cur.execute("SELECT c.oid::regclass::text, i.indisvalid FROM pg_class c"
                    " JOIN pg_index i ON i.indexrelid = c.oid"
                    " WHERE c.oid = to_regclass(%s)", (name,))
        row = cur.fetchone()
        if match.group("verb") == "DROP":
            return row is None
        if row is None:
            return False
        if row[1]:
            return match.group("exists") is None  # IF NOT EXISTS: let it say so
        cur.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.SQL(row[0])))
    report(f"{script.id}: dropped the INVALID index {row[0]} an interrupted"
           " CREATE INDEX CONCURRENTLY left; building it again")
    return False
