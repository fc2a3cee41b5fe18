"""``seed``: the YAML fixtures under ``seeds/`` loaded into a database at the newest migration."""

from __future__ import annotations

from ..config import Settings
from ..engine.connect import connect, resolve_dsn
from .deploy import require_head
from .migrate import Report


def seed(settings: Settings, *, env: str | None = None, prune: bool = False,
         dry_run: bool = False, report: Report | None = None):
    """Load ``seeds/base/`` (and ``seeds/<env>/``) into a database at the newest migration.

    :returns: a :class:`mig.seeds.SeedReport` with real per-table counts.
    :raises NotAtHead: migrations are pending or edited (seed data follows the schema).
    :raises SeedError: a fixture problem (all of them, with file and line); nothing written.
    """
    from ..seeds import load_seeds

    require_head(settings)
    conn = connect(resolve_dsn(settings), verb="seed")
    try:
        return load_seeds(conn, settings.seeds_dir, env, prune=prune, dry_run=dry_run,
                          cache=settings.seed_cache)
    finally:
        conn.close()
