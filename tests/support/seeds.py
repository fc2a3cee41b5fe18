"""Fixtures and helpers shared by the seed tests: scratch schemas, seeding, counting."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import psycopg2

from mig import commands
from mig.config import resolve
from mig.seeds import SeedReport, load_seeds

from .project import REPO, query

FIXTURES = REPO / "tests" / "fixtures" / "seeds"

# Scratch tables of the engine tests: every column kind the seed layer has to handle, a
# nullable natural-key column, a composite reference, soft delete and a table without it.
SCRATCH_SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE teams (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL,
    region text,
    name varchar(20) NOT NULL,
    deleted_at timestamptz,
    CONSTRAINT teams_slug_format CHECK (slug ~ '^[a-z]+$')
);
CREATE UNIQUE INDEX teams_live_key ON teams (slug, region) WHERE deleted_at IS NULL;
CREATE TABLE players (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id uuid NOT NULL REFERENCES teams (id),
    nick text NOT NULL,
    score int NOT NULL DEFAULT 0,
    rating numeric,
    active boolean NOT NULL DEFAULT true,
    tags text[] NOT NULL DEFAULT '{}',
    profile jsonb,
    legacy json,
    mood mood,
    born date,
    seen_at timestamptz,
    ip inet,
    secret_token text,
    nick_upper text GENERATED ALWAYS AS (upper(nick)) STORED,
    CONSTRAINT players_score_positive CHECK (score >= 0),
    UNIQUE (team_id, nick)
);
"""


def apply_product_schema(url: str) -> str:
    """Bring the database at ``url`` to the newest product migration, with the engine."""
    commands.apply(resolve(database=url, project_dir=REPO, env={}))
    return url


# A fixture over the scratch schema: a two-column natural key, owned rows, a NULL key part.
TEAMS = """
    table: teams
    key: [slug, region]
    owned: {where: {region: eu}}
    rows:
      - {slug: lions, region: eu, name: Lions}
      - {slug: tigers, region: eu, name: Tigers}
      - {slug: bears, region: null, name: Bears}
"""


def create_scratch_schema(url: str) -> str:
    execute(url, SCRATCH_SCHEMA)
    return url


def execute(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    return query(url, statement, params)


def seed(url: str, seeds_dir: Path | str, env: str | None = None, **kwargs: Any) -> SeedReport:
    conn = psycopg2.connect(url)
    try:
        return load_seeds(conn, seeds_dir, env, **kwargs)
    finally:
        conn.close()


def write_seeds(root: Path, files: dict[str, str]) -> Path:
    """A seeds folder with the given files (relative path -> YAML, dedented)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    (root / "base").mkdir(parents=True, exist_ok=True)
    return root


def versions(url: str, table: str, key: str) -> dict[Any, str]:
    """Row version (xmin) of every row, by the given key expression."""
    return dict(execute(url, f"SELECT {key}, xmin::text FROM {table}"))


def counts(report: SeedReport) -> dict[str, tuple[int, int, int, int]]:
    return {name: (c.inserted, c.updated, c.unchanged, c.deleted)
            for name, c in report.tables.items()}


def row_count(url: str, *tables: str) -> int:
    return sum(execute(url, f"SELECT count(*) FROM {t}")[0][0] for t in tables)
