"""Server data that mig kept, as root, in ``/var/lib/mig/servers`` (:mod:`mig.placement`) for a
project folder that no longer exists: found and removed, its server stopped first
(``mig db prune``, and every start of an embedded server as root)."""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import ServerError
from .placement import relocated
from .server import LocalServer


@dataclass(frozen=True)
class Swept:
    """Server data removed from ``/var/lib/mig/servers`` because its project is gone."""

    folder: Path  # what was removed
    requested: Path  # the data folder it stood for
    size: int  # bytes freed
    was_running: bool  # its server was running, and was stopped


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def sweep_orphaned() -> list[Swept]:
    """Remove the server data kept in ``/var/lib/mig/servers`` (as root, see
    :mod:`mig.placement`) whose project folder no longer exists, stopping its server first
    when it still runs. As any other user there is none, and nothing is done."""
    swept = []
    for found in relocated():
        if not found.orphaned:
            continue
        try:  # the binaries of its running server, else the embedded package's
            server = LocalServer(found.datadir)
        except ServerError:  # neither: no server runs there, and none is needed to remove it
            server = LocalServer(found.datadir, bindir=found.datadir)
        running = server.is_running()
        if running:
            server.stop(mode="immediate")  # its data is removed next: no need to be clean
        size = _size(found.folder)
        with server.locked():
            shutil.rmtree(found.folder, ignore_errors=True)
        if not found.folder.exists():
            swept.append(Swept(found.folder, found.requested, size, running))
    return swept
