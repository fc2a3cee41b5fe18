"""The run journal: one line of JSON per finished target, so a rerun continues where a run
stopped.

Where it lives is a choice, argued here: a local file (default
``.mig/fleet/<verb>-<key>.jsonl`` in the project, or ``--journal PATH``) rather than a table
on a catalog database. The journal is never the truth about a target: what each target has
applied is in that target's own records, written in the same transaction as each migration.
A rerun passes a target the journal records as done only after the same one-query check a
no-op run makes (:func:`mig.commands.state.at_head`, or the newest applied migration for a
rollback) proves the target is still where the journal left it; one that moved since (rolled
back by hand, restored from a backup) runs again. So a lost or stale journal never costs a
wrong result. What the journal adds is the outcome of the run being resumed: a rollback is not
done twice, a target is counted as ``done before`` rather than run. A file needs no catalog
(file and pattern fleets have none), no privileges, and no write per target to one shared
database that every worker of every shard would contend on.

Each line is written and flushed as its target finishes, so a killed coordinator loses nothing
that finished; the targets it was working on are simply not in the journal and run again
(mig's per-database guarantees make that safe). A run in which every target succeeded ends with
a ``complete`` line; the next run with the same key then starts afresh instead of resuming.

The key is a hash of the verb, its options, the migrations on disk (ids and checksums) and the
shard: a new release, or a different rollback, is a different run. A record counts for a
target only when both its name and where it points match.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError
from ..records import JsonRecord
from .outcomes import Outcome, Recorded
from .targets import Target


@dataclass(frozen=True)
class Complete(JsonRecord):
    """The last line of a run in which every target succeeded."""

    complete: bool = True


def key(verb: str, options: dict, migrations: list[tuple[str, str]],
        shard: tuple[int, int] | None) -> str:
    """What a journal belongs to: the verb, its options, the migrations and the shard, hashed."""
    text = json.dumps([verb, options, migrations, shard], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Journal:
    """Outcome records of one fleet run, appended to a JSON-lines file."""

    def __init__(self, path: Path, *, restart: bool = False) -> None:
        self.path = path
        self._done: dict[str, Recorded] = {}  # target name -> its success
        self._lock = threading.Lock()
        self.complete = False
        if path.exists() and not restart:
            self._read()
        if self.complete or restart or not path.exists():
            self._done.clear()
            self.complete = False
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        self._file = path.open("a", encoding="utf-8")
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            self._file.write("\n")  # after a line cut short by a kill: start a new one

    def _read(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                # a record cut short by a kill (the next run starts a new line after it);
                # anything else is damage
                if line.startswith('{"'):
                    continue
                raise ConfigError(f"{self.path}:{number}: not a journal record (JSON)",
                                  hint="remove the file, or rerun with --restart") from None
            if record.get("complete"):
                self.complete = True
            elif record.get("ok"):
                self._done[record["target"]] = Recorded.of(record)
            else:
                self._done.pop(record.get("target", ""), None)

    def done(self, target: Target) -> bool:
        """Whether the run being resumed finished ``target`` successfully (as recorded: a rerun
        proves it on the target before passing it, see :meth:`recorded`)."""
        return self.recorded(target) is not None

    def recorded(self, target: Target) -> Recorded | None:
        """The success recorded for ``target``, if its name and where it points both match;
        None otherwise."""
        record = self._done.get(target.name)
        return record if record is not None and record.where == target.where else None

    def record(self, outcome: Outcome | Complete) -> None:
        """Append one target's outcome (its JSON form, with the time)."""
        line = json.dumps({**outcome.to_json(), "at": datetime.now(timezone.utc).isoformat()},
                          default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()  # in the page cache: survives the process being killed

    def finish(self, *, all_ok: bool) -> None:
        """Close the journal, marking it complete when every target succeeded."""
        if all_ok:
            self.record(Complete())
        self._file.close()
