"""mig current (the newest applied migration) and mig history (what happened, from the logs)."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone

import pytest

from mig import commands
from mig.commands.events import parse_since
from mig.config import resolve
from mig.errors import EXIT_USAGE, ConfigError
from tests.support import TWO_MIGRATIONS, query, run_mig, write_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, TWO_MIGRATIONS)


def test_current_is_the_newest_applied_migration_or_none(project, db_url):
    result = run_mig(["current", "-d", db_url], cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "none\n"
    assert json.loads(run_mig(["current", "-d", db_url, "--json"], cwd=project).stdout)[
        "migration"] is None

    assert run_mig(["apply", "-d", db_url], cwd=project).returncode == 0
    assert run_mig(["current", "-d", db_url], cwd=project).stdout == "0002_b\n"
    data = json.loads(run_mig(["current", "-d", db_url, "--json"], cwd=project).stdout)
    assert data["migration"] == "0002_b" and data["applied_by"]
    assert datetime.fromisoformat(data["applied_at"]) > datetime.now(timezone.utc) - timedelta(
        minutes=5)

    assert run_mig(["rollback", "-d", db_url], cwd=project).returncode == 0
    assert run_mig(["current", "-d", db_url, "-q"], cwd=project).stdout == "0001_a\n"


def test_history_tells_applies_rollbacks_and_repairs_with_who_where_and_how_long(
        project, db_url):
    settings = resolve(database=db_url, project_dir=project)
    assert commands.history(settings).events == ()  # nothing happened: no tables, no error
    commands.apply(settings)
    commands.rollback(settings)
    commands.apply(settings)
    (project / "migrations" / "0001_a.sql").write_text("CREATE TABLE a (id int);  -- edited\n")
    commands.repair(settings)

    events = commands.history(settings).events
    assert [(e.operation, e.migration) for e in events] == [
        ("apply", "0001_a"), ("apply", "0002_b"), ("rollback", "0002_b"), ("apply", "0002_b"),
        ("repair", "0001_a")]
    role = query(db_url, "SELECT current_user")[0][0]
    assert all(e.host == socket.gethostname() and e.os_user for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    # the applies that hold now carry the role and duration recorded with them
    first, _, rolled_back, again, repaired = events
    assert first.role == role and first.duration_ms is not None
    assert again.role == role and again.duration_ms is not None
    assert rolled_back.role == role and "checksum" in (repaired.detail or "")
    assert rolled_back.duration_ms is not None and repaired.duration_ms is None

    only_b = commands.history(settings, migration="0002_b").events
    assert [e.operation for e in only_b] == ["apply", "rollback", "apply"]
    assert commands.history(settings, since=repaired.at).events == (repaired,)
    assert commands.history(settings, since="1min").events == events

    result = run_mig(["history", "-d", db_url, "--id", "0001_a"], cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["WHEN", "(UTC)", "OPERATION", "MIGRATION", "BY", "FROM", "TOOK"]
    assert lines[2].split()[2:5] == ["apply", "0001_a", f"{role}/{first.os_user}"]
    assert lines[2].endswith(" ms") and "repair" in lines[3] and "checksum" in lines[4]

    data = json.loads(run_mig(["history", "-d", db_url, "--json"], cwd=project).stdout)
    assert [e["operation"] for e in data["events"]] == [e.operation for e in events]
    assert data["events"][0]["duration_ms"] == first.duration_ms

    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%d")
    result = run_mig(["history", "-d", db_url, "--since", future], cwd=project)
    assert result.returncode == 0 and result.stdout.splitlines()[-1].startswith("no events since")


def test_since_takes_dates_times_and_spans_and_refuses_anything_else(project, db_url):
    now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_since("2026-12-01T14:30+02:00") == datetime(2026, 12, 1, 12, 30,
                                                            tzinfo=timezone.utc)
    assert parse_since("7d", now=now) == datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    assert parse_since("30min", now=now) == datetime(2026, 12, 7, 11, 30, tzinfo=timezone.utc)
    with pytest.raises(ConfigError, match="not a time") as error:
        parse_since("yesterday")
    assert "7d" in error.value.hint
    result = run_mig(["history", "-d", db_url, "--since", "yesterday"], cwd=project)
    assert result.returncode == EXIT_USAGE and "--since 'yesterday': not a time" in result.stderr


def test_a_rollback_is_logged_with_how_long_it_took_and_an_older_log_gains_the_column(
        project, db_url):
    (project / "migrations" / "0002_b.rollback.sql").write_text(
        "SELECT pg_sleep(0.3);\nDROP TABLE b;\n")
    settings = resolve(database=db_url, project_dir=project)
    commands.apply(settings)
    commands.rollback(settings)
    (event,) = commands.history(settings, migration="0002_b").events[-1:]
    assert event.operation == "rollback" and 300 <= event.duration_ms < 10_000

    # a log from before durations were kept: read as unknown, and given the column in place
    query(db_url, "ALTER TABLE _mig_log DROP COLUMN duration_ms")
    assert commands.history(settings).events[-1].duration_ms is None
    commands.apply(settings)
    commands.rollback(settings)
    assert commands.history(settings).events[-1].duration_ms >= 300
