"""mig's verbs over a fleet: each target gets the public verb of :mod:`mig.commands` with
settings of its own, and so every guarantee mig gives one database (its own migration lock,
one transaction per migration and its record, checksums, ...).

Every verb takes the resolved settings (the catalog database, if any, is ``settings.database``;
the rest applies to every target), the targets (:func:`mig.fleet.targets.load`) and a
:class:`FleetOptions`; it returns the run's :class:`~mig.fleet.outcomes.Summary`. Per-target results
go to ``options.on_outcome`` as they finish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar, cast

from .. import commands
from ..commands.state import at_head
from ..commands.verification import VerifyReport
from ..config import Settings
from ..disk import scripts as scripts_mod
from ..disk.scripts import Script
from ..errors import (
    ConfigError,
    DatabaseExists,
    DatabaseUnavailable,
    MigError,
    Refused,
)
from ..reports import StatusReport
from . import journal as journal_mod
from .look import ASK_HEAD, ASK_NEWEST, Look, at_head_still, look_at, look_at_all, newest_still
from .outcomes import Outcome, Place, Recorded, Result, Summary
from .run import run
from .settings import default_jobs, secured, target_settings
from .targets import Target, shard


@dataclass(frozen=True)
class FleetOptions:
    """How a fleet run goes; see the ``--jobs``, ``--canary``, ... options in docs/fleet.md."""

    jobs: int | None = None  # None: from the cores and the server's max_connections
    canary: int = 0
    max_failures: int | None = None
    shard: tuple[int, int] | None = None
    journal: Path | None = None  # None: .mig/fleet/<verb>-<key>.jsonl in the project
    restart: bool = False  # ignore an unfinished journal and start over
    confirm: Callable[[Summary], bool] | None = None  # asked after the canary phase
    on_outcome: Callable[[Outcome, Summary], None] | None = None


def _place(report: StatusReport) -> Place:
    """Where a status report says its target is: its newest applied migration, and its
    state."""
    return Place(report.version, _state(report))


def _state(report: StatusReport) -> str:
    if report.current:
        return "current"
    parts = [f"unfinished {p.direction} of {p.id}" for p in report.partial]
    if report.pending:
        parts.append(f"{len(report.pending)} pending")
    if report.edited:
        parts.append(f"{len(report.edited)} edited")
    return ", ".join(parts)


def _fleet(verb: str, settings: Settings, targets: list[Target], options: FleetOptions,
           work: Callable[[Settings, Target, Look | None], Result], *,
           verb_options: dict | None = None, journaled: bool = True,
           scanned: Scanned | None = None, ask: str | None = None,
           proof: Callable[[Look, Recorded], Place | None] | None = None) -> Summary:
    if options.canary < 0 or (options.max_failures is not None and options.max_failures < 1):
        raise ConfigError("--canary must be 0 or more and --max-failures 1 or more")
    if options.jobs is not None and options.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    if options.shard is not None:
        targets = shard(targets, *options.shard)
    targets = [secured(settings, t) for t in targets]  # every target checked before any runs
    if not targets:  # an empty shard
        return Summary(verb, 0)
    if scanned is None and (journaled or ask is not None):
        scanned = _scan(settings)
    jobs = options.jobs or default_jobs(settings, targets)
    looks: dict[str, Look] = {}
    if ask is not None and scanned is not None:
        # each target asked first: the listing is refused when two entries reach the same
        # records, before anything runs or the journal is touched
        scripts = scanned[0]
        looks = look_at_all(settings, targets, jobs, lambda ts: look_at(ts, verb, ask, scripts))
    journal = None
    if journaled and scanned is not None:
        scripts, hooks = scanned
        key = journal_mod.key(verb, verb_options or {},
                              [(s.id, s.checksum) for s in scripts + hooks], options.shard)
        path = options.journal or settings.embedded_dir / "fleet" / f"{verb}-{key}.jsonl"
        journal = journal_mod.Journal(path, restart=options.restart)

    def proven(target: Target, record: Recorded) -> Place | None:
        asked = looks.get(target.name)
        return proof(asked, record) if asked is not None and proof is not None else None

    return run(verb, targets, lambda t: work(target_settings(settings, t), t, looks.get(t.name)),
               jobs=jobs, canary=options.canary, max_failures=options.max_failures,
               journal=journal, proven=proven, confirm=options.confirm,
               on_outcome=options.on_outcome)


Scanned = tuple[list[Script], list[Script]]


def _scan(settings: Settings) -> Scanned:
    """The migration files, scanned and their checksums taken once for the whole run (every
    target is compared with the same files).

    :raises BadMigrationFile: before any target runs.
    """
    scripts, hooks = scripts_mod.scan(settings.sources)
    for script in scripts + hooks:
        script.checksum  # noqa: B018 - read once here, not by each target's thread
    return scripts, hooks


def status(settings: Settings, targets: list[Target], options: FleetOptions) -> Summary:
    """Which migration each target is at; :attr:`Summary.versions` groups them. A target at
    head is told by one query (:func:`mig.commands.state.at_head`), the others by the whole
    status read. As the verbs that change targets, it asks each target's server first (on
    the connection of that one query) and refuses two entries that reach the same records."""
    scanned = _scan(settings)

    def work(ts: Settings, target: Target, look: Look | None) -> Result:
        head = look.head if look is not None else at_head(ts, scanned[0])
        if head is not None:
            return Result("current", at=Place(head.version, "current"), pending=0, edited=0)
        report = commands.status(ts)
        # a run that stopped half-way (killed, or a failed non-transactional migration) is
        # told apart from a target that is merely behind: it needs that run finished first
        outcome = "partial" if report.partial else "current" if report.current else "behind"
        return Result(outcome, at=_place(report), pending=len(report.pending),
                      edited=len(report.edited), partial=tuple(p.id for p in report.partial))

    return _fleet("status", settings, targets, options, work, journaled=False,
                  scanned=scanned, ask=ASK_HEAD)


def apply(settings: Settings, targets: list[Target], options: FleetOptions, *,
          to: str | None = None, seed_env: str | None = None, seed: bool = False,
          from_template: str | None = None) -> Summary:
    """Apply pending migrations on every target; a target already at head is skipped after one
    read-only query (:func:`mig.commands.state.at_head`). A schema target's schema is
    created when missing.

    :param seed: load the seed data (``seed_env`` too) after the migrations, on each target.
    :param from_template: a database target that does not exist is created as a clone of
        this database of its server (:func:`mig.commands.create_database`), which must be at
        head; it is proven so once per server, before the first clone there.
    :raises ConfigError: ``from_template`` with ``to`` (a clone is at head).
    """
    if from_template is not None and to is not None:
        raise ConfigError("--from-template does not work with --to: a clone is at the newest "
                          "migration", hint="apply --to on the existing targets alone")
    scanned = _scan(settings)
    templates: dict[tuple[str, str], _Once[str | None]] = {}
    guard = threading.Lock()

    def create(ts: Settings, target: Target) -> Result | None:
        """The target's database cloned from the template, when it does not exist."""
        assert from_template is not None
        name = target.dsn.dbname
        if not name or target.schema is not None or _exists(ts, name):
            return None
        server = (target.dsn.get("host") or "", target.dsn.get("port") or "")
        with guard:
            once = templates.setdefault(server, _Once())
        version = once.result(lambda: commands.check_template(ts, from_template))
        try:
            created = commands.create_database(ts, name, template=from_template,
                                               checked=version)
        except DatabaseExists:  # created since by someone else: applied as any target
            return None
        return Result("created", template=from_template, migrations=(),
                      at=Place(created.version, "current"), clone_ms=created.ms)

    def seeded(ts: Settings, result: Result) -> Result:
        """``result`` with the rows the seed loaded, when asked to seed."""
        if not (seed or seed_env):
            return result
        return dataclasses.replace(result, seed=commands.seed(ts, env=seed_env).totals())

    def work(ts: Settings, target: Target, look: Look | None) -> Result:
        created = create(ts, target) if from_template is not None and look is None else None
        if created is not None:
            return seeded(ts, created)
        if to is not None:
            head = None
        elif look is not None:  # asked before the run, on the same one query
            head = look.head
        else:
            head = at_head(ts, scanned[0])
        if head is not None:
            return seeded(ts, Result("at head", migrations=(),
                                     at=Place(head.version, "current")))
        if to is None and look is not None and look.behind and target.schema is None:
            # the look proved it not current, with nothing to adopt: the apply's own plan,
            # made under the lock, says what is pending, without a status read first
            ids = tuple(commands.apply(ts).ids)
        else:
            report = commands.status(ts)
            if report.current and to is None:  # its records stay as they are
                return seeded(ts, Result("at head", migrations=(), at=_place(report)))
            if target.schema is not None and not report.applied:
                _create_schema(ts, target.schema)
            ids = tuple(commands.apply(ts, to=to).ids)
        if ids and to is None:  # everything pending is applied, the newest last
            return seeded(ts, Result("applied", migrations=ids,
                                     at=Place(ids[-1], "current")))
        return seeded(ts, Result("applied" if ids else "at head", migrations=ids,
                                 at=_place(commands.status(ts))))

    return _fleet("apply", settings, targets, options, work, scanned=scanned,
                  verb_options={"to": to, "seed": seed or bool(seed_env), "seed_env": seed_env,
                                **({"from_template": from_template} if from_template else {})},
                  ask=ASK_HEAD if to is None else ASK_NEWEST,
                  proof=at_head_still if to is None else newest_still)


def seed(settings: Settings, targets: list[Target], options: FleetOptions, *,
         env: str | None = None, prune: bool = False) -> Summary:
    """Load the seed data into every target (each must be at the newest migration)."""

    def work(ts: Settings, target: Target, look: Look | None) -> Result:
        counts = commands.seed(ts, env=env, prune=prune).totals()
        # a seed loads only at head: the target is at the newest migration, as asked before
        head = look.head if look is not None else None
        version = head.version if head is not None else commands.status(ts).version
        return Result("seeded", at=Place(version, "current"), seed=counts)

    return _fleet("seed", settings, targets, options, work,
                  verb_options={"env": env, "prune": prune}, ask=ASK_HEAD,
                  proof=at_head_still)


def rollback(settings: Settings, targets: list[Target], options: FleetOptions, *,
             steps: int | None = None, to: str | None = None, yes: bool = False,
             force: bool = False) -> Summary:
    """Roll back on every target as :func:`mig.commands.rollback` does on one (more than one
    migration per target needs ``yes``). The journal keeps a rerun from rolling a target
    back twice.

    :raises Refused: ``steps`` over 1, or ``to``, without ``yes``: checked before any target.
    """
    if ((steps or 1) > 1 or to is not None) and not yes:
        raise Refused("over a fleet, rolling back more than one migration per target (--steps N,"
                      " --to ID) needs --yes", hint="pass --yes to confirm it for every target")

    def work(ts: Settings, target: Target, look: Look | None) -> Result:
        ids = tuple(commands.rollback(ts, steps=steps, to=to, yes=yes, force=force).ids)
        return Result("rolled back" if ids else "nothing to roll back", migrations=ids,
                      at=Place(commands.status(ts).version))

    return _fleet("rollback", settings, targets, options, work,
                  verb_options={"steps": steps, "to": to, "force": force}, ask=ASK_NEWEST,
                  proof=newest_still)


def wait(settings: Settings, targets: list[Target], options: FleetOptions, *,
         timeout: float, interval: float = 2.0, allow_newer: bool = False) -> Summary:
    """Wait until every target is at the newest migration, ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout

    def work(ts: Settings, target: Target, look: Look | None) -> Result:
        left = max(0.0, deadline - time.monotonic())
        report = commands.wait(ts, timeout=left, interval=interval, allow_newer=allow_newer)
        return Result("current", at=_place(report))

    return _fleet("wait", settings, targets, options, work, journaled=False)


def verify(settings: Settings, targets: list[Target], options: FleetOptions) -> Summary:
    """Prove the rollbacks (:func:`mig.verify`) on a scratch database of each distinct server
    of the fleet, once per server, with the first of its targets' credentials: servers of
    different versions or settings are each proven. Every target reports its server's result.
    """

    proofs: dict[tuple[str, str], _Once[VerifyReport]] = {}
    guard = threading.Lock()

    def work(ts: Settings, target: Target, look: Look | None) -> Result:
        server = (target.dsn.get("host") or "", target.dsn.get("port") or "")
        with guard:
            once = proofs.setdefault(server, _Once())
        plain = dataclasses.replace(ts, schema=None)
        report = once.result(lambda: commands.verify(plain, scratch=ts.database))
        return Result("verified", migrations=tuple(m.id for m in report.migrations),
                      scratch=report.database)

    return _fleet("verify", settings, targets, options, work, journaled=False)


_T = TypeVar("_T")


class _Once(Generic[_T]):
    """A result computed by the first caller; the others wait for it (errors included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._value: _T | None = None
        self._error: MigError | None = None

    def result(self, compute: Callable[[], _T]) -> _T:
        with self._lock:
            if not self._done:
                try:
                    self._value = compute()
                except MigError as exc:
                    self._error = exc
                self._done = True
        if self._error is not None:
            raise self._error
        return cast(_T, self._value)  # computed: set, whatever _T is


def _exists(ts: Settings, name: str) -> bool:
    """Whether the server of ``ts`` has database ``name`` (asked on a database that is not
    ``name``: it may not exist)."""
    from ..engine.clone import database_exists, maintenance_dsn
    from ..engine.connect import connect, open_database

    conn = connect(maintenance_dsn(open_database(ts), name), verb="fleet create",
                   watch_client=False)
    try:
        return database_exists(conn, name)
    finally:
        conn.close()


def _create_schema(ts: Settings, schema: str) -> None:
    import psycopg2
    from psycopg2 import sql

    from ..engine.connect import connect, open_database

    conn = connect(open_database(ts), verb="fleet create schema")
    try:
        # two coordinators may race: the loser's IF NOT EXISTS can still collide
        with conn.cursor() as cur, contextlib.suppress(psycopg2.errors.UniqueViolation,
                                                       psycopg2.errors.DuplicateSchema):
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(schema)))
    except psycopg2.Error as exc:
        raise DatabaseUnavailable(f"cannot create schema {schema}: "
                                  f"{' '.join(str(exc).split())}") from None
    finally:
        conn.close()
