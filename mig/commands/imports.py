"""``mig import --from FORMAT SOURCE``: another tool's migration folder written as mig migrations.

Everything is read and checked before anything is written: a file the tool's layout does not
allow, a placeholder without a value, or an existing file that differs (without ``force``)
stops the import with every problem listed, and nothing changes. Written files are listed in
the history lock file ``mig.sum`` as ``mig new`` lists its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..disk import importers, sumfile
from ..disk import scripts as scripts_mod
from ..errors import ConfigError, ImportRefused, MigError, did_you_mean
from ..records import JsonRecord

NEXT_STEPS = """\
next steps:
  mig apply                   # a new database: every imported migration, in order
a database {tool} already migrated: 'mig foreign' lists its records with the id imported for
each, then 'mig baseline --to ID' (ID: the newest one it has) records them as applied, once
the schema is proven to match (docs/adopt.md, "Importing a history")"""


@dataclass(frozen=True)
class FileChange(JsonRecord):
    """What the import does to one file: ``create``, ``overwrite`` (``--force``), ``remove``
    (a rollback file the source has no down file for, ``--force``) or ``unchanged``."""

    path: str
    action: str


@dataclass(frozen=True)
class ImportReport(JsonRecord):
    """What :func:`import_history` wrote (in a dry run: would write)."""

    format: str
    source: str
    folder: str
    dry_run: bool
    migrations: tuple[importers.Planned, ...]
    files: tuple[FileChange, ...]
    skipped: tuple[importers.Skipped, ...] = ()
    unused: tuple[str, ...] = ()  # --set names no placeholder asked for

    @property
    def changed(self) -> tuple[FileChange, ...]:
        """The files written, overwritten or removed (in a dry run: that would be)."""
        return tuple(f for f in self.files if f.action != "unchanged")

    def lines(self, *, each: bool = False) -> list[str]:
        """The report as ``mig import`` prints it; ``each``: a line per migration first."""
        lines = []
        for planned in self.migrations if each else ():
            marks = [] if planned.transactional else ["non-transactional"]
            if planned.rollback_sql is None:
                marks.append("no rollback")
            if planned.depends:
                marks.append(f"after {planned.depends}")
            marks += [n for n in planned.notes if n.startswith("empty")]
            lines.append(f"  {planned.id}" + (f"  ({', '.join(marks)})" if marks else ""))
        for skipped in self.skipped:
            lines.append(f"skipped {skipped.path}: {skipped.reason}")
        for name in self.unused:
            lines.append(f"warning: --set {name}=... is used by no placeholder")
        if self.dry_run:
            lines += [f"would {f.action} {f.path}" for f in self.changed]
        count = len(self.migrations)
        if not self.changed:
            lines.append(f"nothing to do: the {count} migrations of {self.source} are already"
                         f" in {self.folder}, unchanged")
            return lines
        created = sum(f.action == "create" for f in self.changed)
        verb = "would write" if self.dry_run else "wrote"
        lines.append(f"{verb} {len(self.changed)} file(s) ({created} new) for {count} "
                     f"migrations from the {self.format} folder {self.source} into {self.folder}"
                     f" ({sum(not p.transactional for p in self.migrations)} "
                     "non-transactional)")
        if self.dry_run:
            lines.append("-- dry run: nothing was written")
        else:
            lines.append(NEXT_STEPS.format(tool=self.format))
        return lines


def import_history(settings: Settings, fmt: str, source: str | Path, *,
                   values: dict[str, str] | None = None, dry_run: bool = False,
                   force: bool = False) -> ImportReport:
    """Write the migrations of another tool's folder ``source`` into the first migrations
    folder, ids and order kept, statements unchanged.

    :param fmt: the layout of ``source``: ``pop``, ``diesel``, ``golang-migrate``, ``dbmate``
        or ``flyway``.
    :param values: values of the Go-template placeholders (``{{ index .Options "NAME" }}``,
        ``{{ .NAME }}``), by name.
    :param dry_run: check everything and list what would be written; write nothing.
    :param force: overwrite existing files that differ from what the import writes.
    :raises ConfigError: an unknown format.
    :raises ImportRefused: problems in the source folder, placeholders without a value, or
        existing files that differ (without ``force``); nothing was written.
    :raises MigError: ``source`` is no folder or holds no migration; the lock file cannot be
        written to.
    """
    if fmt not in importers.FORMATS:
        raise ConfigError(f"mig import cannot read the format {fmt!r}"
                          f"{did_you_mean(fmt, importers.FORMATS)}",
                          hint="one of " + ", ".join(importers.FORMATS))
    folder = Path(source)
    if not folder.is_dir():
        raise MigError(f"{folder} is not a folder",
                       hint=f"pass the folder that holds the {fmt} migrations")
    values = dict(values or {})
    found = importers.read(fmt, folder)
    if not found.migrations and not found.problems:
        raise MigError(f"{folder} holds no {fmt} migration",
                       hint="check the folder and --from (mig import --help lists the layouts)")
    planned, problems, used = importers.plan(found, values)
    target = settings.sources[0]
    changes: list[tuple[Path, str, str | None]] = []  # path, action, text to write
    for migration in planned:
        for path, text in ((target / f"{migration.id}.sql", migration.sql),
                           (target / f"{migration.id}.rollback.sql", migration.rollback_sql)):
            action = _action(path, text)
            if action in ("overwrite", "remove") and not force:
                what = ("differs from what the import writes" if action == "overwrite" else
                        "exists, but the source has no down file for it")
                problems.append(importers.Problem(
                    path, None, f"{what}; pass --force to replace it"))
            if action is not None:
                changes.append((path, action, text))
    if problems:
        raise ImportRefused(
            f"cannot import {folder} ({len(problems)} problem(s)); nothing was written:\n"
            + "\n".join(f"  {p}" for p in problems),
            problems=[(str(p.path), p.line, p.message) for p in problems],
            hint="fix the files (or pass the values named), then run mig import again")
    if not dry_run and any(action != "unchanged" for _, action, _ in changes):
        _write(settings, changes)
    return ImportReport(
        format=fmt, source=str(folder), folder=str(target), dry_run=dry_run,
        migrations=tuple(planned),
        files=tuple(FileChange(str(path), action) for path, action, _ in changes),
        skipped=tuple(found.skipped), unused=tuple(sorted(set(values) - used)))


def _action(path: Path, text: str | None) -> str | None:
    """What writing ``text`` (None: no such file) to ``path`` takes; None: nothing at all."""
    if text is None:
        return "remove" if path.exists() else None
    if not path.exists():
        return "create"
    return "unchanged" if path.read_bytes() == text.encode("utf-8") else "overwrite"


def _write(settings: Settings, changes: list[tuple[Path, str, str | None]]) -> None:
    """Write the files and list the new migrations in ``mig.sum`` (rewritten from the files
    when some were overwritten)."""
    target = settings.sources[0]
    if target.is_dir():
        sumfile.check_writable(settings.sources)  # a lock file in conflict: write nothing
    target.mkdir(parents=True, exist_ok=True)
    for path, action, text in changes:
        if action == "remove":
            path.unlink()
        elif action != "unchanged" and text is not None:
            path.write_bytes(text.encode("utf-8"))
    scripts, hooks = scripts_mod.scan(settings.sources)
    if any(action in ("overwrite", "remove") for _, action, _ in changes):
        sumfile.write(settings.sources, scripts + hooks, force=True)
    else:
        written = {path for path, action, _ in changes if action == "create"}
        sumfile.append(settings.sources, scripts + hooks,
                       [s for s in scripts + hooks
                        if s.path in written or s.path.with_name(s.id + ".rollback.sql")
                        in written])
