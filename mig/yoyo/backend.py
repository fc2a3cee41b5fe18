"""yoyo's PostgreSQL backend, on a connection mig opened and holds its lock on.

yoyo's record methods and its own tables' upgrades run through a backend object; mig makes
one around its connection, so that libpq keyword strings, ``PG*`` variables and ``.pgpass``
keep working, and so that yoyo never takes a lock of its own: the caller holds mig's
advisory lock around every change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import psycopg2.extensions
from yoyo.backends.core.postgresql import PostgresqlBackend

from ..dsn import Dsn

#: Opens a new connection to the backend's database (yoyo asks for one in ``copy``).
Opener = Callable[[], psycopg2.extensions.connection]


class Backend(PostgresqlBackend):
    """yoyo's PostgreSQL backend on mig's connection, without yoyo's table lock."""

    has_transactional_ddl = True

    def __init__(self, dsn: Dsn, migration_table: str, *, opener: Opener,
                 connection: psycopg2.extensions.connection | None = None) -> None:
        self.dsn = dsn
        self.opener = opener
        self._given_connection = connection
        super().__init__(dsn, migration_table)

    def connect(self, dburi: object) -> psycopg2.extensions.connection:  # yoyo's hook
        """The connection yoyo works on: the caller's (reused when given one), or a new one
        from ``opener``."""
        if self._given_connection is not None:
            return self._given_connection
        return self.opener()

    def copy(self) -> Backend:
        """A backend like this one on a connection of its own (yoyo asks for one)."""
        return self.__class__(self.dsn, self.migration_table, opener=self.opener)

    def lock(self, timeout: float = 10) -> contextlib.nullcontext[None]:
        """No lock of yoyo's: the caller holds mig's advisory lock."""
        return contextlib.nullcontext()
