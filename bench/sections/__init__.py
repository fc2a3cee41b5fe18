"""Benchmark sections, in the order the report shows them."""

from __future__ import annotations

from . import (
    check,
    concurrency,
    corpus,
    data,
    fleet,
    generate,
    migrations,
    pool,
    release,
    seeds,
    tenants,
    testing,
)

SECTIONS = [
    ("apply", migrations.apply_section),
    ("release", release.section),
    ("noop", migrations.noop_section),
    ("check", check.section),
    ("generate", generate.section),
    ("corpus", corpus.section),
    ("seeds", seeds.section),
    ("testing", testing.section),
    ("pool", pool.section),
    ("data", data.section),
    ("concurrency", concurrency.section),
    ("fleet", fleet.section),
    ("fleet-history", fleet.history_section),
    ("tenants", tenants.section),
]
