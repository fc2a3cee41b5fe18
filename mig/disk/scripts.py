"""What is on disk: migration files, their checksums and their order.

A migration is a ``.sql`` file (its rollback beside it as ``<id>.rollback.sql``) or a ``.py``
file whose name starts with a digit; files named ``post-apply*`` are yoyo's post-apply hooks.
Anything else in the folder (``__init__.py``, helper modules, notes) is not a migration.
Files are parsed and imported by yoyo itself, so yoyo's file formats hold unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import BadMigrationFile, MigError, UnknownMigration, did_you_mean
from ..ordering import Cycle, stable_order
from ..yoyo import migrations as yoyo_migrations
from ..yoyo import steps as yoyo_steps
from .describe import describe_step as describe_step  # where dry runs look for it
from .sqlfile import TRANSACTIONAL, read_text, sql_directives, transaction_control
from .sqltext import has_sql


def is_migration_name(path: Path) -> bool:
    """Whether ``path`` names a migration (``.sql``/``.py``, a digit first, not a rollback
    file) or a post-apply hook."""
    if path.suffix not in (".sql", ".py") or path.name.endswith(".rollback.sql"):
        return False
    return path.name[0].isdigit() or path.name.startswith("post-apply")


def checksum(*paths: Path) -> str:
    """SHA-256 of the files' contents with line endings normalised (CRLF or CR count as LF)."""
    digest = hashlib.sha256()
    for path in paths:
        if path.exists():
            data = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            digest.update(data + b"\0")
    return digest.hexdigest()


def _line_in(path: Path, tb: TracebackType | None) -> int | None:
    """The line of the deepest frame of ``tb`` inside the file ``path``."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _sql_or_none(text: str) -> str | None:
    """A step's SQL as it runs: a leading byte-order mark (which yoyo keeps) dropped; None
    when it holds no statement (``""``, ``/* to do */``: the server refuses those as an empty
    query), so that such a step runs nothing and a file of them has no step."""
    text = text.removeprefix("\ufeff")
    return text if has_sql(text) else None


@dataclass
class Script:
    """One migration file (and its rollback file).

    Ids, order, checksums and options come from the files directly; the steps are parsed by
    yoyo (``migration``) only when they are needed: to run, roll back or preview them.
    """

    id: str
    path: Path
    post_apply: bool = False
    siblings: list[Script] | None = None  # every script of the same load
    _migration: Any = None
    _checksum: str | None = None
    _directives: dict[str, str] | None = None
    _text: str | None = None
    _squashes: dict[str, Script] | None = None

    @property
    def squashes(self) -> dict[str, Script]:
        """The squashes of this load (see :func:`squashed_by`), read once for all of them."""
        if self._squashes is None:
            found = squashed_by(self.siblings or [self])
            for script in self.siblings or [self]:
                script._squashes = found
        assert self._squashes is not None
        return self._squashes

    @property
    def migration(self) -> Any:
        """The yoyo migration object (its steps not yet loaded)."""
        if self._migration is None:
            # yoyo resolves dependencies through a registry of every migration object it has
            # made, so the objects of all scripts are made together.
            for script in self.siblings or [self]:
                if script._migration is None:
                    script._migration = yoyo_migrations.make(
                        script.id, script.path, post_apply=script.post_apply)
            # a dependency on a migration a squash replaced is one on the squash
            for old, squash in self.squashes.items():
                yoyo_migrations.alias(old, squash.migration)
        return self._migration

    @property
    def is_sql(self) -> bool:
        """Whether it is an SQL migration (else Python)."""
        return self.path.suffix == ".sql"

    @property
    def rollback_path(self) -> Path | None:
        """An SQL migration's ``<id>.rollback.sql``, when it exists."""
        candidate = self.path.with_name(self.id + ".rollback.sql")
        return candidate if self.is_sql and candidate.exists() else None

    @property
    def rollback_sql(self) -> str:
        """The rollback file's text, checked (see :func:`read_text`); "" without one."""
        path = self.rollback_path
        return read_text(path) if path is not None else ""

    @property
    def checksum(self) -> str:
        """sha256 of the file and its rollback file, line endings normalised."""
        if self._checksum is None:
            paths = [self.path] + ([self.rollback_path] if self.rollback_path else [])
            self._checksum = checksum(*paths)
        return self._checksum

    @property
    def directives(self) -> dict[str, str]:
        """The ``-- name: value`` lines leading an SQL file (transactional, depends, timeouts)."""
        if self._directives is None:
            self._directives = sql_directives(self.text)
        return self._directives

    @property
    def text(self) -> str:
        """The file's text, checked (see :func:`read_text`)."""
        if self._text is None:
            self._text = read_text(self.path)
        return self._text

    def loaded(self) -> Any:
        """The yoyo migration with its steps parsed (or imported).

        :raises BadMigrationFile: the file does not import, ends the process when imported
            (``sys.exit()``, ``os._exit()``), or sets ``__transactional__`` to other than a
            bool.
        """
        if not yoyo_migrations.is_loaded(self.migration):
            self.text  # noqa: B018 - a NUL byte or bad encoding is refused by name first
            try:
                failure = yoyo_migrations.load(self.migration)
            except Exception as exc:  # e.g. a file in a wrong encoding
                raise BadMigrationFile(
                    f"cannot read migration {self.path}: {exc}", path=str(self.path)
                ) from None
            if failure is not None and failure.exit is not None:
                raise self._exits(failure.exit, failure.cause)
            if failure is not None:
                raise _bad_file(self, failure)
            if not self.is_sql:
                self._check_transactional_value()
            yoyo_migrations.set_steps(self.migration, yoyo_steps.pruned(
                yoyo_migrations.steps_of(self.migration), _sql_or_none))
        return self.migration

    def _exits(self, call: str, exc: BaseException | None) -> BadMigrationFile:
        """The refusal of a file that ends the process (``call``) when imported."""
        line = _line_in(self.path, getattr(exc, "__traceback__", None))
        where = f"{self.path}:{line}" if line else str(self.path)
        return BadMigrationFile(
            f"{where}: the migration calls {call} when imported; a migration file"
            " must define steps, not end the process",
            migration_id=self.id, path=str(self.path), line=line,
            hint="move the call into a step's function, or remove it")

    def _check_transactional_value(self) -> None:
        """Refuse a ``__transactional__`` that is not a bool: yoyo would take any true value
        (``"no"``, ``"false"``) as transactional."""
        value = yoyo_migrations.declared(self.migration, "__transactional__", default=True)
        if isinstance(value, bool):
            return
        yoyo_migrations.set_steps(self.migration, None)  # asked again, it is refused again
        line = self.line_of("__transactional__")
        where = f"{self.path}:{line}" if line else str(self.path)
        raise BadMigrationFile(
            f"{where}: __transactional__ must be True or False, got {value!r}",
            migration_id=self.id, path=str(self.path), line=line,
            hint="write __transactional__ = False for a migration that must run outside a"
            " transaction (CREATE INDEX CONCURRENTLY); leave it out otherwise")

    @property
    def empty(self) -> bool:
        """Whether the migration has nothing to run: an SQL file without a statement (nothing,
        whitespace, comments or semicolons only), or a Python file without a step (an SQL step
        holding no statement, as ``mig new --py`` writes it, is none). It is applied and
        recorded like any other, and rolled back as a no-op when it has no rollback."""
        if self.is_sql:
            return not has_sql(self.text)
        return not yoyo_steps.flatten(self.steps)

    @property
    def rollback_empty(self) -> bool:
        """Whether rolling it back runs nothing: no rollback file, or one without a
        statement (SQL); no step with a rollback (Python)."""
        if self.is_sql:
            return not has_sql(self.rollback_sql)
        return all(yoyo_steps.action(inner, "rollback") is None
                   for _, inner in yoyo_steps.flatten(self.steps))

    @property
    def transactional(self) -> bool:
        """Whether it runs in one transaction (``-- transactional: false`` or
        ``__transactional__ = False`` say no)."""
        if self.is_sql:
            value = self.directives.get("transactional", "true")
            if value.lower() not in TRANSACTIONAL:
                # yoyo's own reading fails on anything else too, later and less clearly
                line = self.line_of("-- transactional:") or self.line_of("--transactional:")
                where = f"{self.path}:{line}" if line else str(self.path)
                raise BadMigrationFile(
                    f"{where}: -- transactional: must be true or false, got {value!r}"
                    f"{did_you_mean(value.lower(), TRANSACTIONAL)}",
                    hint="write '-- transactional: false' for a migration that must run outside"
                    " a transaction (CREATE INDEX CONCURRENTLY); leave the line out otherwise",
                    migration_id=self.id, path=str(self.path), line=line)
            return TRANSACTIONAL[value.lower()]
        return yoyo_migrations.transactional(self.loaded())

    @property
    def steps(self) -> list:
        """yoyo's steps of the migration (the file parsed or imported on first use)."""
        return list(yoyo_migrations.steps_of(self.loaded()) or [])

    @property
    def depends(self) -> set[str]:
        """The ids it depends on (``-- depends:`` or ``__depends__``)."""
        if self.is_sql:
            return set(self.directives.get("depends", "").split())
        depends = yoyo_migrations.declared(self.loaded(), "__depends__") or set()
        return {depends} if isinstance(depends, str) else set(depends)

    @property
    def replaces(self) -> list[str]:
        """The ids of the migrations this one replaced (``-- replaces:``, written by ``mig
        squash``): empty for any other migration."""
        return self.directives.get("replaces", "").split() if self.is_sql else []

    @property
    def also_replaces(self) -> list[str]:
        """The ids the squashes this one replaced had replaced (``-- also-replaces:``): a
        dependency on one stands for this one too; recording it does not need them."""
        return self.directives.get("also-replaces", "").split() if self.is_sql else []

    @property
    def requires(self) -> set[str]:
        """The ids it comes after: :attr:`depends`, a dependency on a migration that a squash
        on disk replaced being one on that squash."""
        squashes = self.squashes
        return {squashes[mid].id if mid in squashes else mid for mid in self.depends}

    def option(self, name: str) -> str | None:
        """A per-migration ``lock_timeout``/``statement_timeout``.

        SQL files: a leading comment ``-- lock_timeout: 30s``; Python files:
        ``__lock_timeout__ = "30s"``.
        """
        from ..config import DURATION  # not at the top: listing migrations needs no settings

        if self.is_sql:
            value: object = self.directives.get(name)
            spelled = f"-- {name}:"
        else:
            value = yoyo_migrations.declared(self.loaded(), f"__{name}__")
            spelled = f"__{name}__"
        if value is None:
            return None
        text = str(value).strip()
        if not DURATION.match(text):
            line = self.line_of(spelled) if self.is_sql else None
            where = f"{self.path}:{line}" if line else str(self.path)
            raise BadMigrationFile(
                f"{where}: {spelled} must be a duration like 5s, 500ms or 2min (0 switches it"
                f" off), got {text!r}", migration_id=self.id, path=str(self.path), line=line)
        return text

    def lock_attempts(self, default: int) -> int:
        """How many times a lock request that times out is tried: ``-- lock_attempts: 10``
        (SQL) or ``__lock_attempts__ = 10`` (Python), else ``default``."""
        if self.is_sql:
            value: object = self.directives.get("lock_attempts")
            spelled = "-- lock_attempts:"
        else:
            value = yoyo_migrations.declared(self.loaded(), "__lock_attempts__")
            spelled = "__lock_attempts__"
        if value is None:
            return default
        text = str(value).strip()
        if not text.isdigit() or int(text) < 1:
            line = self.line_of(spelled) if self.is_sql else None
            where = f"{self.path}:{line}" if line else str(self.path)
            raise BadMigrationFile(
                f"{where}: {spelled} must be a whole number of at least 1, got {text!r}",
                migration_id=self.id, path=str(self.path), line=line)
        return int(text)

    def line_of(self, statement: str) -> int | None:
        """The line in the file where ``statement`` starts, where it can be found."""
        text = self.text
        index = text.find(statement.strip()[:200])
        return text.count("\n", 0, index) + 1 if index >= 0 else None


def squashed_by(scripts: Iterable[Script]) -> dict[str, Script]:
    """The squashes among ``scripts`` by the ids they replaced (those not on disk)."""
    scripts = list(scripts)
    on_disk = {s.id for s in scripts}
    return {old: script for script in scripts for old in script.replaces + script.also_replaces
            if old not in on_disk}


def discover(sources: tuple[Path, ...]) -> list[Path]:
    """Migration files in ``sources``, in file-name order within each folder."""
    found: list[Path] = []
    for source in sources:
        if not source.is_dir():
            raise MigError(
                f"migrations folder {source} does not exist",
                hint="outside a project, 'mig init' lays one out (yoyo.ini, migrations/, seeds/);"
                " in one, create the folder or point 'sources' in yoyo.ini at the one that holds"
                " them",
            )
        found.extend(sorted(p for p in source.iterdir() if p.is_file() and is_migration_name(p)))
    return found


def scan(sources: tuple[Path, ...]) -> tuple[list[Script], list[Script]]:
    """The migrations and post-apply hooks on disk, in file-name order, none of them imported.

    Enough to compare them with the records by id and checksum (the checksums come from the
    files' bytes): a database at head needs nothing more. :func:`load` orders and imports them.
    :raises BadMigrationFile: a duplicate id.
    """
    scripts: list[Script] = []
    hooks: list[Script] = []
    seen: dict[str, Path] = {}
    for path in discover(sources):
        mid = path.stem
        if mid in seen:
            raise BadMigrationFile(
                f"two migrations have the id {mid!r}: {seen[mid]} and {path}",
                migration_id=mid,
                path=str(path),
                hint="rename one of them",
            )
        seen[mid] = path
        hook = path.name.startswith("post-apply")
        (hooks if hook else scripts).append(Script(mid, path, hook))
    everything = scripts + hooks
    for script in everything:
        script.siblings = everything
    return scripts, hooks


def load(sources: tuple[Path, ...], *, checked: bool = True
         ) -> tuple[list[Script], list[Script]]:
    """Read and order the migrations: ``(migrations in dependency order, post-apply hooks)``.

    Python migrations are imported here, so one that does not import fails before anything
    connects; SQL migrations are parsed later, when their steps are needed.
    :raises BadMigrationFile: a file that does not import, a duplicate id, a dependency on an
        unknown migration, or a dependency cycle.
    """
    return prepared(*scan(sources), checked=checked)


def prepared(scripts: list[Script], hooks: list[Script], *, checked: bool = True
             ) -> tuple[list[Script], list[Script]]:
    """:func:`scan`'s scripts checked, imported (Python migrations) and in dependency order.

    :param checked: refuse files that cannot run as written (see :func:`check`), all named at
        once; ``mig new`` orders files it has just created, still empty, without.
    """
    known = {s.id for s in scripts}
    problems: list[BadMigrationFile] = []
    for script in scripts + hooks:
        try:
            unknown = sorted(script.requires - known) if script.is_sql else []
            if unknown:
                raise _unknown_depends(script, unknown)
            if script.is_sql:
                script.transactional  # noqa: B018  (a bad value is refused before anything runs)
            else:
                script.loaded()
            if checked:
                check(script)
        except BadMigrationFile as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        first = problems[0]
        raise BadMigrationFile(
            f"{len(problems)} migration files cannot run as written:\n"
            + "\n".join(f"  {p}".replace("\n", "\n  ") for p in problems),
            migration_id=first.migration_id, path=first.path, line=first.line)
    return _ordered(scripts), hooks


def check(script: Script) -> None:
    """Refuse a file that would not run as it reads, before anything runs.

    A transaction-control statement in a transactional migration would commit part of it
    behind mig's back. An empty migration is not refused: it runs nothing and is recorded
    (``Script.empty``); ``mig lint`` warns about it (``empty-migration``).
    :raises BadMigrationFile: naming the file and line.
    """
    if script.is_sql:
        texts = [(script.path, script.text)]
        if script.rollback_path is not None:
            texts.append((script.rollback_path, script.rollback_sql))
    else:
        texts = []
        for _, inner in yoyo_steps.flatten(script.steps):
            for direction in ("apply", "rollback"):
                value = yoyo_steps.action(inner, direction)
                if isinstance(value, str):
                    texts.append((script.path, value))
    if not script.transactional:
        return
    for path, text in texts:
        found = transaction_control(text)
        if found:
            line, statement = found[0]
            if not script.is_sql:
                line = script.line_of(statement) or line
            shown = " ".join(statement.split())[:60]
            raise BadMigrationFile(
                f"{path}:{line}: {shown!r} in a transactional migration: it would commit or"
                " end part of the migration outside mig's transaction",
                migration_id=script.id, path=str(path), line=line,
                hint="remove it (mig runs the whole migration in one transaction), or mark"
                " the migration '-- transactional: false' (__transactional__ = False)")


def _ordered(scripts: list[Script]) -> list[Script]:
    """Dependencies first; otherwise file-name order (a stable topological sort)."""
    try:
        return stable_order(scripts, lambda s: s.id, lambda s: s.requires)
    except Cycle as cycle:
        raise BadMigrationFile(
            "the dependencies of these migrations form a cycle: "
            + " -> ".join(s.id for s in cycle.items),
            hint="check their depends lines",
        ) from None


def _unknown_depends(script: Script, unknown: list[str]) -> BadMigrationFile:
    return BadMigrationFile(
        f"{script.path}: depends on unknown migration(s) {', '.join(unknown)}",
        migration_id=script.id,
        path=str(script.path),
        hint="fix the id in the depends line, or add the missing migration",
    )


def _bad_file(script: Script, failure: yoyo_migrations.LoadFailure) -> BadMigrationFile:
    depends = yoyo_migrations.declared(script.migration, "__depends__") or set()
    if isinstance(depends, str):
        depends = {depends}
    unknown = sorted(set(depends) - yoyo_migrations.known_ids())
    if unknown:
        return _unknown_depends(script, unknown)
    cause = failure.cause
    line = getattr(cause, "lineno", None) if isinstance(cause, SyntaxError) else None
    line = _line_in(script.path, getattr(cause, "__traceback__", None)) or line
    where = f"{script.path}:{line}" if line else str(script.path)
    reason = f"{type(cause).__name__}: {cause}" if cause else failure.message
    return BadMigrationFile(
        f"{where}: the migration does not import ({reason})",
        migration_id=script.id,
        path=str(script.path),
        line=line,
    )


def ancestors(script: Script, scripts: list[Script]) -> set[str]:
    """The ids ``script`` comes after in the history ``scripts``: its dependencies (and
    theirs), and every migration ordered before it."""
    by_id = {s.id: s for s in scripts}
    seen: set[str] = set()
    todo = list(script.requires)
    while todo:
        mid = todo.pop()
        if mid not in seen:
            seen.add(mid)
            todo.extend(by_id[mid].requires if mid in by_id else ())
    # with no explicit dependencies, order in the history is what counts
    index = [s.id for s in scripts].index(script.id)
    return seen | {s.id for s in scripts[:index]}


def unknown_migration(to: str, scripts: list[Script], known: Iterable[str] = ()
                      ) -> UnknownMigration:
    """The error for ``--to`` naming none of ``scripts`` (nor of ``known``, more ids the
    caller accepts): it names the folders looked in and the nearest id."""
    ids = [s.id for s in scripts] + [k for k in known]
    folders = sorted({str(s.path.parent) for s in scripts}) or ["the migrations folder"]
    return UnknownMigration(
        f"--to {to}: no such migration in {', '.join(folders)}{did_you_mean(to, ids)}",
        migration_id=to, folders=folders,
        hint="'mig status' lists the ids (file names without extension)")


def target(scripts: list[Script], to: str) -> Script:
    """The one of ``scripts`` whose id is ``to``.

    :raises UnknownMigration: none is (the message names the nearest id).
    """
    for script in scripts:
        if script.id == to:
            return script
    raise unknown_migration(to, scripts)


def upto(scripts: list[Script], to: str) -> list[str]:
    """The ids of ``scripts`` (in order) up to and including ``to``.

    :raises UnknownMigration: ``to`` is not one of them (the message names the nearest id).
    """
    ids = [s.id for s in scripts]
    return ids[: ids.index(target(scripts, to).id) + 1]
