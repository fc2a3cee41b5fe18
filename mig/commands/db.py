"""Verbs about the database mig works on: its URL, and the embedded default server."""

from __future__ import annotations

from ..config import Settings
from ..engine.connect import open_database


def database_url(settings: Settings) -> str:
    """The URL of the database mig works on, e.g. for psql: the configured one with its password
    masked, or the embedded default's (its server started and database created if needed)."""
    return open_database(settings).masked  # the embedded server's has no password to mask


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded default server; its data stays. False when it was not running."""
    from ..engine.connect import embedded_server

    return embedded_server(settings).stop()
