"""The history lock file: every migration's id and checksum, committed with the migrations.

``mig.sum`` in the first migrations folder lists the migrations in order, one ``<id> <checksum>``
line each (the checksum ``mig status`` records: sha256 of the file and its rollback, line
endings normalised), under a ``sum`` line hashing all of them, in the spirit of Atlas's
``atlas.sum``. Two branches that each add a migration both change the ``sum`` line and both
append at the end of the file, so git reports a merge conflict instead of merging two
histories silently. ``mig new`` appends to the file, ``mig hash`` rewrites it from the files
on disk, and ``mig lint`` checks it (:func:`check`). Neither command writes over a file with
conflict markers: its entries are what a new migration's order is checked against.

The file is not named like a migration: mig counts only names starting with a digit, and
plain ``yoyo`` every ``.py``/``.sql`` file, so ``mig.sum`` is neither's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MigError
from .scripts import Script

FILE_NAME = "mig.sum"

_HEADER = (
    "# The migration history, checked by 'mig lint'; written by 'mig new' and 'mig hash'.\n"
    "# Do not edit by hand. On a merge conflict here, see docs/lint.md (\"the lock file\").\n"
)
_ENTRY = re.compile(r"^(\S+) ([0-9a-f]{64})$")
_SUM = re.compile(r"^sum ([0-9a-f]{64})$")
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})( |$)")


def path_for(sources: Sequence[Path]) -> Path:
    """Where the lock file of these migration folders lives: in the first folder."""
    if not sources:
        raise MigError("no migrations folder is configured", hint="set 'sources' in yoyo.ini")
    return Path(sources[0]) / FILE_NAME


@dataclass(frozen=True)
class Entry:
    """One line of the lock file: a migration's id and checksum."""

    id: str
    checksum: str
    line: int = 0  # where it was read, 0 for a new entry


@dataclass
class Problem:
    """One thing wrong with the history: ``rule``, the file and line it is about, the message."""

    rule: str
    path: Path
    line: int
    message: str
    hint: str | None = None


@dataclass
class SumFile:
    """A lock file as read: its entries in order, and what could not be read."""

    path: Path
    exists: bool
    entries: list[Entry] = field(default_factory=list)
    total: str | None = None
    total_line: int = 0
    problems: list[Problem] = field(default_factory=list)
    conflict_lines: list[int] = field(default_factory=list)  # git's conflict markers

    @property
    def ids(self) -> list[str]:
        """The listed migration ids, in order."""
        return [e.id for e in self.entries]

    @property
    def unreadable_lines(self) -> list[int]:
        """The lines that cannot be read, conflict markers aside."""
        return [p.line for p in self.problems if p.line not in self.conflict_lines]


def total(entries: Iterable[Entry]) -> str:
    """The hash over all entries, in order: what the ``sum`` line holds."""
    body = "".join(f"{e.id} {e.checksum}\n" for e in entries)
    return hashlib.sha256(body.encode()).hexdigest()


def render(entries: Sequence[Entry]) -> str:
    """The lock file's text for ``entries``: header, ``sum`` line, one line each."""
    lines = [f"{e.id} {e.checksum}\n" for e in entries]
    return _HEADER + f"sum {total(entries)}\n" + "".join(lines)


def read(path: Path) -> SumFile:
    """Read a lock file; lines that cannot be read become ``history-sum`` problems."""
    result = SumFile(path, path.exists())
    if not result.exists:
        return result
    seen: set[str] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _CONFLICT.match(line):
            result.conflict_lines.append(number)
            result.problems.append(Problem(
                "history-sum", path, number, "unresolved merge conflict in the lock file",
                hint="two branches added migrations: resolve it as docs/lint.md describes "
                "(keep the target branch's side, renumber your migration, run 'mig hash')"))
            continue
        match = _SUM.match(line)
        if match and result.total is None:
            result.total, result.total_line = match.group(1), number
            continue
        if match:  # never an entry: no migration is named "sum"
            result.problems.append(Problem(
                "history-sum", path, number,
                f"a second sum line (the first is line {result.total_line}): the other side of "
                "a merge conflict?",
                hint="resolve it as docs/lint.md describes (keep the target branch's side, "
                "renumber your migration, run 'mig hash')"))
            continue
        match = _ENTRY.match(line)
        if match is None or match.group(1) in seen:
            what = "a duplicate entry" if match else "not '<id> <sha256>'"
            result.problems.append(Problem("history-sum", path, number,
                                           f"cannot read this line ({what}): {line[:80]}",
                                           hint="fix it, or rewrite the file from the "
                                           "migrations on disk with 'mig hash --force'"))
            continue
        seen.add(match.group(1))
        result.entries.append(Entry(match.group(1), match.group(2), number))
    return result


_RESOLVE = ("keep the target branch's side (git show main:migrations/mig.sum > "
            "migrations/mig.sum), rename your migration to sort after the newest one, then run "
            "'mig hash'{also}: docs/lint.md, \"A merge conflict in mig.sum\"")


def _refuse_unreadable(sums: SumFile, *, force: bool, not_listed: Sequence[str] = ()) -> None:
    """Refuse to rewrite a lock file with a merge conflict or lines that cannot be read.

    Its entries are what a new migration's order is checked against: listing both sides of a
    conflict, or dropping an entry mangled by hand, would hide a migration that is out of
    order. ``force`` rewrites over unreadable lines, never over conflict markers.
    """
    created = (f"; {', '.join(not_listed)} created, but not listed in it" if not_listed
               else "")
    if sums.conflict_lines:
        raise MigError(
            f"{FILE_NAME} has an unresolved merge conflict (line {sums.conflict_lines[0]}): "
            f"listing both sides would hide the fork{created}",
            hint=_RESOLVE.format(also=" (it lists the new migration too)" if not_listed
                                 else ""))
    if (sums.exists and not sums.problems and sums.total != total(sums.entries)
            and not force):
        raise MigError(
            f"the sum line of {FILE_NAME} does not match its entries: edited by hand, or a merge"
            f" conflict resolved by keeping both sides, which would hide the fork{created}",
            hint=_RESOLVE.format(also="") + "; or rewrite it from the migrations on disk with"
            " 'mig hash --force'")
    unreadable = sums.unreadable_lines
    if unreadable and not force:
        lines = ", ".join(str(n) for n in unreadable)
        raise MigError(
            f"{FILE_NAME} has lines that cannot be read (line{'s' if len(unreadable) > 1 else ''}"
            f" {lines}): 'mig lint' shows them{created}",
            hint="if they come from a merge conflict resolved by hand, resolve it as "
            "docs/lint.md describes instead; otherwise fix them, or rewrite the file from the "
            "migrations on disk with 'mig hash --force'")


def check_writable(sources: Sequence[Path]) -> None:
    """Raise what :func:`append` would, before ``mig new`` creates any file."""
    _refuse_unreadable(read(path_for(sources)), force=False)


def write(sources: Sequence[Path], scripts: Sequence[Script], *, force: bool = False) -> Path:
    """Rewrite the lock file from the migrations on disk (``mig hash``); returns its path.

    :param force: also list a new migration ordered before one already listed, and rewrite a
        file with lines that cannot be read.
    :raises MigError: a new migration is ordered before one already listed (typically one
        added on a parallel branch): listing it would hide that it is out of order. Or the
        file has merge-conflict markers (even with ``force``), or lines that cannot be read:
        its entries are what that order is checked against.
    """
    path = path_for(sources)
    current = read(path)
    _refuse_unreadable(current, force=force)
    listed = set(current.ids)
    migrations = [s for s in scripts if not s.post_apply]
    for index, script in enumerate(migrations):
        later = next((s.id for s in migrations[index + 1:] if s.id in listed), None)
        if not force and script.id not in listed and later is not None:
            raise MigError(
                f"{script.id} is new, but ordered before {later}, which {FILE_NAME} already "
                "lists (added on a parallel branch?)",
                hint="rename it to sort after the newest migration and make it depend on "
                "that one, then run 'mig hash' again; --force lists it where it is",
            )
    path.write_text(render([Entry(s.id, s.checksum) for s in scripts]), encoding="utf-8")
    return path


def append(sources: Sequence[Path], scripts: Sequence[Script], new: Sequence[Script]) -> Path:
    """Add ``new`` migrations to the lock file (``mig new``), keeping the recorded entries as
    they are, so that an edit to an older migration still shows. Without a lock file, write
    one for every migration (``scripts``).

    :raises MigError: the file has merge-conflict markers or lines that cannot be read.
    """
    path = path_for(sources)
    current = read(path)
    if not current.exists:
        return write(sources, scripts)
    _refuse_unreadable(current, force=False, not_listed=[s.id for s in new])
    listed = set(current.ids)
    entries = current.entries + [Entry(s.id, s.checksum) for s in new if s.id not in listed]
    path.write_text(render(entries), encoding="utf-8")
    return path


def check(sources: Sequence[Path], scripts: Sequence[Script]) -> tuple[SumFile, list[Problem]]:
    """Compare the lock file with the migrations on disk.

    Problems: no lock file (``history-sum``); a line that cannot be read, a merge conflict or a
    ``sum`` line that does not match the entries (``history-sum``); an entry whose migration
    is gone (``history-stale``); a migration missing from it (``history-unlisted``); a
    migration changed since it was listed (``history-edited``).
    """
    path = path_for(sources)
    sums = read(path)
    problems = list(sums.problems)
    if not sums.exists:
        if scripts:
            problems.append(Problem("history-sum", path, 1, "the history lock file is missing",
                                    hint="run 'mig hash' and commit the file it writes"))
        return sums, problems
    if not sums.problems and sums.total != total(sums.entries):
        problems.append(Problem(
            "history-sum", path, sums.total_line or 1,
            "the sum line does not match the entries (edited by hand, or a merge conflict "
            "resolved by hand)",
            hint="check the entries against the migrations, then run 'mig hash'"))
    on_disk = {s.id: s for s in scripts}
    for entry in sums.entries:
        script = on_disk.get(entry.id)
        if script is None:
            problems.append(Problem(
                "history-stale", path, entry.line,
                f"lists {entry.id}, but no such migration exists (deleted or renamed?)",
                hint="restore the migration; if it was never applied anywhere, run 'mig hash'"))
        elif script.checksum != entry.checksum:
            problems.append(Problem(
                "history-edited", script.path, 1,
                f"{script.id} changed since it was listed in {FILE_NAME} (listed "
                f"{entry.checksum[:12]}, now {script.checksum[:12]})",
                hint="if this migration is new and applied nowhere yet, run 'mig hash'; "
                "otherwise restore it and put the change in a new migration"))
    listed = set(sums.ids)
    for script in scripts:
        if script.id not in listed:
            problems.append(Problem(
                "history-unlisted", script.path, 1, f"{script.id} is not in {FILE_NAME}",
                hint="run 'mig hash' (or create migrations with 'mig new') and commit "
                f"{FILE_NAME}"))
    return sums, problems
