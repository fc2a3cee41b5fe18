"""Where a server mig runs lives, and as whom it runs, when mig runs as root.

PostgreSQL refuses to run as root, so as root the server runs as an unprivileged system user
(``embedded_postgres``, its own group and no other) that owns the data folder. mig never
changes the permissions of a folder it did not create: where that user cannot enter a folder on
the way to the data folder (a project in root's home), the data lives in
``/var/lib/mig/servers/<name>-<hash of the path>`` instead; where it cannot reach the
binaries (a Python installed in root's home), they are copied once to ``/var/lib/mig/postgres``.

As any other user every function here leaves things where they were asked for: the server runs
as mig's own user, in the folders it was given.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ServerError

SYSTEM_USER = "embedded_postgres"
# Where mig keeps, as root, what the server's user could not reach where it was asked for.
ROOT_STATE = Path("/var/lib/mig")


def as_root() -> bool:
    """Whether mig runs as root (and so the server as :data:`SYSTEM_USER`)."""
    return os.geteuid() == 0


def system_user() -> pwd.struct_passwd:
    """The unprivileged user the server runs as under root, created on first use.

    Many mig processes may start at once on a fresh machine: one creates the user under a file
    lock, the others wait for it and find it (``useradd`` itself refuses a second creator).
    """
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    # in a folder of root's (not /tmp, where another user could hold the lock forever)
    lock = mig_folder(ROOT_STATE) / ".useradd.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            pass
        done = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
             "/nonexistent", "-s", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True, text=True)
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise ServerError(
                f"cannot create the system user {SYSTEM_USER!r} the server runs as under root: "
                + (done.stderr.strip() or f"useradd exited {done.returncode}"),
                hint=f"create it yourself (useradd --system {SYSTEM_USER}), or run mig as an "
                "ordinary user") from None
    finally:
        os.close(fd)


def server_user() -> pwd.struct_passwd | None:
    """The user the server's programs run as: :func:`system_user` as root, else ``None``
    (mig's own user)."""
    return system_user() if as_root() else None


def give_to_server_user(*paths: Path) -> None:
    """As root, make the server's user the owner of ``paths`` (not of what they hold)."""
    user = server_user()
    if user is not None:
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid)


def _blocked_for(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first folder on the way to ``path`` (included) that ``user``, with its own group
    only, may not enter; ``None`` when it may enter them all. Folders that do not exist yet
    are mig's to create, and so not in the way."""
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except FileNotFoundError:
            return None
        if info.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid == user.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return None


def _readable_for(tree: Path, user: pwd.struct_passwd) -> bool:
    """Whether ``user`` can run ``tree/bin/postgres`` and read the installation."""
    if _blocked_for(tree / "bin", user) is not None:
        return False
    for path in (tree / "bin" / "postgres", tree / "bin" / "initdb", tree / "bin" / "pg_ctl"):
        info = path.stat()
        other = info.st_uid != user.pw_uid and info.st_gid != user.pw_gid
        if other and info.st_mode & 0o005 != 0o005:
            return False
    return True


def _slug(path: Path) -> str:
    """A folder name for ``path`` elsewhere: its last name and a hash of the whole of it."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return f"{path.name[:40]}-{digest}"


def mig_folder(path: Path, mode: int = 0o711) -> Path:
    """Create ``path`` (and its missing parents) with ``mode``: folders mig creates as root
    are entered, not listed, by the server's user."""
    missing = [p for p in [*reversed(path.parents), path] if not p.exists()]
    for folder in missing:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=mode)
            folder.chmod(mode)  # whatever the umask says
    return path


def server_parent(path: Path) -> Path:
    """Create ``path``, the folder that holds a data folder, and its missing parents: the
    owner's alone; as root, entered (not listed) by the server's user, which must pass through
    them to the data folder."""
    return mig_folder(path, 0o711 if as_root() else 0o700)


def adopt_orphaned(datadir: Path) -> None:
    """As root, give the server's user a data folder whose owner no longer exists: the system
    user was deleted and created again with another id (PostgreSQL refuses a data folder it
    does not own). A folder of another existing user is left alone (PostgreSQL says so)."""
    user = server_user()
    if user is None:
        return
    owner = datadir.stat().st_uid
    if owner == user.pw_uid:
        return
    try:
        pwd.getpwuid(owner)
        return
    except KeyError:
        pass
    for root, dirs, files in os.walk(datadir):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def reachable_bindir(bindir: Path) -> Path:
    """``bindir``, or as root a copy of its installation that the server's user can run.

    A Python installed in root's home (pyenv) keeps the embedded binaries in a folder closed to
    other users. mig does not open that folder: it copies the installation (``bin``, ``lib``,
    ``share``; ~40 MB) once to ``/var/lib/mig/postgres/`` and uses the copy.
    """
    tree = bindir.parent
    if not as_root() or _readable_for(tree, system_user()):
        return bindir
    if not all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
        return bindir  # nobody can run them: running says so
    if not (tree / "share").is_dir():
        raise ServerError(
            f"the server's user {SYSTEM_USER!r} cannot run the PostgreSQL binaries in {bindir}",
            hint="install PostgreSQL where other users may enter and read it")
    version = int((tree / "bin" / "postgres").stat().st_mtime)
    copy = ROOT_STATE / "postgres" / f"{_slug(tree.resolve())}-{version}"
    # the wheel's binaries find their shared libraries at $ORIGIN/../../../<package>.libs
    package = tree.resolve().parent
    bindir_copy = copy / package.name / tree.name / "bin"
    if (bindir_copy / "postgres").exists():
        return bindir_copy
    mig_folder(copy.parent)
    with open(copy.parent / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if not (bindir_copy / "postgres").exists():
            _copy_installation(tree, package, copy)
    return bindir_copy


def _copy_installation(tree: Path, package: Path, copy: Path) -> None:
    """Copy the installation ``tree`` of ``package`` (and the package's shared libraries) to
    ``copy``, readable by all, appearing there complete or not at all."""
    staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=copy.parent))
    shutil.copytree(tree, staging / package.name / tree.name, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, staging / libs.name, symlinks=True)
    for root, dirs, files in os.walk(staging):  # mig's own copy: readable by all
        for name in dirs:
            Path(root, name).chmod(0o755)
        for name in files:
            path = Path(root, name)
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & 0o100 else 0o644)
    staging.chmod(0o755)
    staging.rename(copy)


def reachable_datadir(datadir: Path) -> Path:
    """``datadir``, or as root the folder that stands for it where the server's user can
    reach it: ``/var/lib/mig/servers/<name>-<hash>``, the same for the same ``datadir``."""
    if not as_root() or _blocked_for(datadir.parent, system_user()) is None:
        return datadir
    return ROOT_STATE / "servers" / _slug(datadir) / datadir.name


@dataclass(frozen=True)
class Relocated:
    """A server's data kept in ``/var/lib/mig/servers`` (as root) for a data folder asked for
    where the server's user could not reach it."""

    folder: Path  # /var/lib/mig/servers/<name>-<hash>: the data folder, its log, lock, origin
    requested: Path  # the data folder asked for (the origin file's), e.g. <project>/.mig/pgdata

    @property
    def datadir(self) -> Path:
        """The data folder itself."""
        return self.folder / self.requested.name

    @property
    def orphaned(self) -> bool:
        """Whether the project the data belongs to is gone: the folder that held the data
        folder's (``<project>`` of ``<project>/.mig/pgdata``; mig does not create ``.mig``
        there when the data lives here) no longer exists."""
        return not self.requested.parent.parent.exists()


def relocated() -> list[Relocated]:
    """The servers' data kept in ``/var/lib/mig/servers`` (as root), each with the data folder
    asked for (its ``origin`` file)."""
    found = []
    for origin in sorted((ROOT_STATE / "servers").glob("*/origin")):
        with contextlib.suppress(OSError):
            found.append(Relocated(origin.parent, Path(origin.read_text().strip())))
    return found


def relocated_servers() -> list[Path]:
    """The data folders asked for whose data lives in ``/var/lib/mig/servers`` (as root)."""
    return [r.requested for r in relocated()]


def scratch_folder(prefix: str = "mig-") -> Path:
    """A new empty folder for a throw-away server that the server's user can reach (as root,
    a folder of the temporary folder that mig creates, mode 0711)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if as_root():
        folder.chmod(0o711)
    return folder
