"""Shared pieces of the CLI: the group, the run's state (click's ``ctx.obj``), the common options
and settings resolution."""

from __future__ import annotations

import contextlib
import functools
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import click.shell_completion

from ..about import DISTRIBUTION, VERSION
from ..config import InsecureTLSWarning, Settings, UnknownSettingWarning, resolve
from ..reports import SILENT, Reporter


@dataclass
class Run:
    """One run's state, click's ``ctx.obj``: set while parsing, read by ``main`` on an error."""

    traceback: bool = False
    secrets: list[str] = field(default_factory=list)  # masked in every message
    database_given: bool = False  # --database on the command line (never the environment's)


def current_run() -> Run:
    """The state of the run being parsed (a fresh one when the group is invoked without)."""
    return click.get_current_context().ensure_object(Run)


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is used.

    ``mig apply`` then pays for the imports of apply alone, not for those of every command
    (the schema and seed commands pull in much more). Modules register their commands on
    ``cli`` with the usual decorators; ``modules`` says which module holds which command.
    """

    modules: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.modules))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.modules:
            import importlib

            importlib.import_module(f"mig.cli.{self.modules[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, "-V", "--version", prog_name="mig",
                      message=f"%(prog)s %(version)s (the {DISTRIBUTION} distribution)")
def cli() -> None:
    """Safe PostgreSQL migrations, seed data and test databases on top of yoyo."""


# click calls an option's callback with the value positionally
def _remember_traceback(ctx: click.Context, param: click.Parameter, value: bool) -> bool:  # noqa: FBT001
    run = ctx.ensure_object(Run)
    run.traceback = run.traceback or value
    return value


def complete_migration_id(ctx: click.Context, param: click.Parameter,
                          incomplete: str) -> list[click.shell_completion.CompletionItem]:
    """Shell completion of ``--to``: the ids of the project's migrations that start with what
    is typed (none when the project cannot be read: completion never fails)."""
    from ..commands import migration_ids

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            settings = resolve(config_file=ctx.params.get("config_file"))
        ids = migration_ids(settings)
    except Exception:  # a half-typed command line, no project here: nothing to offer
        return []
    return [click.shell_completion.CompletionItem(mid) for mid in ids if mid.startswith(incomplete)]


def common_options(func: Callable) -> Callable:
    """--database, --config, -q/-v and --traceback, on every command that needs a database."""
    options = [
        click.option("--database", "-d", metavar="URL",
                     help="database URL or libpq string [env: MIG_DATABASE_URL, DATABASE_URL]"),
        click.option("--config", "-c", "config_file", metavar="PATH",
                     type=click.Path(dir_okay=False),
                     help="yoyo.ini to read [default: the nearest yoyo.ini] [env: MIG_CONFIG]"),
        click.option("-q", "--quiet", is_flag=True, help="print only errors and requested output"),
        click.option("-v", "--verbose", is_flag=True, help="print more detail"),
        click.option("--traceback", is_flag=True, expose_value=False, is_eager=True,
                     callback=_remember_traceback, help="show the full traceback of an error"),
        click.option("--profile", metavar="NAME",
                     help="development or production (requires verified TLS) "
                     "[default: development] [env: MIG_PROFILE]"),
        click.option("--sslmode", metavar="MODE",
                     help="libpq sslmode, over the URL's [env: MIG_SSLMODE]"),
        click.option("--sslrootcert", metavar="PATH",
                     help="CA file the server's certificate must be signed by "
                     "[env: MIG_SSLROOTCERT]"),
        click.option("--sslcert", metavar="PATH", help="client certificate [env: MIG_SSLCERT]"),
        click.option("--sslkey", metavar="PATH", help="client key [env: MIG_SSLKEY]"),
        click.option("--allow-insecure-tls", is_flag=True, default=None,
                     help="let the production profile connect without a verified server, "
                     "with a warning [env: MIG_ALLOW_INSECURE_TLS]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def lock_options(func: Callable) -> Callable:
    options = [
        click.option("--lock-wait", "lock_wait", type=float, metavar="SECONDS",
                     help="how long to wait for another mig run's lock [default: 600] "
                     "[env: MIG_LOCK_WAIT]"),
        click.option("--lock-timeout", "old_lock_wait", type=float, metavar="SECONDS",
                     hidden=True, expose_value=True,
                     help="deprecated spelling of --lock-wait"),
        click.option("--db-lock-timeout", metavar="DURATION",
                     help="PostgreSQL lock_timeout for each migration [default: 5s] "
                     "[env: MIG_DB_LOCK_TIMEOUT]"),
        click.option("--db-lock-attempts", type=int, metavar="N",
                     help="tries of a migration whose lock request times out [default: 5] "
                     "[env: MIG_DB_LOCK_ATTEMPTS]"),
        click.option("--db-lock-retry-wait", type=float, metavar="SECONDS",
                     help="wait before the second try, doubled for each further one, with "
                     "jitter [default: 1] [env: MIG_DB_LOCK_RETRY_WAIT]"),
        click.option("--statement-timeout", metavar="DURATION",
                     help="PostgreSQL statement_timeout for each migration [default: 0 = off] "
                     "[env: MIG_STATEMENT_TIMEOUT]"),
        click.option("--app-role", metavar="ROLE",
                     help="the application's role, granted its privileges by the migrations "
                     "[default: app] [env: MIG_APP_ROLE]"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def settings_from(params: dict[str, Any]) -> Settings:
    """Resolve the settings from a command's parsed options (consumed from ``params``)."""
    database = params.pop("database", None)
    old_lock_wait = params.pop("old_lock_wait", None)
    if old_lock_wait is not None:
        click.echo("warning: --lock-timeout is deprecated: use --lock-wait", err=True)
        if params.get("lock_wait") is None:
            params["lock_wait"] = old_lock_wait
    with warnings.catch_warnings():
        # printed below, in mig's words
        warnings.simplefilter("ignore", InsecureTLSWarning)
        warnings.simplefilter("ignore", UnknownSettingWarning)
        settings = resolve(
            database=database,
            config_file=params.pop("config_file", None),
            fleet=bool(params.get("fleet")),
            lock_wait=params.pop("lock_wait", None),
            db_lock_timeout=params.pop("db_lock_timeout", None),
            db_lock_attempts=params.pop("db_lock_attempts", None),
            db_lock_retry_wait=params.pop("db_lock_retry_wait", None),
            allow_out_of_order=params.pop("allow_out_of_order", None),
            statement_timeout=params.pop("statement_timeout", None),
            seeds_dir=params.pop("seeds_dir", None),
            app_role=params.pop("app_role", None),
            profile=params.pop("profile", None),
            allow_insecure_tls=params.pop("allow_insecure_tls", None),
            sslmode=params.pop("sslmode", None),
            sslrootcert=params.pop("sslrootcert", None),
            sslcert=params.pop("sslcert", None),
            sslkey=params.pop("sslkey", None),
        )
    run = current_run()
    run.database_given = database is not None
    if settings.database is not None:
        run.secrets.extend(settings.database.secrets)
    if settings.password_file is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            run.secrets.append(settings.password_file.read_text().rstrip("\r\n"))
    for warning in settings.warnings:
        click.echo(warning, err=True)  # whatever -q says: an accepted risk stays visible
    return settings


def announce(settings: Settings, out: Printer) -> None:
    """Say which database the command is about to change, before anything happens."""
    from ..commands import describe

    out.progress(f"database: {describe(settings)}")


def database_line(url: str, settings: Settings) -> str:
    """The first line of a report about the database at ``url``: ``database: URL (from
    SOURCE)``, the source being where a configured database was set (an option, a variable,
    ``.env``, ``yoyo.ini``)."""
    configured = settings.database is not None
    return f"database: {url}" + (f" (from {settings.database_source})" if configured else "")


def with_target(data: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``--json`` output with the database it acted on (``mig.commands.target``)."""
    from ..commands import target

    return {"database": target(settings).to_json(), **data}


class Printer:
    """Output honouring -q/-v; JSON output is printed whatever -q says."""

    def __init__(self, *, quiet: bool = False, verbose: bool = False) -> None:
        self.quiet = quiet
        self.verbose = verbose

    def line(self, text: str = "") -> None:
        if not self.quiet:
            click.echo(text)

    def lines(self, texts: list[str]) -> None:
        """Each of ``texts`` as :meth:`line` prints it."""
        for text in texts:
            self.line(text)

    def detail(self, text: str) -> None:
        if self.verbose and not self.quiet:
            click.echo(text)

    @property
    def report(self) -> Reporter:
        """What the verbs report progress through: :meth:`progress`, or nothing under -q."""
        return SILENT if self.quiet else Reporter(self.progress)

    def progress(self, text: str) -> None:
        """Progress goes to stderr, so stdout stays clean for --json."""
        if not self.quiet:
            click.echo(text, err=True)

    @staticmethod
    def json(data: Any) -> None:
        click.echo(json.dumps(data, indent=2, default=str))


def with_settings(func: Callable) -> Callable:
    """Resolve settings and build a Printer before calling ``func(settings, out, **rest)``."""

    @functools.wraps(func)
    def wrapper(**params: Any) -> Any:
        out = Printer(quiet=params.pop("quiet", False), verbose=params.pop("verbose", False))
        settings = settings_from(params)
        return func(settings, out, **params)

    return wrapper
