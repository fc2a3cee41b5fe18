"""The plugin's settings: one name each as command-line option, pytest ini key and variable.

Precedence, highest first: the command line, the environment, the pytest ini file (``pytest.ini``,
``[tool.pytest.ini_options]``, ...), the default. Resolved once per session into
:class:`TestSettings`; a bad value is reported when a fixture first needs the server, so a
session that uses no database fixture is never stopped by it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .servers import DEFAULT_DOCKER_IMAGE, EMBEDDED, KINDS

if TYPE_CHECKING:
    import pytest

# name -> (command-line option, environment variable, default, help)
OPTIONS: dict[str, tuple[str, str, str | None, str]] = {
    "mig_server": ("--mig-server", "MIG_TEST_SERVER", EMBEDDED,
                   "where test databases live: embedded (default: a throw-away local server), "
                   "url (an existing server, see --mig-url) or docker (a testcontainers "
                   "container)"),
    "mig_url": ("--mig-url", "MIG_TEST_URL", None,
                "URL of an existing server's maintenance database, for --mig-server url; mig "
                "creates and drops only databases named mig_* there"),
    "mig_docker_image": ("--mig-docker-image", "MIG_TEST_DOCKER_IMAGE", DEFAULT_DOCKER_IMAGE,
                         f"PostgreSQL image for --mig-server docker (default "
                         f"{DEFAULT_DOCKER_IMAGE})"),
    "mig_server_bin": ("--mig-server-bin", "MIG_SERVER_BIN", None,
                       "folder of the PostgreSQL binaries the embedded test server runs "
                       "(e.g. /usr/lib/postgresql/15/bin; default: server_bin in [mig] of the "
                       "project's yoyo.ini, else the embedded package's)"),
    "mig_seed_env": ("--mig-seed-env", "MIG_TEST_SEED_ENV", None,
                     "seed environment loaded on top of seeds/base into the template "
                     "(default: base only)"),
    "mig_pool_size": ("--mig-pool-size", "MIG_TEST_POOL_SIZE", "4",
                      "test databases kept cloned ahead of the tests that take mig_db, per "
                      "process (default 4; 0: each test's database is cloned when it starts)"),
}


@dataclass(frozen=True)
class TestSettings:
    """The plugin's settings for one session."""

    __test__ = False  # not a test class, whatever its name

    server: str = EMBEDDED
    url: str | None = None
    docker_image: str = DEFAULT_DOCKER_IMAGE
    seed_env: str | None = None
    server_bin: str | None = None
    pool_size: str = "4"
    origins: Mapping[str, str] | None = None  # setting -> where its value came from

    def check(self) -> TestSettings:
        """Raise :class:`ConfigError` for a server kind mig does not know."""
        if self.server not in KINDS:
            origin = (self.origins or {}).get("mig_server", "mig_server")
            raise ConfigError(
                f"mig_server must be one of {', '.join(KINDS)}, got {self.server!r} "
                f"(from {origin})"
            )
        self.pool_limit()
        return self

    def pool_limit(self) -> int:
        """``pool_size`` as a number, or :class:`ConfigError` if it is not one (≥ 0)."""
        text = self.pool_size.strip()
        if not text.isdigit():
            origin = (self.origins or {}).get("mig_pool_size", "mig_pool_size")
            raise ConfigError(
                f"mig_pool_size must be a whole number of databases (0 or more), got "
                f"{self.pool_size!r} (from {origin})",
                hint="e.g. --mig-pool-size 4; 0 turns the pool off",
            )
        return int(text)


def add_options(parser: pytest.Parser) -> None:
    """Register the command-line options and ini keys (``pytest_addoption``)."""
    group = parser.getgroup("mig", "mig test databases")
    for name, (flag, var, default, text) in OPTIONS.items():
        group.addoption(flag, dest=name, default=None, help=f"{text} [env {var}, ini {name}]")
        parser.addini(name, f"{text} [{flag}, env {var}]", default=default)


def resolve(config: pytest.Config, env: Mapping[str, str] | None = None) -> TestSettings:
    """The settings from a pytest ``config``, the environment and the ini file."""
    env = os.environ if env is None else env
    values: dict[str, str | None] = {}
    origins: dict[str, str] = {}
    for name, (flag, var, default, _) in OPTIONS.items():
        value, origin = config.getoption(name), flag
        if value is None and env.get(var):
            value, origin = env[var], var
        if value is None:
            ini = config.getini(name)
            value, origin = (ini or None), f"ini {name}" if ini != default else "default"
        values[name] = value.strip() if isinstance(value, str) else value
        origins[name] = origin
    return TestSettings(
        server=values["mig_server"] or EMBEDDED,
        url=values["mig_url"],
        docker_image=values["mig_docker_image"] or DEFAULT_DOCKER_IMAGE,
        seed_env=values["mig_seed_env"],
        server_bin=values["mig_server_bin"],
        pool_size=values["mig_pool_size"] or "4",
        origins=origins,
    )
