"""yoyo's tracking tables made current, and their rows written and removed by mig in yoyo's
own format.

``_yoyo_migration`` (the configured ``migration_table``) says which migrations are applied,
keyed by each one's hash; ``_yoyo_log`` keeps what happened to them. mig writes these rows in
the same transaction as its own records (see :mod:`mig.engine.tracking`), so they are written
here as yoyo's ``mark_one``, ``unmark_one`` and ``log_migration`` would write them, the host
name taken without a DNS lookup.
"""

from __future__ import annotations

import getpass
import socket
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from psycopg2 import sql

from .migrations import hash_of

if TYPE_CHECKING:  # the class imports yoyo's backends: only a backend's user needs them
    from .backend import Backend

_RECORD_APPLIES = """
INSERT INTO {migrations} (migration_hash, migration_id, applied_at_utc)
SELECT * FROM unnest(%(yoyo_hash)s::text[], %(yoyo_id)s::text[], %(yoyo_when)s::timestamp[]);
INSERT INTO _yoyo_log (id, migration_hash, migration_id, operation, username, hostname,
                       created_at_utc)
SELECT l, h, i, %(yoyo_operation)s, %(yoyo_user)s, %(yoyo_host)s, w
  FROM unnest(%(yoyo_log_id)s::text[], %(yoyo_hash)s::text[], %(yoyo_id)s::text[],
              %(yoyo_when)s::timestamp[]) AS r(l, h, i, w);
"""


def ensure_tables(backend: Backend) -> None:
    """Create or upgrade yoyo's tracking tables where needed (the caller holds the lock), and
    tell the backend they are current.

    yoyo sets that flag only after upgrading its tables itself; without it, each of its record
    methods would query the version table again.
    """
    backend.ensure_internal_schema_updated()
    backend._internal_schema_updated = True


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def record_applies(migration_table: str, ids: list[str], when: list[datetime],
                   operation: str = "apply") -> tuple[sql.Composed, dict[str, object]]:
    """The statements, and their parameters (all named ``yoyo_...``), that record ``ids``
    applied at ``when`` (naive UTC times, one per id), with one ``_yoyo_log`` row each: for the
    caller to send together with its own records, in one round trip.

    ``operation`` is the log's word: ``apply``, or ``mark`` (recorded without running).
    """
    query = sql.SQL(_RECORD_APPLIES).format(migrations=sql.Identifier(migration_table))
    return query, {
        "yoyo_hash": [hash_of(mid) for mid in ids],
        "yoyo_id": list(ids),
        "yoyo_when": list(when),
        "yoyo_log_id": [str(uuid.uuid1()) for _ in ids],
        "yoyo_user": _user(),
        "yoyo_host": socket.gethostname(),
        "yoyo_operation": operation,
    }


def log(backend: Backend, migration_id: str, operation: str) -> None:
    """One ``_yoyo_log`` row: ``operation`` (``apply``, ``rollback``, ``mark``, ``unmark``)
    happened to ``migration_id`` now."""
    backend.execute(backend.format_sql(backend.log_migration_sql), {
        "id": str(uuid.uuid1()),
        "migration_id": migration_id,
        "migration_hash": hash_of(migration_id),
        "username": _user(),
        "hostname": socket.gethostname(),
        "created_at_utc": datetime.now(timezone.utc).replace(tzinfo=None),
        "operation": operation,
    })


def record_rollback(backend: Backend, migration_id: str) -> None:
    """yoyo's rows of a rollback: the record that ``migration_id`` is applied goes, and the
    log gets a ``rollback`` row."""
    backend.execute(backend.format_sql(backend.unmark_migration_sql),
                    {"migration_hash": hash_of(migration_id)})
    log(backend, migration_id, "rollback")


def forget(backend: Backend, migration_id: str) -> None:
    """Remove the record that ``migration_id`` is applied, logging nothing (its log rows stay)."""
    with backend.connection.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE migration_id = %s")
                    .format(sql.Identifier(backend.migration_table)), (migration_id,))


def rename(backend: Backend, old_id: str, new_id: str) -> None:
    """Move the record that ``old_id`` is applied to ``new_id`` (its file was renamed)."""
    with backend.connection.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET migration_id = %s, migration_hash = %s"
                            " WHERE migration_id = %s").format(
            sql.Identifier(backend.migration_table)), (new_id, hash_of(new_id), old_id))
