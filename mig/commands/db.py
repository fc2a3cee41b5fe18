"""Verbs about the database mig works on: its URL, the embedded default server, and new
databases cloned from a template at head."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings
from ..engine.connect import open_database
from ..engine.connect import target as _target
from ..errors import NeedsConfirmation, Refused
from ..reports import Target

if TYPE_CHECKING:
    from ..orphans import Swept


def database_url(settings: Settings) -> str:
    """The URL of the database mig works on, e.g. for psql: the configured one with its password
    masked, or the embedded default's (its server started and database created if needed)."""
    return open_database(settings).masked  # the embedded server's has no password to mask


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded default server; its data stays. False when it was not running."""
    from ..engine.connect import embedded_server

    return embedded_server(settings).stop()


@dataclass(frozen=True)
class EmbeddedState:
    """The embedded default server of a project: whether it runs, where its data is, the
    PostgreSQL major version of that data, the binaries it runs, and its database's URL
    (while it runs)."""

    running: bool
    data: str
    version: str | None
    binaries: str
    url: str | None

    def to_json(self) -> dict:
        """The state as --json prints it."""
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        """The state as ``mig db status`` prints it."""
        if self.version is None:
            return [f"the embedded server has no data yet ({self.data}); 'mig db start' or"
                    " any command that needs the database creates it"]
        state = f"running: {self.url}" if self.running else "not running"
        return [f"embedded server: {state}",
                f"data: {self.data} (PostgreSQL {self.version})",
                f"binaries: {self.binaries}"]


def _embedded_only(settings: Settings, verb: str) -> None:
    """Refuse ``verb`` when a database is configured: it is about the embedded server only."""
    if settings.database is not None:
        raise Refused(
            f"mig db {verb} is about the embedded server, and a database is configured "
            f"({settings.database.masked}, from {settings.database_source})",
            hint=f"unset it (--database, MIG_DATABASE_URL, DATABASE_URL, yoyo.ini) to {verb} "
            "the embedded server; a configured database is managed by its own server")


def embedded_state(settings: Settings) -> EmbeddedState:
    """The embedded server's state, without starting it.

    :raises Refused: a database is configured (this is about the embedded server only).
    """
    from ..engine.connect import EMBEDDED_DBNAME, embedded_dsn, embedded_server

    _embedded_only(settings, "status")
    server = embedded_server(settings)
    version_file = server.datadir / "PG_VERSION"
    version = version_file.read_text().strip() if version_file.exists() else None
    running = version is not None and server.is_running()
    return EmbeddedState(running, str(server.datadir), version, str(server.bindir),
                         embedded_dsn(server, EMBEDDED_DBNAME).masked if running else None)


def start_embedded(settings: Settings) -> EmbeddedState:
    """Start the embedded server (creating its data and its database the first time) and
    return its state; nothing happens to a server that runs already.

    :raises Refused: a database is configured.
    :raises DataVersionMismatch: the data was made by another major version than the
        binaries' (``server_bin``).
    """
    _embedded_only(settings, "start")
    open_database(settings)
    return embedded_state(settings)


def reset_embedded(settings: Settings, *, yes: bool = False) -> EmbeddedState:
    """Drop the embedded server's database and create it empty again (the server started if
    needed): everything in it is lost, the server's data folder and settings stay. Any session
    still connected to it is ended.

    :param yes: the confirmation; without it nothing happens.
    :raises Refused: a database is configured (a configured database is never reset).
    :raises NeedsConfirmation: without ``yes``.
    """
    from psycopg2 import sql

    from ..engine.connect import EMBEDDED_DBNAME, connect, embedded_dsn, embedded_server

    _embedded_only(settings, "reset")
    if not yes:
        raise NeedsConfirmation(
            "mig db reset drops the embedded server's database, and everything in it",
            hint="run 'mig db reset --yes' to do it (pg_dump what you want to keep first)")
    open_database(settings)  # started, so that its database can be dropped
    server = embedded_server(settings)
    conn = connect(embedded_dsn(server, "postgres"), verb="db reset")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(EMBEDDED_DBNAME)))
    finally:
        conn.close()
    open_database(settings)  # created again, as on first use
    return embedded_state(settings)


def prune_servers() -> list[Swept]:
    """Remove the server data that, as root, mig kept in ``/var/lib/mig/servers`` for projects
    whose folder is gone (a CI job's temporary checkout), stopping such a server first when it
    still runs. Commands that start a server do this by themselves before starting one.

    :returns: what was removed (folder, the data folder it stood for, bytes freed, whether its
        server ran); empty when not root, or when nothing is left over.
    :raises ServerError: a server that still runs could not be stopped.
    """
    from ..orphans import sweep_orphaned

    return sweep_orphaned()


def remove_embedded(settings: Settings) -> str | None:
    """Stop the embedded default server and delete its data (everything in it is lost), e.g.
    to start anew with other binaries (``server_bin``). Returns the data folder removed, or
    ``None`` when there was none."""
    from ..engine.connect import embedded_server

    server = embedded_server(settings)
    if not server.datadir.exists():
        return None
    server.destroy()
    return str(server.datadir)


def target(settings: Settings) -> Target:
    """Which database a command with these settings acts on, without connecting: ``url``
    (password masked; for the embedded server, once it runs), ``source`` and
    ``embedded_data`` (its data folder), with ``describe()`` and ``to_json()``. The CLI
    says it before every command that changes a database (:func:`describe`), and puts it in
    their ``--json`` output as ``database``."""
    return _target(settings)


def describe(settings: Settings) -> str:
    """:func:`target` as one line: ``postgresql://u:***@db/app (from MIG_DATABASE_URL)``, or
    ``embedded server, data in /project/.mig/pgdata``."""
    return _target(settings).describe()


@dataclass(frozen=True)
class CreatedDatabase:
    """A database :func:`create_database` cloned: its name and URL (password masked), the
    template, the newest migration both are at, and how long the clone took."""

    name: str
    url: str
    template: str
    version: str | None
    ms: int

    def to_json(self) -> dict:
        """The result as --json prints it."""
        return dataclasses.asdict(self)


def check_template(settings: Settings, template: str) -> str | None:
    """Prove that database ``template`` (on the server of ``settings``) is at head: every
    migration on disk applied with its file's checksum, nothing unfinished
    (:func:`mig.commands.state.at_head`). Returns the newest migration it is at.

    :raises TemplateNotAtHead: it is not; the message names what is pending, edited or
        unfinished, and the command that brings it to head.
    :raises DatabaseUnavailable: it cannot be reached (or does not exist).
    """
    from ..disk import scripts as scripts_mod
    from ..errors import TemplateNotAtHead
    from .state import at_head, status

    server = open_database(settings)
    at_template = dataclasses.replace(settings, database=server.with_params(dbname=template),
                                      database_source="template", password_file=None)
    scripts, _ = scripts_mod.scan(settings.sources)
    head = at_head(at_template, scripts)
    if head is not None:
        return head.version
    report = status(at_template)
    raise TemplateNotAtHead(
        template, pending=[m.id for m in report.pending],
        edited=[m.id for m in report.edited], partial=[m.id for m in report.partial],
        where=at_template.database.masked if at_template.database else template)


def create_database(settings: Settings, name: str, *, template: str,
                    checked: str | None = None) -> CreatedDatabase:
    """Create database ``name`` as a clone of database ``template`` (``CREATE DATABASE ...
    TEMPLATE``), both on the server of ``settings`` (its database is where mig connects to
    create it; ``postgres`` when that is the template or ``name``). A tenant cloned from a
    migrated, seeded template at head costs a file copy instead of the whole history: its
    migration records are the template's, so ``mig status`` on it shows every migration
    applied with the same checksums.

    The template is proven at head first (:func:`check_template`), and the clone after; a
    clone that is not at head is dropped again. Nothing is left half-created.

    :param checked: the template's newest migration, when the caller has just proven it at
        head (a fleet checks each template once, not once per clone: the check is a session
        on the template, which keeps the other clones from copying it).
    :raises TemplateNotAtHead: the template is behind, edited or unfinished.
    :raises TemplateBusy: other sessions are connected to the template, each named.
    :raises DatabaseExists: ``name`` exists already (it is left as it is).
    :raises DatabaseUnavailable: the server refused (no CREATEDB, template not copyable).
    """
    from ..engine import clone
    from ..errors import MigError
    from .state import at_head

    version = checked if checked is not None else check_template(settings, template)
    server = open_database(settings)
    started = time.monotonic()
    clone.clone(server, name, template)
    ms = int((time.monotonic() - started) * 1000)
    created = server.with_params(dbname=name)
    try:
        from ..disk import scripts as scripts_mod

        scripts, _ = scripts_mod.scan(settings.sources)
        head = at_head(dataclasses.replace(settings, database=created,
                                           database_source="clone", password_file=None),
                       scripts)
        if head is None:
            raise MigError(
                f"database {name}, cloned from {template}, is not at the newest migration "
                "(the template changed while it was copied); it was dropped again",
                hint="check the template with 'mig status' and create the database again")
    except BaseException:
        clone.drop(server, name)
        raise
    return CreatedDatabase(name, created.masked, template, head.version or version, ms)
    return _target(settings).describe()
