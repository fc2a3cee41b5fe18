"""Seed data: declarative YAML fixtures, validated before writing, loaded idempotently.

``load_seeds(conn, "seeds", env="dev")`` loads ``seeds/base/`` and ``seeds/dev/`` into the
database of a psycopg2 connection and returns a :class:`SeedReport`. The format, the load order,
environments, pruning and secrets are described in ``docs/seeds.md``.
"""

from .cache import SeedCache
from .files import fixture_paths, read_fixtures
from .load import SEED_LOCK, describe_problem, load_seeds
from .model import Fixture
from .report import RowAction, SeedReport, TableCounts

__all__ = [
    "SEED_LOCK",
    "Fixture",
    "SeedCache",
    "RowAction",
    "SeedReport",
    "TableCounts",
    "describe_problem",
    "fixture_paths",
    "load_seeds",
    "read_fixtures",
]
