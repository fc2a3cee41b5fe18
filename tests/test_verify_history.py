"""mig verify on real histories: --keep-going reports every failing migration, --chain checks
only the whole chain, --json reports a failure too, --keep prints the kept database's URL."""

from __future__ import annotations

import json

import pytest

from mig import SchemaDrift
from mig.commands.verification import verify
from mig.config import resolve
from mig.engine.scratch import SCRATCH_PREFIX
from mig.errors import VerificationFailed
from tests.support import query, run_mig, write_project

WIDGETS = {
    "0001_widgets.sql": "CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL);\n",
    "0001_widgets.rollback.sql": "DROP TABLE widgets;\n",
}


def scratch_databases(url: str) -> list[str]:
    return [r[0] for r in query(url, "SELECT datname FROM pg_database WHERE datname LIKE %s",
                                (SCRATCH_PREFIX + "%",))]

# 0002 and 0003 each have a rollback that forgets something; 0004 is fine.
HISTORY = {
    **WIDGETS,
    "0002_index.sql": "-- depends: 0001_widgets\nCREATE INDEX widgets_name ON widgets (name);\n",
    "0002_index.rollback.sql": "SELECT 1;\n",
    "0003_note.sql": "-- depends: 0002_index\nALTER TABLE widgets ADD COLUMN note text;\n",
    "0003_note.rollback.sql": "SELECT 2;\n",
    "0004_gadgets.sql": "-- depends: 0003_note\nCREATE TABLE gadgets (id int);\n",
    "0004_gadgets.rollback.sql": "DROP TABLE gadgets;\n",
}


def test_keep_going_reports_every_failing_migration(pg_server, tmp_path):
    folder = write_project(tmp_path, HISTORY) / "migrations"
    with pytest.raises(SchemaDrift) as first:  # without it: the first failure only
        verify(resolve(sources=[folder]), scratch=pg_server.url())
    assert first.value.migration_id == "0002_index"
    assert [f.id for f in first.value.report.failures] == ["0002_index"]

    lines: list[str] = []
    with pytest.raises(VerificationFailed) as caught:
        verify(resolve(sources=[folder]), scratch=pg_server.url(), keep_going=True,
               report=lines.append)
    report = caught.value.report
    assert [(f.id, f.phase) for f in report.failures] == [("0002_index", "rollback"),
                                                                ("0003_note", "rollback")]
    assert "+ index widgets_name: CREATE INDEX widgets_name" in "\n".join(
        report.failures[0].diff or ())
    assert [m.id for m in report.migrations] == ["0001_widgets", "0004_gadgets"]
    assert "2 check(s) failed" in caught.value.message
    assert "0003_note (rollback)" in caught.value.message
    assert any(line.startswith("FAILED 0003_note (rollback)") for line in lines)
    assert scratch_databases(pg_server.url()) == []  # each rebuilt one dropped as well


def test_keep_going_applies_each_migration_once_more_however_many_fail(pg_server, tmp_path):
    """After a failure the scratch database is a copy of one that follows behind: the
    migrations before the failing ones are not applied again for each failure."""
    applied = tmp_path / "applied.log"
    counted = ("from yoyo import step\n\n\n"
               "def count(conn):\n"
               f"    with open({str(applied)!r}, 'a') as log:\n"
               "        log.write('applied\\n')\n\n\n"
               "steps = [step(count, lambda conn: None)]\n")
    history = {"0000_counted.py": counted,
               **{k: v.replace("CREATE TABLE widgets", "-- depends: 0000_counted\nCREATE TABLE"
                               " widgets") for k, v in HISTORY.items()}}
    folder = write_project(tmp_path / "p", history) / "migrations"
    with pytest.raises(VerificationFailed) as caught:
        verify(resolve(sources=[folder]), scratch=pg_server.url(), keep_going=True)
    assert [f.id for f in caught.value.report.failures] == ["0002_index", "0003_note"]
    # applied and applied again after its rollback; then once on the copy, for both failures
    assert applied.read_text().splitlines() == ["applied"] * 3
    assert scratch_databases(pg_server.url()) == []  # the copy dropped too


def test_chain_checks_only_the_whole_chain(pg_server, tmp_path):
    good = {k: v for k, v in HISTORY.items() if not k.startswith(("0002", "0003"))}
    good["0004_gadgets.sql"] = "-- depends: 0001_widgets\nCREATE TABLE gadgets (id int);\n"
    folder = write_project(tmp_path / "good", good) / "migrations"
    report = verify(resolve(sources=[folder]), scratch=pg_server.url(), chain=True)
    assert report.chain and [m.to_json() for m in report.migrations] == [
        {"id": "0001_widgets", "checks": ["chain rollback", "chain reapply"]},
        {"id": "0004_gadgets", "checks": ["chain rollback", "chain reapply"]}]

    folder = write_project(tmp_path / "bad", HISTORY) / "migrations"
    with pytest.raises(VerificationFailed) as caught:
        verify(resolve(sources=[folder]), scratch=pg_server.url(), chain=True, keep_going=True)
    assert [(f.id, f.phase) for f in caught.value.report.failures] == [
        ("0003_note", "chain rollback"), ("0002_index", "chain rollback")]


def test_json_on_failure_and_the_kept_database_url(pg_server, tmp_path):
    project = write_project(tmp_path, HISTORY)
    result = run_mig(["verify", "--json", "--keep", "--keep-going", "-q", "-d",
                      pg_server.url()], cwd=project)
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["kept"] is True
    assert [f["id"] for f in data["failures"]] == ["0002_index", "0003_note"]
    assert "2 check(s) failed" in data["error"]
    kept = data["database"].rsplit("/", 1)[1]
    assert f"scratch database kept: {data['database']}" in result.stderr
    try:
        assert kept.startswith(SCRATCH_PREFIX)
        # the kept database holds the history as far as it got
        assert query(pg_server.url(kept), "SELECT count(*) FROM gadgets") == [(0,)]
    finally:
        query(pg_server.url(), f'DROP DATABASE "{kept}" WITH (FORCE)')

    good = write_project(tmp_path / "good", WIDGETS)
    result = run_mig(["verify", "--keep", "-q", "-d", pg_server.url()], cwd=good)
    assert result.returncode == 0, result.stderr
    url = result.stdout.split("scratch database kept: ", 1)[1].strip()
    query(pg_server.url(), f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
