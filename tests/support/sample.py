"""A small project in mig's layout, for the plugin and mig.testing tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

ITEMS = """
CREATE TABLE items (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    deleted_at timestamptz
);
"""
TAGS = "CREATE TABLE tags (name text PRIMARY KEY);"


def write_sample(root: Path, marker: str = "") -> Path:
    """A project in mig's layout: two migrations, base seeds and a 'test' environment."""
    files = {
        "yoyo.ini": "[DEFAULT]\nsources = %(here)s/migrations\n",
        "migrations/20260101_000001_items.sql": f"-- {marker}\n{ITEMS}",
        "migrations/20260101_000001_items.rollback.sql": "DROP TABLE items;\n",
        "migrations/20260101_000002_tags.sql": TAGS + "\n",
        "migrations/20260101_000002_tags.rollback.sql": "DROP TABLE tags;\n",
        "seeds/base/010_items.yaml": "table: items\nkey: name\nrows:\n  - name: alpha\n"
                                     "  - name: beta\n",
        "seeds/test/010_items.yaml": "table: items\nkey: name\nrows:\n  - name: gamma\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


SEED_ENV_INI = "[pytest]\nmig_seed_env = test\n"
