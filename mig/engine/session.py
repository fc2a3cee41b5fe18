"""The settings a migration runs under: its timeouts, and the values it may read.

Each migration runs with its ``lock_timeout`` and ``statement_timeout`` (its own directive,
else the run's), and with settings it may read with ``current_setting('mig.app_role', true)``
(the privileges migration does): for its transaction alone (``local``), or for the session
while a non-transactional one runs, reset after it.
"""

from __future__ import annotations

import psycopg2.extensions
from psycopg2 import sql

from ..disk.scripts import Script


class Session:
    """The run's defaults and the values every migration of it may read.

    :param migration_table: yoyo's table, as ``mig.migration_table``.
    :param app_role: the application role, as ``mig.app_role`` (unset: the migration's own
        default).
    """

    def __init__(self, *, lock_timeout: str, statement_timeout: str, migration_table: str,
                 app_role: str | None = None) -> None:
        self.defaults = {"lock_timeout": lock_timeout, "statement_timeout": statement_timeout}
        self.context = {"mig.migration_table": migration_table}
        if app_role is not None:
            self.context["mig.app_role"] = app_role

    def sql(self, script: Script, *, local: bool) -> sql.Composed:
        """One ``SELECT set_config(...)`` of ``script``'s settings (``local``: for its
        transaction alone)."""
        values = {name: script.option(name) or self.defaults[name]
                  for name in ("lock_timeout", "statement_timeout")}
        values.update(self.context)
        calls = sql.SQL(", ").join(sql.SQL("set_config({}, {}, {})").format(
            sql.Literal(name), sql.Literal(value), sql.Literal(local))
            for name, value in values.items())
        return sql.SQL("SELECT {}").format(calls)

    def set(self, cur: psycopg2.extensions.cursor, script: Script, *, local: bool) -> None:
        """Set ``script``'s settings, in one round trip."""
        cur.execute(self.sql(script, local=local))

    def reset(self, conn: psycopg2.extensions.connection) -> None:
        """Back to the server's settings after a non-transactional migration (nothing on a
        closed connection)."""
        if conn.closed:
            return
        with conn.cursor() as cur:
            cur.execute("RESET lock_timeout; RESET statement_timeout")
            for name in self.context:
                cur.execute(sql.SQL("RESET {}").format(sql.Identifier(name)))
