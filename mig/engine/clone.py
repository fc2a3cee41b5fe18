"""New databases cloned from a template database of the same server (``CREATE DATABASE ...
TEMPLATE``): what ``mig db create --from-template`` and ``mig apply --fleet --from-template``
run.

PostgreSQL copies the template's files as they are, so the clone holds the template's schema,
rows and migration records exactly; it refuses while any other session is connected to the
template (waiting up to five seconds for sessions that are ending). The statement is atomic: a
failed one leaves no database behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection

from ..dsn import Dsn
from ..errors import DatabaseExists, DatabaseUnavailable, TemplateBusy
from .connect import connect


@dataclass(frozen=True)
class Session:
    """A session connected to a database: who, from where, running what."""

    pid: int
    user: str | None
    application: str | None
    client: str | None

    def __str__(self) -> str:
        parts = [f"pid {self.pid}", f"user {self.user or '?'}"]
        if self.application:
            parts.append(f"application {self.application!r}")
        parts.append(f"from {self.client or 'a local socket'}")
        return ", ".join(parts)


def maintenance_dsn(server: Dsn, *avoid: str) -> Dsn:
    """Where to connect to create a database on ``server``'s server: its own database, unless
    it is one of ``avoid`` (the template, the new database), else ``postgres``."""
    if server.dbname and server.dbname not in avoid:
        return server
    return server.with_params(dbname="postgres")


def database_exists(conn: connection, name: str) -> bool:
    """Whether the server has a database ``name``."""
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)", (name,))
        row = cur.fetchone()
    return bool(row and row[0])


def sessions_on(conn: connection, database: str) -> list[Session]:
    """The sessions connected to ``database`` other than ``conn``'s own."""
    with conn.cursor() as cur:
        cur.execute("SELECT pid, usename, application_name, client_addr::text"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                    " ORDER BY pid", (database,))
        return [Session(int(pid), user, app or None, client)
                for pid, user, app, client in cur.fetchall()]


def clone(server: Dsn, name: str, template: str) -> None:
    """``CREATE DATABASE name TEMPLATE template`` on ``server``'s server.

    :raises DatabaseExists: ``name`` exists already (it is left as it is).
    :raises TemplateBusy: other sessions are connected to ``template`` (each named).
    :raises DatabaseUnavailable: the server cannot be reached, or refused (no CREATEDB, not
        allowed to copy ``template``); nothing was created.
    """
    conn = connect(maintenance_dsn(server, name, template), verb="db create")
    try:
        if database_exists(conn, name):
            raise DatabaseExists(name, where=server.masked)
        with conn.cursor() as cur:
            try:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)))
            except psycopg2.errors.ObjectInUse:
                raise TemplateBusy(template, sessions_on(conn, template)) from None
            except psycopg2.errors.DuplicateDatabase:
                raise DatabaseExists(name, where=server.masked) from None
            except psycopg2.Error as exc:
                text = " ".join(str(exc).split())
                hint = None
                if isinstance(exc, psycopg2.errors.InsufficientPrivilege):
                    hint = ("the role needs CREATEDB, and to own the template or the template "
                            f"marked as one: ALTER DATABASE \"{template}\" IS_TEMPLATE true")
                elif isinstance(exc, psycopg2.errors.InvalidCatalogName):
                    hint = f"create the template first: a database \"{template}\" at head"
                raise DatabaseUnavailable(
                    f"cannot create database {name} from template {template} on "
                    f"{server.masked}: {server.redact(text)}", hint=hint) from None
    finally:
        conn.close()


def drop(server: Dsn, name: str) -> None:
    """Drop ``name`` (created by :func:`clone`), its sessions ended."""
    conn = connect(maintenance_dsn(server, name), verb="db create")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    finally:
        conn.close()
