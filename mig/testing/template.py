"""Template databases: built once per content, cloned per test.

A template is named after a hash of everything that decides its contents: the migration files,
the seed files, the options (target migration, seed environment, tracking table) and mig's
version. Unchanged content means the same name, so a persistent server keeps serving the same
template across test sessions, and any edit yields a new one.

Building is guarded by a PostgreSQL advisory lock on the maintenance database, so concurrent
builders (pytest-xdist workers, parallel CI jobs sharing a server) build it once: the first
takes the lock and builds, the others wait for the lock and then find the template ready.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from ..about import VERSION
from ..errors import MigError
from .servers import Server

TEMPLATE_PREFIX = "mig_tpl_"
READY = "mig template ready"
# Advisory locks on the maintenance database: (this class, a key of the template's hash).
_LOCK_CLASS = 0x6D6967  # "mig"
_IGNORED = {"__pycache__", ".git"}
_STRATEGIES = {"FILE_COPY", "WAL_LOG"}

_READY_SQL = """
SELECT datistemplate AND NOT datallowconn
       AND coalesce(shobj_description(oid, 'pg_database'), '') = %s
  FROM pg_database WHERE datname = %s
"""


@dataclass(frozen=True)
class TemplateSpec:
    """What a template holds: which migrations (up to where) and which seeds.

    :param project_dir: the project (folder of ``yoyo.ini``); its settings apply.
    :param sources: the migration folders.
    :param seeds_dir: the seed folder; ``None``: no seeds are loaded.
    :param seed_env: the seed environment loaded on top of ``base`` (``None``: base only).
    :param to: the last migration to apply (``None``: all).
    :param migration_table: yoyo's tracking table, from the project's settings.
    """

    project_dir: Path
    sources: tuple[Path, ...]
    seeds_dir: Path | None = None
    seed_env: str | None = None
    to: str | None = None
    migration_table: str = "_yoyo_migration"

    def seed_files(self) -> list[Path]:
        """The seed files that will be loaded, in order (none without a seed folder)."""
        if self.seeds_dir is None:
            return []
        from ..seeds import fixture_paths

        return fixture_paths(self.seeds_dir, self.seed_env)

    def digest(self) -> str:
        """A hash of the migration files, the seed files and the options."""
        h = hashlib.sha256()
        options = (VERSION, self.to, self.seed_env, self.seeds_dir is not None,
                   self.migration_table)
        h.update(repr(options).encode())
        for folder in self.sources:
            for path in _files(folder):
                _add(h, "migration", path.relative_to(folder), path)
        for path in self.seed_files():
            _add(h, "seed", path.relative_to(self.seeds_dir), path)  # type: ignore[arg-type]
        return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise MigError(f"migration folder {folder} does not exist",
                       hint="check 'sources' in yoyo.ini, or the migrations_dir you passed")
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED and not d.startswith("."))
        found += [Path(root, n) for n in names if not n.startswith(".") and not n.endswith(".pyc")]
    return sorted(found)


def _add(h: hashlib._Hash, kind: str, name: Path, path: Path) -> None:
    data = path.read_bytes()
    h.update(f"\0{kind}\0{name.as_posix()}\0{len(data)}\0".encode())
    h.update(data)


@dataclass(frozen=True)
class Template:
    """A ready template database.

    ``built`` says whether this process built it (``False``: it was found ready, built by
    another worker or an earlier session); ``build_seconds`` is how long that took.
    """

    name: str
    digest: str
    server: Server
    spec: TemplateSpec
    built: bool
    build_seconds: float = 0.0

    @property
    def url(self) -> str:
        """Its URL. A template refuses connections; this is for messages and for mig verbs."""
        return self.server.url(self.name)


def template_name(digest: str) -> str:
    """The template database's name for a content ``digest``."""
    return TEMPLATE_PREFIX + digest[:20]


def _is_ready(cur: cursor, name: str, digest: str) -> bool:
    cur.execute(_READY_SQL, (f"{READY} {digest}", name))
    row = cur.fetchone()
    return bool(row and row[0])


def ensure_template(server: Server, spec: TemplateSpec) -> Template:
    """The template for ``spec`` on ``server``: found ready, or built now under the lock."""
    digest = spec.digest()
    name = template_name(digest)
    conn = server.admin()
    with conn.cursor() as cur:
        if _is_ready(cur, name, digest):  # the common case: one query
            return Template(name, digest, server, spec, built=False)
    # The lock is held on a connection of its own, so that the shared one stays usable and a
    # builder that dies releases the lock with its connection.
    from ..dsn import Dsn
    from ..engine.connect import connect

    lock_conn = connect(Dsn.parse(server.maintenance_url), verb="testing template build")
    key = int(digest[:8], 16) & 0x7FFFFFFF
    try:
        with lock_conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", (_LOCK_CLASS, key))
            if _is_ready(cur, name, digest):
                return Template(name, digest, server, spec, built=False)
            started = time.monotonic()
            drop_database(cur, name)  # what a builder that died left behind
            _create(server, cur, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            try:
                _fill(server.url(name), spec)
                _mark_ready(lock_conn, name, digest)
            except BaseException:
                with lock_conn.cursor() as cleanup:
                    drop_database(cleanup, name)
                raise
            return Template(name, digest, server, spec, built=True,
                            build_seconds=time.monotonic() - started)
    finally:
        lock_conn.close()  # releases the advisory lock


def _fill(url: str, spec: TemplateSpec) -> None:
    """Apply the migrations and load the seeds, the way ``mig apply`` and ``mig seed`` do."""
    from .. import commands, config

    settings = config.resolve(database=url, project_dir=spec.project_dir,
                              sources=list(spec.sources))
    commands.apply(settings, to=spec.to)
    if spec.seeds_dir is not None:
        from ..dsn import Dsn
        from ..engine.connect import connect
        from ..seeds import load_seeds

        conn = connect(Dsn.parse(url), verb="testing seed", autocommit=False)
        try:
            # commits on an idle connection; parsed fixtures come from the project's seed cache
            load_seeds(conn, spec.seeds_dir, spec.seed_env, cache=settings.seed_cache)
        finally:
            conn.close()


def _mark_ready(conn: connection, name: str, digest: str) -> None:
    # Marked only after migrations and seeds are committed, in one transaction: a template
    # is either complete and ready or not ready at all. It refuses connections from now on,
    # since any session connected to a template makes CREATE DATABASE ... TEMPLATE fail.
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(f"{READY} {digest}")))
            cur.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                        .format(sql.Identifier(name)))
        conn.commit()
    finally:
        conn.autocommit = True


def drop_database(cur: cursor, name: str) -> None:
    """Drop ``name`` if it exists, template or not, closing its connections."""
    cur.execute("SELECT datistemplate FROM pg_database WHERE datname = %s", (name,))
    row = cur.fetchone()
    if row is None:
        return
    if row[0]:
        cur.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(
            sql.Identifier(name)))
    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def clone(server: Server, template: str, name: str, conn: connection | None = None) -> None:
    """``CREATE DATABASE name TEMPLATE template``: one statement on ``conn`` (default: the
    process's shared maintenance connection)."""
    conn = server.admin() if conn is None else conn
    text = "CREATE DATABASE {} TEMPLATE {}"
    with conn.cursor() as cur:
        if conn.server_version >= 150000:  # PostgreSQL 13 and 14 have no STRATEGY
            if server.clone_strategy is None:
                server.clone_strategy = _strategy(cur)
            if server.clone_strategy in _STRATEGIES:
                text += f" STRATEGY {server.clone_strategy}"
        _create(server, cur, sql.SQL(text).format(sql.Identifier(name), sql.Identifier(template)))


def _strategy(cur: cursor) -> str:
    """``FILE_COPY`` where durability is off (no WAL written for the copied blocks, and its
    checkpoints cost little without fsync), else ``WAL_LOG``: the faster of the two on each
    (BENCHMARKS.md, the clone rows)."""
    cur.execute("SELECT current_setting('fsync')::bool")
    row = cur.fetchone()
    return "WAL_LOG" if row is None or row[0] else "FILE_COPY"


def _create(server: Server, cur: cursor, statement: sql.Composable) -> None:
    try:
        cur.execute(statement)
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise MigError(
            f"cannot create databases on {server.masked_url()}: {str(exc).strip()}",
            hint="the role of the server URL needs CREATEDB (ALTER ROLE <name> CREATEDB)",
        ) from None
