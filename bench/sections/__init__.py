"""Benchmark sections, in the order the report shows them."""

from __future__ import annotations

from . import concurrency, data, migrations, seeds

SECTIONS = [
    ("apply", migrations.apply_section),
    ("noop", migrations.noop_section),
    ("seeds", seeds.section),
    ("data", data.section),
    ("concurrency", concurrency.section),
]
