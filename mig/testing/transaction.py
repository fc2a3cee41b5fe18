"""Transaction mode: one connection per process, each test inside a transaction rolled back.

The connection refuses what would make a test's writes outlive it (``commit()``, autocommit),
so a test that needs them fails at once with a pointer to ``mig_db`` instead of leaking rows
into later tests.
"""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.extensions

from ..errors import MigError

_base = psycopg2.extensions.connection
_AUTOCOMMIT: Any = _base.__dict__["autocommit"]  # the C attribute, wrapped below


def _refuse(what: str) -> MigError:
    return MigError(
        f"mig_conn is rolled back after each test; {what} would keep this test's writes "
        "for the tests after it",
        hint="use the mig_db fixture (a database of the test's own) for code that commits",
    )


class RollbackOnlyConnection(_base):
    """A psycopg2 connection whose transaction can only be rolled back."""

    def commit(self) -> None:
        """Refused: the test's transaction is rolled back, never committed."""
        raise _refuse("commit()")

    @property
    def autocommit(self) -> bool:
        """Whether autocommit is on (turning it on is refused)."""
        return bool(_AUTOCOMMIT.__get__(self, type(self)))

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        if value:
            raise _refuse("autocommit")
        _AUTOCOMMIT.__set__(self, value)

    def set_session(self, *args: Any, **kwargs: Any) -> None:
        """As psycopg2's, but autocommit is refused."""
        if kwargs.get("autocommit") or (len(args) >= 4 and args[3]):
            raise _refuse("autocommit")
        super().set_session(*args, **kwargs)


class TransactionConnection:
    """The process's connection for ``mig_conn``, reopened if a test closed it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: RollbackOnlyConnection | None = None

    def get(self) -> RollbackOnlyConnection:
        """The connection, opened on first use."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.url, connection_factory=RollbackOnlyConnection)
        return self._conn

    def end_test(self) -> None:
        """Roll back what the test did: one round trip, none if it ran no statement."""
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.rollback()
        except psycopg2.Error:  # a broken connection: the next test gets a new one
            conn.close()

    def close(self) -> None:
        """Close the connection if it is open."""
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None
