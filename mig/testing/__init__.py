"""Test databases for projects in mig's layout: the pytest plugin and its building blocks.

The pytest fixtures (``mig_server``, ``mig_template``, ``mig_db``, ``mig_conn``,
``mig_make_db``) come with the package; see ``docs/testing.md``. Outside pytest, a database
stopped after a given migration (``db.url``, ``db.connect()``, ``db.settings()``)::

    import os

    from mig.testing import make_database

    # a server's maintenance database, e.g. postgresql://postgres@localhost:5432/postgres
    server = os.environ["MIG_TEST_URL"]
    with make_database(server, to="20260130_000000_organizations_and_access") as db:
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT to_regclass('roles'), to_regclass('plans')")
            assert cur.fetchone() == ("roles", None)

Names are loaded on first use, so that loading the plugin costs next to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports

if TYPE_CHECKING:
    from .database import Database, make_database, project_spec
    from .servers import Server
    from .template import Template, TemplateSpec, ensure_template

__all__ = [
    "Database",
    "Server",
    "Template",
    "TemplateSpec",
    "ensure_template",
    "make_database",
    "project_spec",
]

_WHERE = {
    "Database": "database",
    "make_database": "database",
    "project_spec": "database",
    "Server": "servers",
    "Template": "template",
    "TemplateSpec": "template",
    "ensure_template": "template",
}


__getattr__, __dir__ = exports(__name__, _WHERE, __all__)
