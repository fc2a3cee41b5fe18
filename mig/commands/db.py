"""Verbs about the database mig works on: its URL, and the embedded default server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import Settings
from ..engine.connect import open_database
from ..engine.connect import target as _target
from ..reports import Target

if TYPE_CHECKING:
    from ..server import Swept


def database_url(settings: Settings) -> str:
    """The URL of the database mig works on, e.g. for psql: the configured one with its password
    masked, or the embedded default's (its server started and database created if needed)."""
    return open_database(settings).masked  # the embedded server's has no password to mask


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded default server; its data stays. False when it was not running."""
    from ..engine.connect import embedded_server

    return embedded_server(settings).stop()


def prune_servers() -> list[Swept]:
    """Remove the server data that, as root, mig kept in ``/var/lib/mig/servers`` for projects
    whose folder is gone (a CI job's temporary checkout), stopping such a server first when it
    still runs. Commands that start a server do this by themselves before starting one.

    :returns: what was removed (folder, the data folder it stood for, bytes freed, whether its
        server ran); empty when not root, or when nothing is left over.
    :raises ServerError: a server that still runs could not be stopped.
    """
    from ..server import sweep_orphaned

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
