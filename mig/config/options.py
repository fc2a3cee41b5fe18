"""The table of settings: each one's default, environment variable and ``[mig]`` key, the
spellings still read with a warning, and each value picked by precedence."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

# name -> (default, environment variable, ini key in [mig])
OPTIONS: dict[str, tuple[object, str, str]] = {
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
DEPRECATED: dict[str, tuple[str, str]] = {"lock_wait": ("MIG_LOCK_TIMEOUT", "lock_timeout")}
# Variables mig reads besides those of OPTIONS (the pytest plugin's included); any other
# MIG_* variable is reported as unknown unless the project's seeds name it (a !secret).
OTHER_ENV = ("MIG_CONFIG", "MIG_DATABASE_URL", "MIG_DATABASE_PASSWORD_FILE",
              "MIG_SCRATCH_SERVER", "MIG_TEST_SERVER", "MIG_TEST_URL", "MIG_TEST_SEED_ENV",
              "MIG_TEST_DOCKER_IMAGE", "MIG_TEST_POOL_SIZE", "MIG_PG_DUMP")
KNOWN_ENV = tuple(sorted({var for _, var, _ in OPTIONS.values()} | set(OTHER_ENV)
                         | {var for var, _ in DEPRECATED.values()}))
# [mig] keys of yoyo.ini
KNOWN_INI_KEYS = tuple(sorted({key for _, _, key in OPTIONS.values()}
                              | {key for _, key in DEPRECATED.values()}))


def option_values(options: Mapping[str, object], env: Mapping[str, str],
                   ini_mig: Mapping[str, str], ini_path: Path | None,
                   root: Path) -> tuple[dict[str, object], list[str]]:
    """Each option's value (option > environment > ``[mig]`` > default), and a warning for
    each deprecated spelling read."""
    resolved: dict[str, object] = {}
    deprecations = []
    for name, (default, var, ini_key) in OPTIONS.items():
        old_var, old_key = DEPRECATED.get(name, ("", ""))
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
