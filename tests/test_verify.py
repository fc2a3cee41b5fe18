"""``mig verify``: the shipped migrations pass; a rollback that leaves something behind fails
with a readable difference naming the migration."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mig import RollbackMismatch, SchemaDrift
from mig.cli import cli
from mig.commands.verification import verify
from mig.config import resolve
from mig.disk.scripts import load as load_scripts
from mig.engine.scratch import SCRATCH_PREFIX
from mig.errors import MigrationError
from mig.server import FAST_UNSAFE_SETTINGS, LocalServer
from tests.support import MIGRATIONS, PG15_BINDIR, query, run_mig, write_project

WIDGETS = {
    "0001_widgets.sql": "CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL);\n",
    "0001_widgets.rollback.sql": "DROP TABLE widgets;\n",
}


def scratch_databases(url: str) -> list[str]:
    rows = query(
        url, "SELECT datname FROM pg_database WHERE datname LIKE %s", (SCRATCH_PREFIX + "%",)
    )
    return [r[0] for r in rows]


def test_the_shipped_migrations_verify(pg_server) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    report = verify(resolve(sources=[MIGRATIONS]), scratch=pg_server.url(), report=lines.append)
    ids = [script.id for script in load_scripts((MIGRATIONS,))[0]]
    assert len(ids) >= 6
    assert [m.id for m in report.migrations] == ids
    for entry in report.migrations:
        assert entry.checks == ("rollback", "reapply", "chain rollback", "chain reapply")
    assert "ok: the whole chain rolls back to the empty schema" in lines
    assert scratch_databases(pg_server.url()) == []


def test_a_rollback_that_forgets_an_index_fails_naming_the_migration(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = write_project(
        tmp_path,
        {
            **WIDGETS,
            "0002_widget_prices.sql": "-- depends: 0001_widgets\n"
            "ALTER TABLE widgets ADD COLUMN price bigint;\n"
            "CREATE INDEX widgets_name_idx ON widgets (name);\n",
            "0002_widget_prices.rollback.sql": "ALTER TABLE widgets DROP COLUMN price;\n",
        },
    )
    with pytest.raises(RollbackMismatch) as caught:
        verify(resolve(sources=[project / "migrations"]), scratch=pg_server.url())
    err = caught.value
    assert isinstance(err, SchemaDrift)  # the earlier name still catches it
    assert err.migration_id == "0002_widget_prices"
    assert err.phase == "rollback"
    assert err.diff == [
        "+ index widgets_name_idx: CREATE INDEX widgets_name_idx ON public.widgets"
        " USING btree (name)"
    ]
    message = str(err)
    assert message.startswith("0002_widget_prices: rolling back did not restore the schema")
    assert "+ index widgets_name_idx" in message
    assert "hint: make the rollback undo exactly what the migration does" in message
    assert scratch_databases(pg_server.url()) == []


def test_a_rollback_that_forgets_a_column_default_fails(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = write_project(
        tmp_path,
        {
            **WIDGETS,
            "0002_default_name.sql": "-- depends: 0001_widgets\n"
            "ALTER TABLE widgets ALTER COLUMN name SET DEFAULT 'unnamed';\n"
            "COMMENT ON TABLE widgets IS 'Things we sell';\n",
            "0002_default_name.rollback.sql": "COMMENT ON TABLE widgets IS NULL;\n",
        },
    )
    with pytest.raises(RollbackMismatch) as caught:
        verify(resolve(sources=[project / "migrations"]), scratch=pg_server.url())
    assert caught.value.migration_id == "0002_default_name"
    assert caught.value.diff == [
        "- column widgets.name: text not null",
        "+ column widgets.name: text not null default 'unnamed'::text",
    ]


def test_a_shipped_rollback_missing_one_drop_is_caught(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    first = folder / "20260128_104444_users.rollback.sql"
    first.write_text(first.read_text().replace("DROP FUNCTION set_updated_at();", ""))
    with pytest.raises(RollbackMismatch) as caught:
        verify(resolve(sources=[folder]), scratch=pg_server.url())
    err = caught.value
    assert err.migration_id == "20260128_104444_users"
    assert err.diff[0].startswith("+ function set_updated_at(): CREATE OR REPLACE FUNCTION")
    assert err.diff[1].startswith("+ grant function set_updated_at(): {")
    assert "20260128_104444_users.rollback.sql" in str(err)


def test_a_migration_without_a_rollback_file_is_refused(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = write_project(tmp_path, {"0001_widgets.sql": WIDGETS["0001_widgets.sql"]})
    with pytest.raises(MigrationError, match=r"0001_widgets has no rollback file"):
        verify(resolve(sources=[project / "migrations"]), scratch=pg_server.url())


def test_keep_leaves_the_scratch_database(pg_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = write_project(tmp_path, WIDGETS)
    report = verify(resolve(sources=[project / "migrations"]), scratch=pg_server.url(), keep=True)
    kept = report.database.rsplit("/", 1)[1]
    assert kept.startswith(SCRATCH_PREFIX) and report.kept
    assert query(pg_server.url(kept), "SELECT count(*) FROM widgets") == [(0,)]
    query(pg_server.url(), f'DROP DATABASE "{kept}" WITH (FORCE)')


def test_the_cli_exits_non_zero_with_the_diff(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = write_project(
        tmp_path,
        {
            **WIDGETS,
            "0002_index.sql": "-- depends: 0001_widgets\n"
            "CREATE INDEX widgets_name_idx ON widgets (name);\n",
            "0002_index.rollback.sql": "-- forgets the index\nSELECT 1;\n",
        },
    )
    result = run_mig(["verify", "-d", pg_server.url()], cwd=project)
    assert result.returncode == 1
    assert "ok 0001_widgets" in result.stderr
    assert "error: 0002_index: rolling back did not restore the schema" in result.stderr
    assert "+ index widgets_name_idx: CREATE INDEX widgets_name_idx" in result.stderr

    (project / "migrations" / "0002_index.rollback.sql").write_text(
        "DROP INDEX widgets_name_idx;\n"
    )
    result = run_mig(["verify", "-d", pg_server.url()], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "verified 2 migration(s)" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not PG15_BINDIR.is_dir(), reason="PostgreSQL 15 is not installed")
def test_the_shipped_migrations_verify_on_postgresql_15(tmp_path: Path) -> None:
    server = LocalServer(tmp_path / "pg15", bindir=PG15_BINDIR, settings=FAST_UNSAFE_SETTINGS)
    server.start()
    try:
        report = verify(resolve(sources=[MIGRATIONS]), scratch=server.url())
        assert len(report.migrations) >= 6
        assert query(server.url(), "SHOW server_version_num")[0][0].startswith("15")
    finally:
        server.destroy()


def test_the_cli_reports_json(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = write_project(tmp_path, WIDGETS)
    result = CliRunner().invoke(
        cli, ["verify", "-q", "--json", "-d", pg_server.url(), "-c", str(project / "yoyo.ini")]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kept"] is False and data["database"].startswith("postgresql://")
    assert data["migrations"] == [
        {"id": "0001_widgets", "checks": ["rollback", "reapply", "chain rollback", "chain reapply"]}
    ]


def test_the_scratch_server_never_comes_from_the_environment(pg_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A DATABASE_URL in the environment (a CI job's, a production shell's) is not where the
    scratch database goes: --scratch-server, a -d given here, or the embedded server is."""
    project = write_project(tmp_path, WIDGETS)
    dead = {"DATABASE_URL": "postgresql://mig@127.0.0.1:1/app"}
    result = run_mig(["verify", "--scratch-server", pg_server.url()], cwd=project, env=dead)
    assert result.returncode == 0, result.stderr
    # with nothing given here: the project's embedded server, started for the run
    try:
        result = run_mig(["verify", "--json"], cwd=project, env=dead)
        assert result.returncode == 0, result.stderr
        assert ":1/" not in json.loads(result.stdout)["database"]
    finally:
        run_mig(["db", "stop"], cwd=project)
    assert not LocalServer(project / ".mig" / "pgdata").is_running()


def test_a_rollback_that_forgets_a_partition_or_another_schema_s_index_fails(  # type: ignore[no-untyped-def]
        pg_server, tmp_path) -> None:
    project = write_project(tmp_path, {
        "0001_events.sql": "CREATE SCHEMA audit;\n"
        "CREATE TABLE audit.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);\n",
        "0001_events.rollback.sql": "DROP SCHEMA audit CASCADE;\n",
        "0002_partition.sql": "-- depends: 0001_events\n"
        "CREATE TABLE audit.events_2024 PARTITION OF audit.events"
        " FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\n"
        "CREATE INDEX events_at ON audit.events (at);\n",
        # detaches instead of dropping, and forgets the partitioned table's index
        "0002_partition.rollback.sql": "ALTER TABLE audit.events DETACH PARTITION"
        " audit.events_2024;\n",
    })
    with pytest.raises(RollbackMismatch) as caught:
        verify(resolve(sources=[project / "migrations"]), scratch=pg_server.url())
    lines = caught.value.diff
    assert "+ table audit.events_2024: (id, at)" in lines, lines
    assert any(line.startswith("+ index audit.events_at: CREATE INDEX events_at ON ONLY"
                               " audit.events USING btree (at)") for line in lines), lines
