"""``seed``: the YAML fixtures under ``seeds/`` loaded into a database at the newest migration."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg2

from ..config import Settings
from ..engine.connect import session
from ..engine.lock import locked_connection
from ..errors import ConnectionLost, MigError
from ..reports import Line, Reporter, reporter
from .deploy import require_head

if TYPE_CHECKING:
    from ..seeds.report import SeedReport


def seed(settings: Settings, *, env: str | None = None, prune: bool = False,
         dry_run: bool = False, report: Reporter | Line | None = None) -> SeedReport:
    """Load ``seeds/base/`` (and ``seeds/<env>/``) into a database at the newest migration.

    :returns: a :class:`mig.seeds.SeedReport` with real per-table counts.
    :raises NotAtHead: migrations are pending or edited (seed data follows the schema).
    :raises SeedError: a fixture problem (all of them, with file and line); nothing written.
    :raises LockTimeout: an apply or rollback held the migration lock past ``lock_wait``.
    :raises ConnectionLost: the connection was lost; nothing of the run was written.
    """
    from ..seeds import load_seeds

    if dry_run:
        require_head(settings)
        with session(settings, "seed --dry-run") as conn:
            return load_seeds(conn, settings.seeds_dir, env, prune=prune, dry_run=True,
                              cache=settings.seed_cache)
    # Under the migration lock (waited for outside any transaction, as apply waits): a seed
    # never writes into a schema an apply or rollback is changing, and the schema it checked
    # is the one it writes into.
    with locked_connection(settings, "seed", reporter(report)) as (_, conn):
        require_head(settings)
        try:
            return load_seeds(conn, settings.seeds_dir, env, prune=prune, dry_run=False,
                              cache=settings.seed_cache)
        except (psycopg2.Error, MigError) as exc:
            if not conn.closed:
                raise
            cause = exc.message if isinstance(exc, MigError) else str(exc)
            cause = "; ".join(line.strip() for line in cause.splitlines() if line.strip())
            raise ConnectionLost(
                f"lost the connection to the database while loading seeds: {cause}\n"
                "  nothing of this seed run was written (it loads in one transaction that never"
                " committed)", hint="check why the server went away (its log), then run"
                " 'mig seed' again") from None
