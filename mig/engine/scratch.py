"""Scratch databases: a fresh database on a server, the migrations run on it by the engine
``mig apply`` uses, and its schema read back. ``mig verify`` proves rollbacks on one; ``mig diff``,
``mig baseline`` and ``mig status --check`` build a list of migrations on one
(:func:`scratch_engine`, :func:`build_schema`)."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection

from ..config import Settings
from ..disk.scripts import Script
from ..dsn import Dsn
from ..errors import DatabaseUnavailable, ServerError
from ..reports import SILENT, Reporter
from .comparison import OwnedSchema, read_schema
from .connect import connect, embedded_dsn, scratch_host
from .lock import locked_backend
from .prerequisites import create_schemas
from .runner import make_runner
from .snapshot import Snapshot, snapshot

if TYPE_CHECKING:
    from ..server import LocalServer

SCRATCH_PREFIX = "mig_verify_"


_SCRATCH_NAME = re.compile(re.escape(SCRATCH_PREFIX) + r"(?:(keep)_|(\d+)_)?[0-9a-f]+")


def unheld_scratch(conn: connection) -> list[str]:
    """Scratch databases a killed ``mig verify`` left: named after the server process of the
    verify that created them (``mig_verify_<pid>_<random>``), which no longer runs. Kept ones
    (``--keep``: ``mig_verify_keep_...``) stay; an older name without a pid counts while
    nobody is connected to it."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT d.datname, EXISTS (SELECT FROM pg_stat_activity a WHERE a.datname ="
            " d.datname), (SELECT array_agg(pid) FROM pg_stat_activity)"
            " FROM pg_database d WHERE d.datname LIKE %s ORDER BY 1",
            (SCRATCH_PREFIX.replace("_", r"\_") + "%",))
        rows = cur.fetchall()
    left = []
    for name, in_use, pids in rows:
        match = _SCRATCH_NAME.fullmatch(name)
        if match is None or match.group(1):
            continue
        owner = match.group(2)
        if (owner is not None and int(owner) not in (pids or [])) or (
                owner is None and not in_use):
            left.append(name)
    return left


def sweep(admin: connection, say: Callable[[str], None]) -> list[str]:
    """Drop the scratch databases interrupted verifies left (see :func:`unheld_scratch`)."""
    dropped = []
    for name in unheld_scratch(admin):
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
        say(f"dropped scratch database {name}, left by an interrupted mig verify")
        dropped.append(name)
    return dropped


class Scratch:
    """The scratch database on ``server``: created on entry, dropped on exit unless ``keep``.
    :meth:`fresh` replaces it with a new empty one (``--keep-going`` after a failure).

    Its name carries the admin connection's server pid (``mig_verify_<pid>_<random>``): while
    this run lives the database is its own; once the run is gone, the next one (and
    ``mig status --check``) knows it was left over, and drops it on entry.
    """

    def __init__(self, server: Dsn, *, keep: bool, say: Callable[[str], None] = SILENT
                 ) -> None:
        self.server = server
        self.keep = keep
        self.say = say
        self.dsn: Dsn | None = None
        self.admin: Any = None

    def __enter__(self) -> Scratch:
        self.admin = connect(self.server, verb="verify")
        try:
            sweep(self.admin, self.say)
            self.fresh()
        except BaseException:
            self.admin.close()
            raise
        return self

    def fresh(self, template: str | None = None) -> Dsn:
        """A new scratch database (the previous one dropped): empty, or a copy of the
        database ``template`` (which nobody may be connected to)."""
        self._drop()
        owner = "keep" if self.keep else str(self.admin.get_backend_pid())
        name = f"{SCRATCH_PREFIX}{owner}_{uuid.uuid4().hex[:12]}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            # a file copy: far quicker than PostgreSQL 15's default (WAL_LOG) for a small one
            strategy = " STRATEGY FILE_COPY" if self.admin.server_version >= 150000 else ""
            create = sql.SQL("{} TEMPLATE {}{}").format(create, sql.Identifier(template),
                                                       sql.SQL(strategy))
        with self.admin.cursor() as cur:
            try:
                cur.execute(create)
            except psycopg2.errors.InsufficientPrivilege:
                raise DatabaseUnavailable(
                    f"cannot create a scratch database on {self.server.masked}: permission"
                    " denied", hint="verify needs a role with CREATEDB; use a disposable server "
                    "(the embedded default needs no setup)",
                ) from None
        self.dsn = self.server.with_params(dbname=name)
        return self.dsn

    def _drop(self) -> None:
        if self.dsn is not None and not self.admin.closed:
            with self.admin.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(str(self.dsn.dbname))))
            self.dsn = None

    def __exit__(self, *exc_info: object) -> None:
        try:
            if not self.keep:
                self._drop()
        finally:
            self.admin.close()


@contextmanager
def scratch_database(server: Dsn, *, keep: bool, say: Callable[[str], None] = SILENT
                     ) -> Iterator[Dsn]:
    """A new database on ``server``, dropped on exit (with its connections) unless ``keep``.

    :raises DatabaseUnavailable: the role may not create databases there.
    """
    with Scratch(server, keep=keep, say=say) as scratch:
        assert scratch.dsn is not None
        yield scratch.dsn


class ScratchEngine:
    """Applies and rolls back single migrations on the scratch database, and snapshots it.

    Built the way ``mig apply`` builds its runner (lock, tracking tables, timeouts, the
    settings migrations may read), so each migration and its records commit together exactly
    as they do there; the migrations are parsed once for the whole run.
    """

    def __init__(self, settings: Settings, hooks: list[Script],
                 schemas: list[str] | None = None) -> None:
        assert settings.database is not None
        self.dbname = settings.database.dbname
        self.masked = settings.database.masked
        self._stack = ExitStack()
        # What the live database had before the history's first migration: a schema
        # target's schema (a fleet creates it) and the schemas of create_schemas.
        expected = (*((settings.schema,) if settings.schema else ()), *settings.create_schemas)
        if expected:
            conn = connect(settings.database, verb="verify")
            try:
                create_schemas(conn, expected)
            finally:
                conn.close()
        # The engine's own construction (what mig apply runs with), not a copy of it.
        self.backend = self._stack.enter_context(locked_backend(settings, "verify", SILENT))
        self.runner = self._stack.enter_context(
            contextlib.closing(make_runner(settings, self.backend, SILENT)))
        self.hooks = hooks
        self.schemas = schemas
        self.ignore = (settings.migration_table,)

    def apply(self, script: Script) -> None:
        """Apply ``script``, then the post-apply hooks, as ``mig apply`` does."""
        self.runner.apply(script)
        for hook in self.hooks:
            self.runner.apply(hook)

    def rollback(self, script: Script) -> None:
        """Roll ``script`` back."""
        self.runner.rollback(script)

    def snapshot(self) -> Snapshot:
        """The scratch database's schema now."""
        return snapshot(self.backend.connection, self.schemas, ignore=self.ignore)

    def close(self) -> None:
        """Release the lock and close the connection."""
        self._stack.close()



@contextmanager
def scratch_server(settings: Settings, scratch: str | Dsn | None, *,
                   keep_running: bool = False, major: int | None = None) -> Iterator[Dsn]:
    """The server to build on: ``scratch``, else the embedded one (never the configured
    database's unasked), which is stopped again at the end when it was started only for this
    (unless ``keep_running``: a kept scratch database stays reachable). ``scratch`` naming the
    configured database is given that database's password file, as the database itself is.

    ``major``: the major version of the database the build is compared with. When the embedded
    server's binaries are of another major version, a server of binaries of that version (the
    first of ``server_bin``'s, the embedded package's and ``/usr/lib/postgresql/<major>/bin``)
    is started for the build instead, its data beside the embedded server's
    (``pgdata-<major>``); where there are none, the embedded server is used (the comparison
    says so: :func:`mig.engine.comparison.version_notes`)."""
    if isinstance(scratch, str):
        scratch = Dsn.parse(scratch)
    if scratch is not None and scratch != settings.database:
        yield scratch
        return
    if scratch is None and major is not None:
        other = _server_of_major(settings, major)
        if other is not None:
            with _started(other, keep_running=keep_running) as server:
                yield server
            return
    with scratch_host(dataclasses.replace(settings, database=scratch),
                      keep_running=keep_running) as server:
        yield server


def binaries_of_major(settings: Settings, major: int) -> Path | None:
    """The ``bin`` folder of PostgreSQL ``major``'s binaries: the first of ``server_bin``'s,
    the embedded package's and Debian's ``/usr/lib/postgresql/<major>/bin`` of that version;
    None when there are none."""
    from ..server import binaries_version, embedded_bindir

    found: list[Path] = []
    if settings.server_bin is not None:
        found.append(Path(settings.server_bin))
    with contextlib.suppress(ServerError):
        found.append(embedded_bindir())
    found.append(Path("/usr/lib/postgresql") / str(major) / "bin")
    for bindir in found:
        if not (bindir / "postgres").is_file():
            continue
        with contextlib.suppress(ServerError):
            if binaries_version(bindir) == str(major):
                return bindir
    return None


def _server_of_major(settings: Settings, major: int) -> LocalServer | None:
    """A server (not started) to build on for a database of PostgreSQL ``major``, when the
    embedded one runs another version and binaries of ``major`` are found; else None."""
    from ..server import FAST_UNSAFE_SETTINGS, LocalServer, binaries_version, embedded_bindir

    try:
        usual = Path(settings.server_bin) if settings.server_bin is not None \
            else embedded_bindir()
        if binaries_version(usual) == str(major):
            return None
    except ServerError:
        pass
    bindir = binaries_of_major(settings, major)
    if bindir is None:
        return None
    # scratch data only: nothing in it survives a build, so durability is not needed
    return LocalServer(settings.embedded_dir / f"pgdata-{major}", bindir=bindir,
                       settings=FAST_UNSAFE_SETTINGS)


@contextmanager
def _started(server: LocalServer, *, keep_running: bool) -> Iterator[Dsn]:
    """``server`` running for the length of the block; stopped after when it was started for
    it (unless ``keep_running``, or another client has begun to use it)."""
    if not server.is_running():
        server.start()
    try:
        yield embedded_dsn(server, "postgres")
    finally:
        if server.started and not keep_running:
            server.stop_if_unused()


@contextmanager
def scratch_engine(settings: Settings, scratch: str | Dsn | None, hooks: list[Script],
                   schemas: list[str] | None = None, report: Reporter = SILENT, *,
                   major: int | None = None) -> Iterator[ScratchEngine]:
    """A :class:`ScratchEngine` on a new scratch database of :func:`scratch_server`, which is
    dropped (and an embedded server started for it stopped) on exit."""
    with scratch_server(settings, scratch, major=major) as server, \
            scratch_database(server, keep=False) as dsn:
        engine = ScratchEngine(dataclasses.replace(settings, database=dsn), hooks, schemas)
        try:
            yield engine
        finally:
            engine.close()


def build_schema(settings: Settings, scratch: str | Dsn | None, build: list[Script],
                 hooks: list[Script], *, schemas: list[str] | None = None,
                 report: Reporter = SILENT, major: int | None = None) -> OwnedSchema:
    """The schemas (and owner role) that ``build`` makes, applied in order on a scratch
    database of :func:`scratch_server` the way ``mig apply`` applies them (the post-apply
    ``hooks`` after each); the scratch database is dropped after. ``schemas``: those described
    (None: every schema but the system's and extensions'); ``major``: the major version of the
    database the build is compared with (see :func:`scratch_server`)."""
    with scratch_engine(settings, scratch, hooks, schemas, report, major=major) as engine:
        report(f"building {len(build)} migration(s) on scratch database {engine.dbname}")
        for script in build:
            engine.apply(script)
        return read_schema(engine.backend.connection, schemas, (settings.migration_table,))
