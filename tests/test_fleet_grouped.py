"""A fleet target's pending migrations commit together with their records (grouped commits),
as on one database: all of a group or, when one fails, each before it on its own."""

from __future__ import annotations

import mig
from mig import fleet
from tests.support import CHAIN_OF_THREE, query, write_project
from tests.support.server import create_database, drop_database


def _fleet_at_first(pg_server, tmp_path, files: dict[str, str]):
    """Two databases with 0001_a applied, and the settings and targets of a fleet of them."""
    project = write_project(tmp_path / "project", files)
    names = [create_database(pg_server) for _ in range(2)]
    for name in names:
        mig.apply(mig.resolve(database=pg_server.url(name), project_dir=project), to="0001_a")
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(pg_server.url(n) + "\n" for n in names))
    settings = mig.resolve(database=pg_server.url(names[0]), project_dir=project)
    return names, settings, fleet.load(str(listing), settings.database)


def test_a_targets_pending_migrations_and_records_commit_in_one_transaction(
        pg_server, tmp_path) -> None:
    names, settings, targets = _fleet_at_first(pg_server, tmp_path, CHAIN_OF_THREE)
    try:
        summary = fleet.apply(settings, targets,
                              fleet.FleetOptions(jobs=2, journal=tmp_path / "j.jsonl"))
        assert summary.ok and summary.outcomes["applied"] == 2
        for name in names:
            url = pg_server.url(name)
            # one transaction wrote both migrations' records (and not 0001's)
            rows = query(url, "SELECT migration_id, xmin::text FROM _mig_migrations"
                              " ORDER BY migration_id")
            assert [r[0] for r in rows] == ["0001_a", "0002_b", "0003_c"]
            assert rows[1][1] == rows[2][1] != rows[0][1], rows
            yoyo = query(url, "SELECT DISTINCT xmin::text FROM _yoyo_migration"
                              " WHERE migration_id IN ('0002_b', '0003_c')")
            assert yoyo == [(rows[1][1],)]
    finally:
        for name in names:
            drop_database(pg_server, name)


def test_a_failing_migration_of_a_group_leaves_those_before_it_applied_and_itself_not(
        pg_server, tmp_path) -> None:
    broken = {**CHAIN_OF_THREE,
              "0003_c.sql": "-- depends: 0002_b\nCREATE TABLE c (id nosuchtype);\n"}
    names, settings, targets = _fleet_at_first(pg_server, tmp_path, broken)
    try:
        summary = fleet.apply(settings, targets,
                              fleet.FleetOptions(jobs=2, journal=tmp_path / "j.jsonl"))
        assert summary.failed == 2
        assert all("0003_c" in error for error in summary.failures.values())
        for name in names:
            url = pg_server.url(name)
            assert query(url, "SELECT migration_id FROM _yoyo_migration ORDER BY 1") == [
                ("0001_a",), ("0002_b",)]
            assert query(url, "SELECT to_regclass('b') IS NOT NULL, to_regclass('c') IS NULL"
                         ) == [(True, True)]
    finally:
        for name in names:
            drop_database(pg_server, name)
