"""mig squash over the product's own history (its migrations and seeds, copied): a database
migrated before the squash stays clean, a fresh one built from the squashed history has the
same schema, data migrations are dropped or kept, and nothing is written without proof."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mig import commands
from mig.config import resolve
from mig.dsn import Dsn
from mig.engine.comparison import differences, read_schema
from mig.engine.connect import connect
from mig.errors import MigError, SquashRefused, UnknownMigration
from tests.support import copy_shipped_project, create_database, drop_database, run_mig

# The product's history up to its data migration (lowercase_emails, Python); the migration
# after it (the application role's privileges) stays.
TO = "20260209_090000_lowercase_emails"
DATA = "20260209_090000_lowercase_emails"
SQUASH = "20260128_104444_squash"
LAST = "20260212_120000_application_role_privileges"


@pytest.fixture
def project(tmp_path):
    return copy_shipped_project(tmp_path / "project")


@pytest.fixture
def other_db(pg_server):
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def settings_of(project, url):
    return resolve(database=url, project_dir=project, env={})


def schema_of(url):
    conn = connect(Dsn.parse(url), verb="test")
    try:
        return read_schema(conn, None, ("_yoyo_migration",))
    finally:
        conn.close()


def files(project):
    return sorted(p.name for p in (project / "migrations").iterdir())


def test_a_database_migrated_before_the_squash_stays_clean_and_a_fresh_one_is_equal(
        project, db_url, other_db, pg_server):
    old = settings_of(project, db_url)
    commands.apply(old)
    before = files(project)
    linted = {f.rule for f in commands.lint(old).findings}

    report = commands.squash(old, TO, scratch=pg_server.url())
    assert report.id == SQUASH and report.dropped == (DATA,) and report.kept == ()
    assert len(report.replaces) == 7 and report.replaces[-1] == DATA
    after = files(project)
    assert f"{SQUASH}.sql" in after and f"{SQUASH}.rollback.sql" in after
    assert not [name for name in after if name.startswith(("20260128_104444_users",
                                                            "20260209_090000"))]
    assert "20260212_120000_application_role_privileges.sql" in after
    assert len(before) - len(after) == 13 - 2  # 7 migrations (6 with rollbacks) for 2 files
    text = (project / "migrations" / f"{SQUASH}.sql").read_text()
    assert f"-- replaces: {' '.join(report.replaces)}" in text
    sums = (project / "migrations" / "mig.sum").read_text()
    assert SQUASH in sums and "20260128_104444_users" not in sums
    # lint finds in the squashed history no rule the old one did not break already
    assert {f.rule for f in commands.lint(old).findings} <= linted

    # the database migrated before the squash: no drift against the squashed history,
    # nothing pending or edited, apply runs nothing
    assert commands.diff(old, scratch=pg_server.url()).differences == []
    status = commands.status(old)
    assert status.pending == [] and status.edited == [], status.to_json()
    assert status.applied[0].id == SQUASH and status.applied[0].recorded == "squash"
    applied = commands.apply(old)
    assert applied.migrations == [] and applied.squashed == (SQUASH,)
    assert commands.status(old).current
    assert commands.apply(old).migrations == []

    # a fresh database from the squashed history: the same schema as the old history built
    fresh = settings_of(project, other_db)
    built = commands.apply(fresh)
    assert built.ids == [SQUASH, "20260212_120000_application_role_privileges"]
    assert differences(schema_of(db_url), schema_of(other_db)) == []
    # the seeds load on it
    assert commands.seed(fresh).totals().inserted > 0

    # and mig verify proves the squashed history (each rollback, from nothing)
    verified = commands.verify(fresh, scratch=pg_server.url())
    assert verified.ok and [m.id for m in verified.migrations][0] == SQUASH


def test_the_whole_history_squashed_with_its_data_migration_kept(project, db_url, other_db,
                                                                 pg_server):
    """Every migration of the product squashed, the data migration kept: it runs after the
    squash, and the schema is the old history's, privileges of the application role
    included."""
    commands.apply(settings_of(project, other_db))  # the old history
    settings = settings_of(project, db_url)
    report = commands.squash(settings, LAST, keep=[DATA], scratch=pg_server.url())
    assert report.kept == (DATA,) and report.dropped == ()
    assert DATA not in report.replaces and len(report.replaces) == 7
    assert sorted(files(project)) == sorted(
        [f"{SQUASH}.sql", f"{SQUASH}.rollback.sql", f"{DATA}.py", "mig.sum"])
    built = commands.apply(settings)
    assert built.ids == [SQUASH, DATA]
    assert differences(schema_of(other_db), schema_of(db_url)) == []
    # the database of the old history takes the squash without running anything
    old = settings_of(project, other_db)
    assert commands.status(old).current
    assert commands.apply(old).squashed == (SQUASH,)


def test_a_dry_run_proves_and_writes_nothing(project, pg_server, db_url):
    before = {p.name: p.read_bytes() for p in (project / "migrations").iterdir()}
    result = run_mig(["squash", "--to", TO, "--dry-run", "--json", "--scratch-server",
                      pg_server.url(), "-d", db_url], cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["id"] == SQUASH and data["dry_run"] is True
    assert data["dropped"] == [DATA] and "CREATE TABLE" in data["sql"]
    assert {p.name: p.read_bytes() for p in (project / "migrations").iterdir()} == before


def test_an_unknown_target_or_keep_is_named_with_the_nearest(project, pg_server):
    settings = settings_of(project, None)
    with pytest.raises(UnknownMigration) as info:
        commands.squash(settings, "20260209_090000_lowercase_email", scratch=pg_server.url())
    assert "(did you mean '20260209_090000_lowercase_emails'?)" in info.value.message
    with pytest.raises(MigError) as kept:
        commands.squash(settings, TO, keep=["20260128_104444_users"], scratch=pg_server.url())
    assert "--keep 20260128_104444_users: it changes the schema" in kept.value.message
    result = run_mig(["squash", "--to", "2026020_lowercase_emails"], cwd=project)
    assert result.returncode != 0 and "did you mean" in result.stderr


def test_a_squash_that_does_not_build_the_same_schema_writes_nothing(project, pg_server,
                                                                      monkeypatch):
    """A generator that loses a statement (here: the last index it renders) is caught by the
    proof on a fresh scratch database: exit 5, the difference named, no file touched."""
    from mig.commands import squashing
    from mig.engine.generate import plan

    def lossy(*args, **kwargs):
        rendered = plan(*args, **kwargs)
        last = max(i for i, s in enumerate(rendered.up) if s.sql.startswith("CREATE INDEX"))
        return dataclasses.replace(rendered, up=rendered.up[:last] + rendered.up[last + 1:])

    monkeypatch.setattr(squashing, "plan", lossy)
    before = {p.name: p.read_bytes() for p in (project / "migrations").iterdir()}
    with pytest.raises(SquashRefused) as info:
        commands.squash(settings_of(project, None), TO, scratch=pg_server.url())
    assert "does not build what the history builds" in info.value.message
    assert info.value.exit_code == 5
    assert [d["change"] for d in info.value.differences] == ["missing"]
    assert {p.name: p.read_bytes() for p in (project / "migrations").iterdir()} == before


def test_a_squashed_history_squashed_again(project, db_url, other_db, pg_server):
    """The second squash replaces the first, under an id of its own: a database that took the
    first takes the second; what the first replaced stays known (a later migration's
    dependency on one of those stands for the new squash)."""
    settings = settings_of(project, None)
    commands.squash(settings, TO, scratch=pg_server.url())
    took_first = settings_of(project, other_db)
    commands.apply(took_first)
    second = commands.squash(settings, LAST, scratch=pg_server.url())
    assert second.id == f"{SQUASH}_2" and second.replaces == (SQUASH, LAST)
    text = (project / "migrations" / f"{SQUASH}_2.sql").read_text()
    assert f"-- replaces: {SQUASH} {LAST}" in text
    assert "-- also-replaces: 20260128_104444_users " in text
    assert not (project / "migrations" / f"{SQUASH}.sql").exists()
    assert commands.apply(took_first).squashed == (f"{SQUASH}_2",)
    assert commands.status(took_first).current
    fresh = settings_of(project, db_url)
    assert commands.apply(fresh).ids == [f"{SQUASH}_2"]
    assert differences(schema_of(other_db), schema_of(db_url)) == []
