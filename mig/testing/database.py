"""Test databases cloned from a template, and the factory for custom ones."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MigError
from .servers import Server, existing
from .template import Template, TemplateSpec, clone, drop_database, ensure_template

if TYPE_CHECKING:
    from psycopg2.extensions import connection

    from ..config import Settings

DATABASE_PREFIX = "mig_test_"


def database_name(label: str = "") -> str:
    """A new database name: ``mig_test_<label>_<random>``, within PostgreSQL's 63 bytes."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:36]
    return f"{DATABASE_PREFIX}{slug + '_' if slug else ''}{uuid.uuid4().hex[:10]}"


class Database:
    """A database of its own for a test, cloned from a template.

    :ivar name: the database name (``mig_test_...``).
    :ivar url: its URL (with the password, if the server has one: for connecting, not printing).
    :ivar masked_url: the URL with the password masked: for messages.
    :ivar template: the :class:`~mig.testing.template.Template` it was cloned from.
    :ivar keep: set when its test failed; the plugin then leaves it on the server.
    """

    def __init__(self, server: Server, name: str, template: Template) -> None:
        self.server = server
        self.name = name
        self.template = template
        self.keep = False
        self._conns: list = []

    @property
    def url(self) -> str:
        """The database's URL (with the server's password, for connecting)."""
        return self.server.url(self.name)

    @property
    def masked_url(self) -> str:
        """The database's URL with the password masked, for messages."""
        return self.server.masked_url(self.name)

    def connect(self, **kwargs: Any) -> connection:
        """A new psycopg2 connection to this database, closed when the database is dropped.

        Keyword arguments go to :func:`psycopg2.connect` (e.g. ``cursor_factory``).
        """
        import psycopg2

        conn = psycopg2.connect(self.url, **kwargs)
        self._conns.append(conn)
        return conn

    def settings(self, **options: Any) -> Settings:
        """mig :class:`~mig.config.Settings` for this database and its template's migrations.

        For running mig's verbs on it, e.g. ``commands.apply(db.settings())`` in a test of a
        migration. ``options`` go to :func:`mig.config.resolve`.
        """
        from .. import config

        spec = self.template.spec
        return config.resolve(database=self.url, project_dir=spec.project_dir,
                              sources=list(spec.sources), **options)

    def close_connections(self) -> None:
        """Close the connections opened with :meth:`connect`."""
        for conn in self._conns:
            if not conn.closed:
                conn.close()
        self._conns.clear()

    def drop(self) -> None:
        """Close the connections opened with :meth:`connect` and drop the database."""
        self.close_connections()
        with self.server.admin().cursor() as cur:
            drop_database(cur, self.name)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def __repr__(self) -> str:
        return f"<mig test database {self.masked_url}>"


def project_spec(
    project_dir: str | os.PathLike[str] | None = None,
    *,
    migrations_dir: str | os.PathLike[str] | None = None,
    seeds_dir: str | os.PathLike[str] | None = None,
    seed: bool | None = None,
    seed_env: str | None = None,
    to: str | None = None,
) -> TemplateSpec:
    """The template of a project in mig's layout (``yoyo.ini``, ``migrations/``, ``seeds/``).

    :param project_dir: the project's folder (its ``yoyo.ini``, if any, is read); default: the
        parent of ``migrations_dir`` when that is given, else the folder of the ``yoyo.ini``
        found from the working folder up.
    :param migrations_dir: another migrations folder instead of the project's sources.
    :param seeds_dir: another seed folder instead of the project's (``[mig] seeds``).
    :param seed: load seeds; default: yes when the seed folder exists and ``to`` is not given
        (seeds are written for the newest schema).
    :param seed_env: the seed environment loaded on top of ``base``.
    :param to: stop at this migration (its id, the file name without extension).
    """
    from .. import config

    if project_dir is not None or migrations_dir is not None:
        # an explicit folder: its own yoyo.ini or none, never one found further up
        folder = project_dir if project_dir is not None else Path(str(migrations_dir)).parent
        root = Path(folder).absolute()
        ini = root / "yoyo.ini" if (root / "yoyo.ini").is_file() else None
    else:
        ini = config.find_config()
        root = ini.parent if ini is not None else Path.cwd().absolute()
    if ini is not None:
        settings = config.resolve(project_dir=root, config_file=ini,
                                  sources=[Path(migrations_dir)] if migrations_dir else None)
        sources, default_seeds = settings.sources, settings.seeds_dir
        table = settings.migration_table
    else:
        sources = (Path(migrations_dir or root / "migrations").absolute(),)
        default_seeds, table = root / "seeds", "_yoyo_migration"
    seeds = Path(seeds_dir).absolute() if seeds_dir is not None else default_seeds
    if seed is None:
        seed = to is None and (seeds.is_dir() or seed_env is not None)
    if seed and not seeds.is_dir():
        raise MigError(f"seed folder {seeds} does not exist",
                       hint="pass seeds_dir=, set [mig] seeds in yoyo.ini, or seed=False")
    return TemplateSpec(
        project_dir=root,
        sources=sources,
        seeds_dir=seeds if seed else None,
        seed_env=seed_env if seed else None,
        to=to,
        migration_table=table,
    )


def clone_database(server: Server, template: Template, label: str = "") -> Database:
    """A new database cloned from ``template``; the caller drops it (or uses ``with``)."""
    name = database_name(label)
    clone(server, template.name, name)
    return Database(server, name, template)


def make_database(
    server: Server | str,
    *,
    project_dir: str | os.PathLike[str] | None = None,
    migrations_dir: str | os.PathLike[str] | None = None,
    seeds_dir: str | os.PathLike[str] | None = None,
    seed: bool | None = None,
    seed_env: str | None = None,
    to: str | None = None,
    label: str = "",
) -> Database:
    """A database migrated (up to ``to``) and seeded as asked, cloned from a cached template.

    The template for these options is built on first use (or found ready on the server) and
    reused; the returned database is the caller's to drop: ``with make_database(...) as db:``.

    :param server: the ``mig_server`` fixture's value, or the URL of a server's maintenance
        database (mig creates and drops only ``mig_``-prefixed databases there).
    :param label: put in the database name, to recognise it (e.g. the test's name).
    Other parameters as in :func:`project_spec`.
    :raises MigError: a migration or a seed failed (nothing is left half-built), or the
        server cannot be reached.
    """
    if isinstance(server, str):
        server = existing(server)
    spec = project_spec(project_dir, migrations_dir=migrations_dir, seeds_dir=seeds_dir,
                        seed=seed, seed_env=seed_env, to=to)
    return clone_database(server, ensure_template(server, spec), label)
