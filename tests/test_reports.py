"""The records the verbs return: their JSON form keeps the keys, their order and the values
--json has always printed (a key only some entries have is left out of the others), and the
reports print their own lines."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from mig.reports import (
    Applied,
    Edited,
    PartialRun,
    Pending,
    Repair,
    RepairReport,
    RunEntry,
    RunReport,
    StatusReport,
)

AT = datetime(2026, 12, 7, 23, 0, 5, tzinfo=timezone.utc)


def _items(record) -> list[tuple[str, object]]:
    """The JSON form as --json writes it: keys in order, values as JSON has them."""
    return list(json.loads(json.dumps(record.to_json())).items())


def test_an_edited_migrations_keys_depend_on_its_kind():
    assert _items(Edited("0002_b", "missing", "abc", None)) == [
        ("id", "0002_b"), ("problem", "missing"), ("recorded", "abc"), ("current", None)]
    assert _items(Edited("0002_b", "missing", None, None, rollback="sql")) == [
        ("id", "0002_b"), ("problem", "missing"), ("recorded", None), ("current", None),
        ("rollback", "sql")]
    assert _items(Edited("0001_a", "edited", "abc", "def", path="m/0001_a.sql")) == [
        ("id", "0001_a"), ("problem", "edited"), ("recorded", "abc"), ("current", "def"),
        ("path", "m/0001_a.sql")]
    assert _items(Edited("0003_c", "edited-partial", "abc", "def", path="m/0003_c.sql",
                         summary="partial: 1 of 2 steps applied")) == [
        ("id", "0003_c"), ("problem", "edited-partial"), ("recorded", "abc"),
        ("current", "def"), ("path", "m/0003_c.sql"),
        ("summary", "partial: 1 of 2 steps applied")]


def test_a_run_entry_has_the_keys_of_its_run():
    assert _items(RunEntry(id="0001_a", duration_ms=0, empty=False)) == [
        ("id", "0001_a"), ("duration_ms", 0), ("empty", False)]
    assert _items(RunEntry(id="0001_a", duration_ms=3, empty=True, stored=True)) == [
        ("id", "0001_a"), ("duration_ms", 3), ("empty", True), ("stored", True)]
    assert _items(RunEntry(action="rollback", id="0001_a", duration_ms=3)) == [
        ("action", "rollback"), ("id", "0001_a"), ("duration_ms", 3), ("empty", False)]
    # a dry run: a non-transactional migration says so, an empty SQL text stays
    assert _items(RunEntry(id="0001_a", path="m/0001_a.sql", transactional=False, sql="",
                           empty=True)) == [
        ("id", "0001_a"), ("path", "m/0001_a.sql"), ("transactional", False), ("sql", ""),
        ("empty", True)]


def test_a_status_report_prints_as_before():
    report = StatusReport(
        database="postgresql://u:***@h/db",
        applied=[Applied("0001_a", AT, "mig@host", "abc")],
        pending=[Pending("0002_b", Path("m/0002_b.sql"))],
        partial=[PartialRun("0002_b", "partial", "apply", 1, 2, "partial: 1 of 2 steps applied",
                            AT, "mig", edited=False, hint="run 'mig apply'")])
    assert _items(report) == [
        ("database", "postgresql://u:***@h/db"), ("current", False),
        ("applied", [{"id": "0001_a", "applied_at": "2026-12-07T23:00:05+00:00",
                      "applied_by": "mig@host", "checksum": "abc", "recorded": "run"}]),
        ("pending", [{"id": "0002_b", "path": "m/0002_b.sql"}]),
        ("edited", []),
        ("partial", [{"id": "0002_b", "state": "partial", "direction": "apply", "done": 1,
                      "steps": 2, "summary": "partial: 1 of 2 steps applied",
                      "started_at": "2026-12-07T23:00:05+00:00", "started_by": "mig",
                      "edited": False, "hint": "run 'mig apply'"}]),
        ("invalid_indexes", [])]
    assert "problems" not in report.to_json()
    assert StatusReport("x", problems=[]).to_json()["problems"] == []
    lines = report.lines()
    assert lines[:3] == ["  STATE    MIGRATION  APPLIED AT (UTC)     BY",
                         "  applied  0001_a     2026-12-07 23:00:05  mig@host",
                         "  partial  0002_b"]
    assert lines[3] == "1 applied, 1 pending, 0 edited, 1 unfinished"


def test_run_and_repair_reports_print_their_lines():
    run = RunReport("apply", duration_ms=12, migrations=[
        RunEntry(id="0001_a", duration_ms=5), RunEntry(id="0002_b", duration_ms=0, empty=True)])
    assert _items(run)[:3] == [("action", "apply"), ("dry_run", False), ("duration_ms", 12)]
    assert run.lines() == ["applied 2 migration(s) in 12 ms, 1 of them empty (nothing to run)"]
    assert RunReport("rollback").lines() == ["nothing to roll back"]
    plan = RunReport("rollback", dry_run=True, migrations=[
        RunEntry(id="0001_a", path="p", transactional=False, sql="DROP TABLE a;")])
    assert plan.lines() == ["-- roll back 0001_a (non-transactional)", "DROP TABLE a;", "",
                            "-- dry run: 1 migration(s) would roll back; nothing was changed"]
    repaired = RepairReport([Repair(Edited("0001_a", "edited", "abc", "def", path="p"),
                                    "accepted new checksum")])
    assert repaired.lines() == ["0001_a: accepted new checksum"]
    assert repaired.repairs[0].to_json()["action"] == "accepted new checksum"
    assert RepairReport().lines() == [
        "nothing to repair: every applied migration matches its file"]


def test_a_seed_report_prints_its_keys_as_before():
    from mig.seeds.report import RowAction, SeedReport, TableCounts

    run = SeedReport(env="dev", files=["seeds/base/users.yaml"],
                     tables={"users": TableCounts(inserted=2, unchanged=1)})
    assert _items(run) == [
        ("tables", {"users": {"inserted": 2, "updated": 0, "unchanged": 1, "deleted": 0}}),
        ("env", "dev"), ("dry_run", False), ("prune", False), ("changed", True),
        ("files", ["seeds/base/users.yaml"])]
    dry = SeedReport(dry_run=True, prune=True, tables={"users": TableCounts(unchanged=1)},
                     rows=[RowAction("users", "unchanged", {"email": "a@b"}, "u.yaml", 3)])
    assert [k for k, _ in _items(dry)] == ["tables", "env", "dry_run", "prune", "changed",
                                           "files", "rows"]
    assert dry.to_json()["changed"] is False
    assert dry.to_json()["rows"] == [{"table": "users", "action": "unchanged",
                                      "key": {"email": "a@b"}, "file": "u.yaml", "line": 3,
                                      "changes": {}}]
    assert SeedReport(dry_run=True).to_json()["rows"] == []  # a dry run has its rows, if none


def test_an_import_report_prints_its_keys_as_before():
    from mig.commands.imports import FileChange, ImportReport
    from mig.disk.importers import Planned, Skipped

    planned = Planned(id="20260101000000_a", version="20260101000000",
                      source=Path("src/1_a.up.sql"), rollback_source=None, transactional=True,
                      depends=None, sql="SELECT 1;", rollback_sql=None)
    report = ImportReport(format="dbmate", source="src", folder="migrations", dry_run=True,
                          migrations=(planned,),
                          files=(FileChange("migrations/20260101000000_a.sql", "create"),),
                          skipped=(Skipped(Path("src/README"), "not a migration"),),
                          unused=("SCHEMA",))
    assert _items(report) == [
        ("format", "dbmate"), ("source", "src"), ("folder", "migrations"), ("dry_run", True),
        ("migrations", [{"id": "20260101000000_a", "version": "20260101000000",
                         "source": "src/1_a.up.sql", "rollback_source": None,
                         "transactional": True, "depends": None, "notes": []}]),
        ("files", [{"path": "migrations/20260101000000_a.sql", "action": "create"}]),
        ("skipped", [{"path": "src/README", "reason": "not a migration"}]),
        ("unused", ["SCHEMA"])]
