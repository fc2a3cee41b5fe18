"""Other tools' migration folders read as mig migrations, for ``mig import --from FORMAT``.

One module per tool reads its layout into :class:`Found` (its migrations in the tool's own
order, what it skipped and why, what it cannot import): :mod:`.pop`, :mod:`.diesel`,
:mod:`.golang_migrate`, :mod:`.dbmate` and :mod:`.flyway`. This module turns them into the
files mig reads (:func:`plan`): Go-template placeholders filled, and the two directives a
statement needs nothing of — ``-- depends:`` where the file names alone would sort a
migration before one the tool runs earlier, ``-- transactional: false`` where the tool runs
it outside a transaction — put in front of the statements, which stay as the tool had them,
byte for byte.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import BadMigrationFile
from ..sqlfile import read_text

#: The formats ``mig import --from`` reads, with the module that reads each.
FORMATS = {
    "pop": "pop",
    "diesel": "diesel",
    "golang-migrate": "golang_migrate",
    "dbmate": "dbmate",
    "flyway": "flyway",
}


@dataclass(frozen=True)
class Text:
    """SQL read from ``path``, starting at ``line`` of it (a section of a dbmate file)."""

    path: Path
    text: str
    line: int = 1


@dataclass(frozen=True)
class Source:
    """One migration as the tool keeps it: ``version`` is what the tool's table records."""

    id: str
    version: str
    up: Text
    down: Text | None
    transactional: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    """A file of the folder that is not imported, and why."""

    path: Path
    reason: str

    def to_json(self) -> dict:
        """The entry as --json prints it."""
        return {"path": str(self.path), "reason": self.reason}


@dataclass(frozen=True)
class Problem:
    """Something that stops the import: which file, which line (when one is to blame), what."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


@dataclass
class Found:
    """What a tool's folder holds: its migrations in the tool's order, the files left out."""

    migrations: list[Source] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    templates: bool = False  # the tool runs every file through Go's templates (pop)

    def text(self, path: Path, line: int = 1) -> Text | None:
        """``path`` read as mig reads a migration; a NUL byte or bad UTF-8 is a problem."""
        try:
            # a byte-order mark goes, as when mig runs the file; line endings stay as they are
            return Text(path, read_text(path), line)
        except BadMigrationFile as exc:
            self.problems.append(Problem(path, exc.line, exc.message.split(": ", 1)[-1]))
            return None


@dataclass(frozen=True)
class Planned:
    """One migration as ``mig import`` writes it: ``<id>.sql``, and ``<id>.rollback.sql``
    when the tool has a down file."""

    id: str
    version: str
    source: Path
    rollback_source: Path | None
    transactional: bool
    depends: str | None
    sql: str
    rollback_sql: str | None
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        """The migration as --json prints it."""
        return {"id": self.id, "version": self.version, "source": str(self.source),
                "rollback_source": str(self.rollback_source) if self.rollback_source else None,
                "transactional": self.transactional, "depends": self.depends,
                "notes": list(self.notes)}


def read(fmt: str, folder: Path) -> Found:
    """The migrations of ``folder`` in the layout of ``fmt`` (a key of :data:`FORMATS`)."""
    module = importlib.import_module(f"{__name__}.{FORMATS[fmt]}")
    found: Found = module.read(folder)
    found.templates = bool(getattr(module, "TEMPLATES", False))
    return found


# {{ index .Options "NAME" }} (pop's and popx's way of passing values) or {{ .NAME }}
_PLACEHOLDER = re.compile(
    r"\{\{\s*(?:index\s+\.Options\s+\"(?P<option>[^\"]*)\"|\.(?P<field>[A-Za-z_]\w*))\s*\}\}")
_ACTION = re.compile(r"\{\{.*?\}\}", re.S)


def fill(text: Text, values: Mapping[str, str], *, templates: bool,
         problems: list[Problem], used: set[str]) -> str:
    """``text`` with its placeholders replaced by ``values``.

    A placeholder without a value is a problem naming file, line and the ``--set`` to pass.
    :param templates: the tool runs every file through Go's templates (pop), so any other
        ``{{ ... }}`` action is one mig cannot reproduce: a problem too. Otherwise ``{{``
        that is no placeholder is SQL and stays.
    """
    missing: dict[str, int] = {}

    def line_at(index: int) -> int:
        return text.line + text.text.count("\n", 0, index)

    def replace(match: re.Match[str]) -> str:
        name = match.group("option") or match.group("field") or ""
        if name in values:
            used.add(name)
            return values[name]
        missing.setdefault(name, line_at(match.start()))
        return match.group(0)

    result = _PLACEHOLDER.sub(replace, text.text)
    for name, line in missing.items():
        problems.append(Problem(
            text.path, line, f"the placeholder {name!r} has no value: pass --set {name}=..."))
    if templates:
        rest = _PLACEHOLDER.sub("", text.text)
        for match in _ACTION.finditer(rest):
            shown = " ".join(match.group(0).split())[:60]
            index = text.text.find(match.group(0))
            problems.append(Problem(
                text.path, line_at(index if index >= 0 else 0),
                f"the template action {shown} is not a placeholder mig can fill: write the SQL"
                " it produces for PostgreSQL in the file instead"))
    return result


def depends_in_order(ids: list[str]) -> dict[str, str]:
    """The ``-- depends:`` each migration needs so that mig runs ``ids`` in the given order.

    mig orders by dependencies, then by file name; a migration whose id sorts before an id
    earlier in the list (``10_x`` before ``9_y``) depends on the one just before it. One that
    sorts after every earlier id needs nothing: each one ready before it sorts after it.
    """
    needs: dict[str, str] = {}
    highest = ""
    for index, mid in enumerate(ids):
        if index and mid < highest:
            needs[mid] = ids[index - 1]
        highest = max(highest, mid)
    return needs


def plan(found: Found, values: Mapping[str, str]
         ) -> tuple[list[Planned], list[Problem], set[str]]:
    """The files to write for ``found``'s migrations: ``(planned, problems, values used)``."""
    problems = list(found.problems)
    used: set[str] = set()
    ids = [s.id for s in found.migrations]
    seen: dict[str, Path] = {}
    for source in found.migrations:
        if source.id in seen:
            problems.append(Problem(
                source.up.path, None, f"two migrations would have the id {source.id!r}: "
                f"{seen[source.id].name} and {source.up.path.name}"))
        seen[source.id] = source.up.path
    needs = depends_in_order(ids)
    templates = found.templates
    planned = []
    for source in found.migrations:
        sql = fill(source.up, values, templates=templates, problems=problems, used=used)
        rollback = (fill(source.down, values, templates=templates, problems=problems,
                         used=used) if source.down is not None else None)
        depends = needs.get(source.id)
        header = (f"-- depends: {depends}\n" if depends else "") + (
            "" if source.transactional else "-- transactional: false\n")
        planned.append(Planned(
            source.id, source.version, source.up.path,
            source.down.path if source.down is not None else None, source.transactional,
            depends, header + sql, rollback, source.notes))
    return planned, problems, used
