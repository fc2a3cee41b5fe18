"""A target's settings: the fleet's, pointed at the target's database (and schema), its TLS
secured as for a single database; and how many targets run at once by default."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings

from .. import tls
from ..config import InsecureTLSWarning, Settings
from ..errors import ConfigError, MigError
from .run import cores
from .targets import Target


def target_settings(settings: Settings, target: Target) -> Settings:
    """The settings of one target: the fleet's, pointed at the target's database (and schema)."""
    return dataclasses.replace(
        settings, database=target.dsn, database_source="fleet", schema=target.schema,
        password_file=target.password_file or settings.password_file)


def secured(settings: Settings, target: Target) -> Target:
    """The target with the run's TLS settings written in and, for a host that is not local,
    verified TLS unless its ``sslmode`` is set (as for a single database); refused (naming
    the target) when the production profile would not verify its server. An explicit weaker
    ``sslmode`` for such a host warns (:class:`mig.InsecureTLSWarning`)."""
    dsn = tls.with_settings(target.dsn, dict(settings.tls))
    dsn, weaker = tls.verified_by_default(dsn, os.environ)
    for text in weaker:
        warnings.warn(f"target {target.name}: {text.removeprefix('warning: ')}",
                      InsecureTLSWarning, stacklevel=2)
    try:
        tls.check(settings.profile, dsn, os.environ, allow_insecure=settings.allow_insecure_tls)
    except ConfigError as exc:
        raise ConfigError(f"target {target.name}: {exc.message}", hint=exc.hint) from None
    return dataclasses.replace(target, dsn=dsn)


def default_jobs(settings: Settings, targets: list[Target]) -> int:
    """Four times the cores (a target mostly waits for its server: a new connection, a server
    process started for it, a few queries), at most half the connections the first target's
    server has free, and at most the number of targets."""
    jobs = 4 * cores()
    with contextlib.suppress(MigError):
        from ..engine.connect import connect, open_database

        conn = connect(open_database(target_settings(settings, targets[0])), verb="fleet")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_setting('max_connections')::int"
                            " - current_setting('superuser_reserved_connections')::int"
                            " - (SELECT count(*) FROM pg_stat_activity"
                            "    WHERE backend_type = 'client backend')")
                row = cur.fetchone()
                free = int(row[0]) if row else jobs
        finally:
            conn.close()
        jobs = min(jobs, max(1, free // 2))
    return max(1, min(jobs, len(targets)))
