"""A squashed history on databases that applied the migrations it replaced: the squash is
recorded as applied without running, a database part way through them is refused, a fresh one
runs it, and a kept migration depending on a replaced one comes after the squash."""

from __future__ import annotations

import json

import pytest

from mig import commands
from mig.commands.state import at_head
from mig.config import resolve
from mig.disk.scripts import scan
from mig.errors import MigError, Refused, SquashRefused
from tests.support import (
    create_database,
    drop_database,
    query,
    run_mig,
    tables,
    write_project,
)

OLD = {
    "0001_a.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0002_b.sql": "-- depends: 0001_a\nCREATE TABLE b (id int REFERENCES a);\n",
    "0002_b.rollback.sql": "DROP TABLE b;\n",
    # a data migration that is kept: it depends on a replaced migration
    "0003_fill.sql": "-- depends: 0002_b\nINSERT INTO a VALUES (1);\n",
    "0003_fill.rollback.sql": "DELETE FROM a WHERE id = 1;\n",
    "0004_c.sql": "-- depends: 0003_fill\nCREATE TABLE c (id int);\n",
    "0004_c.rollback.sql": "DROP TABLE c;\n",
}

# What 'mig squash --to 0002_b --keep 0003_fill' writes (by hand here).
SQUASH = {
    "0001_squash.sql": "-- replaces: 0001_a 0002_b\nCREATE TABLE a (id int PRIMARY KEY);\n"
                       "CREATE TABLE b (id int REFERENCES a);\n",
    "0001_squash.rollback.sql": "DROP TABLE b;\nDROP TABLE a;\n",
}


def squash_files(project):
    for name in ("0001_a.sql", "0001_a.rollback.sql", "0002_b.sql", "0002_b.rollback.sql"):
        (project / "migrations" / name).unlink()
    write_project(project, SQUASH)


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, OLD)


@pytest.fixture
def other_db(pg_server):
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def settings_of(project, url):
    return resolve(database=url, project_dir=project, env={})


def test_a_database_that_applied_the_old_history_records_the_squash_without_running_it(
        project, db_url, pg_server):
    settings = settings_of(project, db_url)
    commands.apply(settings)
    squash_files(project)

    # its schema is what the squashed history builds
    assert commands.diff(settings, scratch=pg_server.url()).differences == []

    status = commands.status(settings)
    assert status.pending == [] and status.edited == [], status.to_json()
    assert [(a.id, a.recorded) for a in status.applied] == [
        ("0001_squash", "squash"), ("0003_fill", "run"), ("0004_c", "run")]
    assert "squash of applied migrations ('mig apply' records it)" in "\n".join(status.lines())

    dry = commands.apply(settings, dry_run=True)
    assert dry.squashed == ("0001_squash",) and dry.migrations == []
    report = commands.apply(settings)
    assert report.squashed == ("0001_squash",) and report.migrations == []
    assert report.to_json()["squashed"] == ["0001_squash"]
    # nothing ran: the row the kept data migration inserted is there once
    assert query(db_url, "SELECT count(*) FROM a") == [(1,)]

    # the records are those of a database built from the squashed history, in its order
    assert [r[0] for r in query(db_url, "SELECT migration_id FROM _yoyo_migration"
                                " ORDER BY applied_at_utc")] == [
        "0001_squash", "0003_fill", "0004_c"]
    status = commands.status(settings)
    assert status.current and status.applied[0].recorded == "squash"
    assert status.applied[0].recorded_at is not None
    assert at_head(settings, scan(settings.sources)[0]) is not None
    again = commands.apply(settings)
    assert again.migrations == [] and again.squashed == ()

    # the log says what it replaced; the old applies stay in the history
    [(detail,)] = query(db_url, "SELECT detail FROM _mig_log WHERE operation = 'squash'")
    assert [r["id"] for r in json.loads(detail)["replaces"]] == ["0001_a", "0002_b"]
    history = commands.history(settings)
    assert {"0001_a", "0002_b", "0001_squash"} <= {e.migration for e in history.events}

    # the CLI says the same
    result = run_mig(["status", "-d", db_url], cwd=project)
    assert result.returncode == 0 and "squashed" in result.stdout, result.stdout


def test_a_fresh_database_runs_the_squash_then_the_kept_migration(project, db_url):
    squash_files(project)
    settings = settings_of(project, db_url)
    report = commands.apply(settings)
    assert report.ids == ["0001_squash", "0003_fill", "0004_c"]
    assert report.squashed == ()
    assert {"a", "b", "c"} <= tables(db_url)
    # and back: the squash's rollback drops what it built
    commands.rollback(settings, all_applied=True, yes=True)
    assert not {"a", "b", "c"} & tables(db_url)


def test_a_database_part_way_through_the_replaced_migrations_is_refused(project, db_url):
    settings = settings_of(project, db_url)
    commands.apply(settings, to="0001_a")
    squash_files(project)
    for dry_run in (True, False):
        with pytest.raises(Refused) as info:
            commands.apply(settings, dry_run=dry_run)
        assert "0001_squash squashes migrations this database applied only some of" \
            in info.value.message
        assert "not applied 0002_b" in info.value.message
        assert "apply the release from before the squash first" in info.value.hint
    assert "b" not in tables(db_url)
    status = commands.status(settings)
    assert status.part_squashed == (
        "0001_squash replaces migrations this database applied only some of: applied 0001_a;"
        " not applied 0002_b",)
    assert "'mig apply' refuses it" in "\n".join(status.lines())
    assert status.to_json()["part_squashed"] == list(status.part_squashed)
    result = run_mig(["apply", "-d", db_url], cwd=project)
    assert result.returncode != 0 and "applied only some of" in result.stderr


def test_rolling_back_an_adopted_squash_takes_back_what_the_old_history_built(project,
                                                                                 db_url):
    settings = settings_of(project, db_url)
    commands.apply(settings)
    squash_files(project)
    commands.apply(settings)
    back = commands.rollback(settings, all_applied=True, yes=True)
    assert back.ids == ["0004_c", "0003_fill", "0001_squash"]
    assert not {"a", "b", "c"} & tables(db_url)
    assert query(db_url, "SELECT count(*) FROM _yoyo_migration") == [(0,)]


def test_every_schema_is_squashed_and_a_narrower_squash_is_refused(tmp_path, pg_server):
    """By default the squash renders every schema the history builds; narrowed with
    ``schema``, objects the history builds elsewhere would be lost: refused, nothing
    written."""
    project = write_project(tmp_path, {
        "0001_a.sql": "CREATE TABLE a (id int);\n",
        "0002_b.sql": "CREATE SCHEMA billing;\nCREATE TABLE billing.invoices (id int);\n",
        "0003_c.sql": "CREATE TABLE c (id int);\n"})
    settings = settings_of(project, None)
    before = sorted(p.name for p in (project / "migrations").iterdir())
    with pytest.raises(SquashRefused) as info:
        commands.squash(settings, "0002_b", schema="public", scratch=pg_server.url())
    assert "build objects in schema(s) billing too" in info.value.message
    assert sorted(p.name for p in (project / "migrations").iterdir()) == before

    report = commands.squash(settings, "0002_b", scratch=pg_server.url())
    assert report.replaces == ("0001_a", "0002_b")
    text = (project / "migrations" / "0001_squash.sql").read_text()
    assert "CREATE SCHEMA billing" in text and "billing.invoices" in text


def test_a_keep_that_leaves_nothing_to_squash_is_refused(tmp_path, pg_server):
    project = write_project(tmp_path, {
        "0001_fill.sql": "INSERT INTO pg_temp.nothing VALUES (1);\n",
        "0002_a.sql": "CREATE TABLE a (id int);\n"})
    with pytest.raises(MigError) as info:
        commands.squash(settings_of(project, None), "0001_fill", keep=["0001_fill"],
                        scratch=pg_server.url())
    assert "nothing to squash up to 0001_fill" in info.value.message


def test_a_second_squash_is_taken_by_a_database_that_took_the_first(project, db_url,
                                                                     other_db):
    """A database that recorded the first squash takes a second one over it; one that never
    ran 'mig apply' between the two is refused as part way (docs/adopt.md)."""
    settings = settings_of(project, db_url)
    commands.apply(settings)
    squash_files(project)
    commands.apply(settings)  # the first squash recorded
    folder = project / "migrations"
    for name in ("0001_squash.sql", "0001_squash.rollback.sql", "0004_c.sql",
                 "0004_c.rollback.sql"):
        (folder / name).unlink()
    write_project(project, {
        "0000_squash.sql": "-- replaces: 0001_squash 0004_c\n-- also-replaces: 0001_a 0002_b\n"
                           "CREATE TABLE a (id int PRIMARY KEY);\n"
                           "CREATE TABLE b (id int REFERENCES a);\nCREATE TABLE c (id int);\n",
        "0000_squash.rollback.sql": "DROP TABLE c;\nDROP TABLE b;\nDROP TABLE a;\n"})
    status = commands.status(settings)
    assert status.pending == [] and status.edited == [], status.to_json()
    assert commands.apply(settings).squashed == ("0000_squash",)
    assert commands.status(settings).current
    # a fresh database: the kept migration's dependency on 0002_b stands for the new squash
    fresh = settings_of(project, other_db)
    assert commands.apply(fresh).ids == ["0000_squash", "0003_fill"]
