"""Connections: where the database is, opening it, and turning failures into clear errors."""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions
from psycopg2 import sql

from ..config import EMBEDDED, Settings
from ..dsn import Dsn, redact
from ..errors import ConfigError, DatabaseUnavailable, ServerError
from ..reports import Target

if TYPE_CHECKING:
    from ..server import LocalServer

EMBEDDED_DBNAME = "mig"
# How long to wait for a server to answer when neither the connection settings nor
# PGCONNECT_TIMEOUT say: a host that accepts the connection and never answers would otherwise
# hang a deploy forever.
DEFAULT_CONNECT_TIMEOUT = 10


def embedded_server(settings: Settings) -> LocalServer:  # imported lazily: not on the hot path
    """The embedded server of this project (``.mig/pgdata``), running or not; its binaries are
    ``settings.server_bin`` (``MIG_SERVER_BIN``), else the embedded package's."""
    from ..server import LocalServer

    return LocalServer(settings.embedded_dir / "pgdata", bindir=settings.server_bin)


def embedded_dsn(server: LocalServer, dbname: str) -> Dsn:
    """The DSN of ``dbname`` on the embedded ``server``.

    The server listens only on a Unix socket in its data folder, where TLS does not apply:
    ``sslmode=disable`` keeps a ``PGSSLMODE`` meant for other servers from making every
    connection to it fail.
    """
    return Dsn.parse(server.url(dbname)).with_params(sslmode="disable")


def target(settings: Settings) -> Target:
    """Which database ``settings`` point at, for display, without connecting or starting
    anything (see :class:`mig.reports.Target`)."""
    if settings.database is not None:
        return Target(settings.database.masked, settings.database_source)
    server = embedded_server(settings)
    url = embedded_dsn(server, EMBEDDED_DBNAME).masked if server.is_running() else None
    return Target(url, EMBEDDED, str(server.datadir))


def _ensure_database(server: LocalServer, dbname: str) -> None:
    """Create ``dbname`` on the embedded ``server`` unless it exists.

    Many processes may start the embedded default at once: the server's file lock lets one of
    them create the database and the others find it.
    """
    conn = connect(embedded_dsn(server, "postgres"), verb="db create")
    try:
        with conn.cursor() as cur:
            if _database_exists(cur, dbname):
                return
            with server.locked():
                if _database_exists(cur, dbname):
                    return
                # another client (one that does not take the file lock) may create it first
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase,
                                         psycopg2.errors.UniqueViolation):
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg2.Error as exc:
        raise ServerError(
            f"cannot create the database {dbname!r} on the embedded server "
            f"({server.datadir}): {' '.join(str(exc).split())}"
        ) from None
    finally:
        conn.close()


def _database_exists(cur: psycopg2.extensions.cursor, dbname: str) -> bool:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
    return cur.fetchone() is not None


def open_embedded(settings: Settings) -> Dsn:
    """The embedded server's database: the server started, and the database created, if needed
    (the data lives in ``settings.embedded_dir``). Before starting it, the data of servers
    whose project is gone is swept (as root: :func:`mig.orphans.sweep_orphaned`)."""
    return _open_embedded(embedded_server(settings), chosen_bin=settings.server_bin is not None)


def _open_embedded(server: LocalServer, *, chosen_bin: bool) -> Dsn:
    if not server.is_running():
        from ..orphans import sweep_orphaned

        with contextlib.suppress(ServerError, OSError):  # mig db prune says why
            sweep_orphaned()
        server.start()
    elif chosen_bin:
        # A server already running from other binaries would be used silently otherwise
        # (server_bin set after it started): the versions must agree, as at a start.
        server.check_version()
    _ensure_database(server, EMBEDDED_DBNAME)
    return embedded_dsn(server, EMBEDDED_DBNAME)


@contextlib.contextmanager
def scratch_host(settings: Settings, *, keep_running: bool = False) -> Iterator[Dsn]:
    """The server to build scratch databases on: the configured database's, else the embedded
    one. An embedded server started here, only for this scratch work, is stopped again at the
    end (unless another client has begun to use it meanwhile): a ``mig verify`` or
    ``mig diff`` leaves no server running that was not running before (``keep_running``: it
    does, e.g. for a scratch database kept for inspection)."""
    if settings.database is not None:
        yield open_database(settings)
        return
    server = embedded_server(settings)
    dsn = _open_embedded(server, chosen_bin=settings.server_bin is not None)
    try:
        yield dsn
    finally:
        if server.started and not keep_running:
            server.stop_if_unused()


@contextlib.contextmanager
def transaction(conn: psycopg2.extensions.connection) -> Iterator[None]:
    """One transaction on an autocommit connection: committed when the block ends, rolled back
    when it raises (a connection already lost is left to the server, which rolled it back);
    the connection is autocommit again afterwards."""
    conn.autocommit = False
    try:
        yield
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        if not conn.closed:
            conn.autocommit = True


def open_database(settings: Settings) -> Dsn:
    """The database mig works on, ready to connect to: the configured one (given the password
    of ``settings.password_file`` when it has none), or the embedded one (:func:`open_embedded`:
    it may start the server)."""
    if settings.database is None:
        return open_embedded(settings)
    dsn = settings.database
    if settings.password_file is not None and dsn.password is None:
        dsn = dsn.with_params(password=_read_password_file(settings.password_file))
    if settings.schema is not None:
        dsn = with_schema(dsn, settings.schema)
    return dsn


SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


def with_schema(dsn: Dsn, schema: str) -> Dsn:
    """``dsn`` with ``schema`` alone on the search_path of its sessions (libpq ``options``).

    Alone, not before ``public``: a schema whose tracking tables do not exist yet must not find
    ``public``'s and take their records for its own. Built-in functions stay reachable
    (pg_catalog is always searched).
    """
    if not SCHEMA_NAME.match(schema):
        raise ConfigError(
            f"schema name {schema!r} is not supported: use letters, digits, '_' and '$',"
            " starting with a letter or '_' (at most 63 characters)")
    options = f"{dsn.get('options') or ''} -c search_path=\"{schema}\"".strip()
    return dsn.with_params(options=options)


def _read_password_file(path: Path) -> str:
    try:
        return path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the password file {path} (MIG_DATABASE_PASSWORD_FILE): {exc.strerror}"
        ) from None


def application_name(verb: str) -> str:
    """Shown in pg_stat_activity, so a waiting process can say who holds the lock."""
    return f"mig {verb} ({socket.gethostname()} pid {os.getpid()})"[:63]


def connect(
    dsn: Dsn, *, verb: str = "run", autocommit: bool = True, watch_client: bool = True
) -> psycopg2.extensions.connection:
    """Open a connection; failures become :class:`DatabaseUnavailable` with a fix-it hint.

    :param watch_client: have the server notice a dead client during a long statement (one
        more round trip); a connection that runs one short read can do without.
    """
    extra: dict[str, Any] = {"application_name": application_name(verb)}
    if connect_timeout(dsn)[1] == "mig's default":
        extra["connect_timeout"] = str(DEFAULT_CONNECT_TIMEOUT)
    try:
        conn = psycopg2.connect(dsn.raw, **extra)
    except psycopg2.OperationalError as exc:
        raise connection_error(dsn, exc) from None
    conn.autocommit = True
    if watch_client and conn.server_version >= 140000:
        # Notice a dead client even during a long statement, so that its transaction rolls
        # back and its advisory lock goes with it at once (PostgreSQL 14+).
        with conn.cursor() as cur:
            cur.execute("SET client_connection_check_interval = '1s'")
    conn.autocommit = autocommit
    return conn


@contextlib.contextmanager
def connected(dsn: Dsn, verb: str, *, readonly: bool = False,
              watch_client: bool = True) -> Iterator[psycopg2.extensions.connection]:
    """An autocommit connection to ``dsn`` (see :func:`connect`), closed on leaving.

    :param readonly: every transaction read-only (a dry run: data steps count the rows they
        would touch, and cannot write them).
    """
    conn = connect(dsn, verb=verb, watch_client=watch_client)
    try:
        if readonly:
            conn.set_session(readonly=True)
        yield conn
    finally:
        conn.close()


def session(settings: Settings, verb: str, *, readonly: bool = False,
            watch_client: bool = True) -> contextlib.AbstractContextManager[
                psycopg2.extensions.connection]:
    """A connection to the database of ``settings`` (which :func:`open_database` may start),
    closed on leaving: ``with session(settings, "status") as conn: ...``. ``verb`` is what
    ``pg_stat_activity`` shows."""
    return connected(open_database(settings), verb, readonly=readonly,
                     watch_client=watch_client)


def fetch_row(cur: psycopg2.extensions.cursor) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate, a function's result)."""
    row = cur.fetchone()
    if row is None:
        raise AssertionError("a query that returns one row returned none")
    return row


def connect_timeout(dsn: Dsn) -> tuple[str, str]:
    """libpq's ``connect_timeout`` for ``dsn`` in seconds, and where it comes from: the
    connection settings, ``PGCONNECT_TIMEOUT``, else mig's default."""
    if dsn.get("connect_timeout"):
        return str(dsn.get("connect_timeout")), "connect_timeout"
    if os.environ.get("PGCONNECT_TIMEOUT"):
        return os.environ["PGCONNECT_TIMEOUT"], "PGCONNECT_TIMEOUT"
    return str(DEFAULT_CONNECT_TIMEOUT), "mig's default"


def connection_error(dsn: Dsn, exc: Exception) -> DatabaseUnavailable:
    """A failed connection as a :class:`DatabaseUnavailable` naming what to fix where it can,
    passwords masked."""
    detail = " ".join(str(exc).split())
    detail = redact(detail, *dsn.secrets, os.environ.get("PGPASSWORD"))
    lower = detail.lower()
    hint = None
    if "password authentication failed" in lower or "no password supplied" in lower:
        hint = (
            "check the user and password (in the URL, PGPASSWORD, ~/.pgpass or "
            "MIG_DATABASE_PASSWORD_FILE)"
        )
    elif role := re.search(r'role "(.*?)" does not exist', detail):
        hint = _role_hint(dsn, role.group(1))
    elif re.search(r'database ".*?" does not exist', detail):
        hint = f"create it first (createdb {dsn.dbname or 'NAME'}) or fix the database name"
    elif _tls_hint(dsn, lower):
        hint = _tls_hint(dsn, lower)
    elif "timeout expired" in lower:
        seconds, source = connect_timeout(dsn)
        detail += f" (the server did not answer within {seconds}s)"
        hint = ("check the host and port (is a PostgreSQL server listening there?) and what "
                "is in between (firewall, proxy, VPN); for a slow server, raise "
                f"connect_timeout in the URL or PGCONNECT_TIMEOUT ({source}: {seconds}s)")
    elif "connection refused" in lower or "could not translate host" in lower or "timeout" in lower:
        hint = "is the server running and reachable at that host and port?"
    return DatabaseUnavailable(f"cannot connect to {dsn.masked}: {detail}", hint=hint)


def _role_hint(dsn: Dsn, role: str) -> str:
    if dsn.get("user"):
        source = "the user in the connection settings"
    elif os.environ.get("PGUSER"):
        source = "PGUSER"
    else:
        source = "your operating-system user name (libpq's default when no user is set)"
    quoted = '"' + role.replace('"', '""') + '"'
    return (f"there is no role {role!r} on this server (taken from {source}): create it "
            f"(CREATE ROLE {quoted} LOGIN, or createuser {role}), or connect as an existing "
            "role: set the user in the URL (postgresql://USER@host/db) or PGUSER")


def _tls_hint(dsn: Dsn, lower: str) -> str | None:
    root = dsn.get("sslrootcert") or os.environ.get("PGSSLROOTCERT") or "~/.postgresql/root.crt"
    pass_ca = ("pass the CA that issued it: --sslrootcert /path/to/ca.pem, MIG_SSLROOTCERT, "
               "sslrootcert in [mig] or ?sslrootcert= in the URL (your provider publishes its "
               "CA bundle)")
    if "certificate verify failed" in lower:
        if root == "system":
            return ("mig verifies the server of a host that is not local by default, and its "
                    "certificate is not signed by any CA the system trusts (sslrootcert=system):"
                    f" {pass_ca}; to connect without verifying, set sslmode=require explicitly "
                    "(a warning on every run; refused by the production profile)")
        return (f"the server's certificate is not signed by the CA in sslrootcert ({root}): "
                "use the CA that issued it (your provider publishes its CA bundle)")
    if "does not support ssl" in lower:
        return ("the server offers no TLS, and mig requires verified TLS for a host that is not "
                "local: enable TLS on the server; to connect in clear anyway, set "
                "sslmode=disable explicitly (a warning on every run; refused by the production "
                "profile)")
    if "does not match host name" in lower:
        return ("the server's certificate was issued for another host name: connect with a "
                "name the certificate lists, or have it reissued for this one; never switch "
                "off the name check (sslmode=verify-full) to get past this")
    if "no encryption" in lower:
        return ("the server accepts TLS connections only: connect with sslmode=verify-full "
                "and sslrootcert (MIG_SSLMODE, MIG_SSLROOTCERT)")
    if "client certificate" in lower or "certificate authentication failed" in lower:
        return ("the server wants a client certificate for this role: set sslcert and sslkey "
                "(MIG_SSLCERT, MIG_SSLKEY)")
    if "root certificate file" in lower:
        return ("sslrootcert names a file that does not exist: point it at the CA file, or "
                "use sslrootcert=system for the TLS library's trusted roots")
    if "ssl" in lower or "certificate" in lower:
        return "check sslmode, sslrootcert, sslcert and sslkey, and the server's certificate"
    return None
