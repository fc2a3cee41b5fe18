"""Verbs about the database mig works on: its URL, and the embedded default server."""

from __future__ import annotations

from ..config import Settings
from ..engine.connect import describe_target, open_database
from ..engine.connect import target as _target


def database_url(settings: Settings) -> str:
    """The URL of the database mig works on, e.g. for psql: the configured one with its password
    masked, or the embedded default's (its server started and database created if needed)."""
    return open_database(settings).masked  # the embedded server's has no password to mask


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded default server; its data stays. False when it was not running."""
    from ..engine.connect import embedded_server

    return embedded_server(settings).stop()


def target(settings: Settings) -> dict[str, str | None]:
    """Which database a command with these settings acts on, without connecting: ``url``
    (password masked; for the embedded server, once it runs), ``source`` and
    ``embedded_data`` (its data folder). The CLI says it before every command that changes a
    database (:func:`describe`), and puts it in their ``--json`` output as ``database``."""
    return _target(settings)


def describe(settings: Settings) -> str:
    """:func:`target` as one line: ``postgresql://u:***@db/app (from MIG_DATABASE_URL)``, or
    ``embedded server, data in /project/.mig/pgdata``."""
    return describe_target(_target(settings))
