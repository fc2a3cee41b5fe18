"""Scratch databases: a fresh database on a server, the migrations run on it by the engine
``mig apply`` uses, and its schema read back. ``mig verify`` proves rollbacks on one, ``mig diff``
builds the schema its applied migrations produce on one."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import psycopg2
from psycopg2 import sql

from ..config import Settings
from ..disk.scripts import Script
from ..dsn import Dsn
from ..errors import DatabaseUnavailable
from ..reports import silent
from .connect import connect
from .runner import locked_backend, make_runner
from .snapshot import Snapshot, snapshot

SCRATCH_PREFIX = "mig_verify_"


@contextmanager
def scratch_database(server: Dsn, *, keep: bool) -> Iterator[Dsn]:
    """A new database on ``server``, dropped on exit (with its connections) unless ``keep``.

    :raises DatabaseUnavailable: the role may not create databases there.
    """
    name = SCRATCH_PREFIX + uuid.uuid4().hex[:12]
    admin = connect(server, verb="verify")
    try:
        with admin.cursor() as cur:
            try:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg2.errors.InsufficientPrivilege:
                raise DatabaseUnavailable(
                    f"cannot create a scratch database on {server.masked}: permission denied",
                    hint="verify needs a role with CREATEDB; use a disposable server "
                    "(the embedded default needs no setup)",
                ) from None
        try:
            yield server.with_params(dbname=name)
        finally:
            if not keep:
                with admin.cursor() as cur:
                    cur.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
    finally:
        admin.close()


class ScratchEngine:
    """Applies and rolls back single migrations on the scratch database, and snapshots it.

    Built the way ``mig apply`` builds its runner (lock, tracking tables, timeouts, the
    settings migrations may read), so each migration and its records commit together exactly
    as they do there; the migrations are parsed once for the whole run.
    """

    def __init__(self, settings: Settings, hooks: list[Script], schema: str) -> None:
        self._stack = ExitStack()
        # The engine's own construction (what mig apply runs with), not a copy of it.
        self.backend = self._stack.enter_context(locked_backend(settings, "verify", silent))
        self.runner = self._stack.enter_context(
            contextlib.closing(make_runner(settings, self.backend, silent)))
        self.hooks = hooks
        self.schema = schema
        self.ignore = (settings.migration_table,)

    def apply(self, script: Script) -> None:
        self.runner.apply(script)
        for hook in self.hooks:
            self.runner.apply(hook)

    def rollback(self, script: Script) -> None:
        self.runner.rollback(script)

    def snapshot(self) -> Snapshot:
        return snapshot(self.backend.connection, self.schema, ignore=self.ignore)

    def close(self) -> None:
        self._stack.close()
