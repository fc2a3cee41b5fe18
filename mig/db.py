"""Connections: where the database is, opening it, and turning failures into clear errors."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import psycopg2
import psycopg2.extensions

from .config import Settings
from .dsn import Dsn, redact
from .errors import ConfigError, DatabaseUnavailable

EMBEDDED_DBNAME = "mig"


def embedded_server(settings: Settings):  # -> LocalServer (imported lazily: not on the hot path)
    from .server import LocalServer

    return LocalServer(settings.embedded_dir / "pgdata")


def _ensure_database(url: str, dbname: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone() is None:
                # another process may create it first
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        conn.close()


def resolve_dsn(settings: Settings, *, start: bool = True) -> Dsn:
    """The DSN to connect to: the configured one, or the embedded server's (started if needed)."""
    if settings.database is not None:
        dsn = settings.database
    else:
        server = embedded_server(settings)
        if not server.is_running():
            if not start:
                raise DatabaseUnavailable("the embedded server is not running")
            server.start()
        _ensure_database(server.url(), EMBEDDED_DBNAME)
        dsn = Dsn.parse(server.url(EMBEDDED_DBNAME))
    if settings.password_file is not None and dsn.password is None:
        dsn = dsn.with_params(password=_read_password_file(settings.password_file))
    return dsn


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
    dsn: Dsn, *, verb: str = "run", autocommit: bool = True
) -> psycopg2.extensions.connection:
    """Open a connection; failures become :class:`DatabaseUnavailable` with a fix-it hint."""
    try:
        conn = psycopg2.connect(dsn.raw, application_name=application_name(verb))
    except psycopg2.OperationalError as exc:
        raise connection_error(dsn, exc) from None
    conn.autocommit = True
    if conn.server_version >= 140000:
        # Notice a dead client even during a long statement, so that its transaction rolls
        # back and its advisory lock goes with it at once (PostgreSQL 14+).
        with conn.cursor() as cur:
            cur.execute("SET client_connection_check_interval = '1s'")
    conn.autocommit = autocommit
    return conn


def connection_error(dsn: Dsn, exc: Exception) -> DatabaseUnavailable:
    detail = " ".join(str(exc).split())
    detail = redact(detail, *dsn.secrets, os.environ.get("PGPASSWORD"))
    lower = detail.lower()
    hint = None
    if "password authentication failed" in lower or "no password supplied" in lower:
        hint = (
            "check the user and password (in the URL, PGPASSWORD, ~/.pgpass or "
            "MIG_DATABASE_PASSWORD_FILE)"
        )
    elif _tls_hint(dsn, lower):
        hint = _tls_hint(dsn, lower)
    elif "does not exist" in lower and "database" in lower:
        hint = f"create it first (createdb {dsn.dbname or 'NAME'}) or fix the database name"
    elif "connection refused" in lower or "could not translate host" in lower or "timeout" in lower:
        hint = "is the server running and reachable at that host and port?"
    return DatabaseUnavailable(f"cannot connect to {dsn.masked}: {detail}", hint=hint)


def _tls_hint(dsn: Dsn, lower: str) -> str | None:
    root = dsn.get("sslrootcert") or os.environ.get("PGSSLROOTCERT") or "~/.postgresql/root.crt"
    if "certificate verify failed" in lower:
        return (f"the server's certificate is not signed by the CA in sslrootcert ({root}): "
                "use the CA that issued it (your provider publishes its CA bundle)")
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
