"""Loading on scratch tables: idempotency, updates, dry run, prune, secrets, errors, statements."""

from __future__ import annotations

import json

import psycopg2
import psycopg2.extensions
import pytest

from mig.errors import SeedError
from mig.seeds import load_seeds
from tests.support import (
    TEAMS,
    counts,
    create_scratch_schema,
    execute,
    row_count,
    seed,
    versions,
    write_seeds,
)

PLAYERS = """
    table: players
    key: [team, nick]
    references:
      team: {table: teams, key: [slug, region]}
    rows:
      - team: [lions, eu]
        nick: ana
        score: 10
        rating: 4.5
        active: false
        tags: [fast, left]
        profile: {level: 3, badges: [a, b]}
        legacy: {x: 1}
        mood: happy
        born: 1990-05-01
        seen_at: "2024-03-01T10:00:00+00:00"
        ip: 10.0.0.1
      - team: {slug: bears, region: null}
        nick: bo
      - {team: [tigers, eu], nick: cy, score: 3}
"""


@pytest.fixture
def scratch_url(db_url):
    return create_scratch_schema(db_url)


@pytest.fixture
def conn(scratch_url):
    conn = psycopg2.connect(scratch_url)
    yield conn
    conn.close()


@pytest.fixture
def seeds(tmp_path):
    return write_seeds(tmp_path / "seeds", {"base/10_teams.yaml": TEAMS,
                                            "base/20_players.yaml": PLAYERS})


def test_first_run_inserts_every_type(scratch_url, seeds):
    report = seed(scratch_url, seeds)
    assert counts(report) == {"teams": (3, 0, 0, 0), "players": (3, 0, 0, 0)}
    [row] = execute(scratch_url, """
        SELECT t.slug, p.score, p.rating, p.active, p.tags, p.profile, p.legacy::text, p.mood,
               p.born::text, p.seen_at = '2024-03-01T10:00:00Z', host(p.ip), p.nick_upper
        FROM players p JOIN teams t ON t.id = p.team_id WHERE p.nick = 'ana'""")
    assert row == ("lions", 10, 4.5, False, ["fast", "left"], {"level": 3, "badges": ["a", "b"]},
                   '{"x": 1}', "happy", "1990-05-01", True, "10.0.0.1", "ANA")
    # columns a row leaves out get their defaults; a NULL key column matched a NULL region
    assert execute(scratch_url, "SELECT score, active, tags FROM players WHERE nick = 'bo'") == [
        (0, True, [])]


def test_second_run_writes_nothing(scratch_url, seeds):
    seed(scratch_url, seeds)
    before = {**versions(scratch_url, "teams", "slug"), **versions(scratch_url, "players", "nick")}
    report = seed(scratch_url, seeds)
    assert counts(report) == {"teams": (0, 0, 3, 0), "players": (0, 0, 3, 0)}
    assert not report.changed
    after = {**versions(scratch_url, "teams", "slug"), **versions(scratch_url, "players", "nick")}
    assert after == before  # not one new row version


def test_one_changed_value_updates_exactly_that_row(scratch_url, seeds):
    seed(scratch_url, seeds)
    before = versions(scratch_url, "players", "nick")
    (seeds / "base/20_players.yaml").write_text(
        (seeds / "base/20_players.yaml").read_text().replace("score: 3", "score: 4"))
    report = seed(scratch_url, seeds)
    assert counts(report) == {"teams": (0, 0, 3, 0), "players": (0, 1, 2, 0)}
    after = versions(scratch_url, "players", "nick")
    assert [n for n in after if after[n] != before[n]] == ["cy"]
    assert execute(scratch_url, "SELECT score FROM players WHERE nick = 'cy'") == [(4,)]


def test_columns_a_row_leaves_out_are_not_overwritten(scratch_url, seeds):
    seed(scratch_url, seeds)
    execute(scratch_url, "UPDATE players SET score = 99 WHERE nick = 'bo'")
    report = seed(scratch_url, seeds)
    assert report.tables["players"].updated == 0
    assert execute(scratch_url, "SELECT score FROM players WHERE nick = 'bo'") == [(99,)]


def test_dry_run_lists_actions_and_writes_nothing(scratch_url, seeds):
    seed(scratch_url, seeds)
    text = (seeds / "base/20_players.yaml").read_text()
    text = text.replace("score: 3", "score: 5").replace("mood: happy", "mood: sad")
    text += "  - {team: [lions, eu], nick: dee}\n"
    (seeds / "base/20_players.yaml").write_text(text)
    before = versions(scratch_url, "players", "nick")

    report = seed(scratch_url, seeds, dry_run=True)

    assert versions(scratch_url, "players", "nick") == before
    assert counts(report)["players"] == (1, 2, 1, 0)
    actions = {(r.key["nick"], r.action): r for r in report.rows if r.table == "players"}
    assert set(actions) == {("ana", "update"), ("bo", "unchanged"), ("cy", "update"),
                            ("dee", "insert")}
    assert actions["ana", "update"].changes == {"mood": ("happy", "sad")}
    assert actions["cy", "update"].changes == {"score": (3, 5)}
    assert actions["dee", "insert"].line == 21
    data = json.loads(json.dumps(report.to_json()))
    assert data["dry_run"] is True and data["tables"]["players"]["updated"] == 2
    assert any("20_players.yaml:21: players [team=['lions', 'eu'], nick='dee']: insert" in line
               for line in report.lines())


def test_dry_run_of_a_new_database_counts_rows_that_refer_to_new_rows(scratch_url, seeds):
    report = seed(scratch_url, seeds, dry_run=True)
    assert counts(report) == {"teams": (3, 0, 0, 0), "players": (3, 0, 0, 0)}
    assert row_count(scratch_url, "teams", "players") == 0


def test_prune_soft_deletes_owned_rows_only(scratch_url, seeds):
    seed(scratch_url, seeds)
    execute(scratch_url, "INSERT INTO teams (slug, region, name) VALUES ('owls', 'us', 'Owls'),"
                         " ('foxes', 'eu', 'Foxes')")
    # 'foxes' is in the owned scope (region eu) but in no fixture; 'owls' is not owned
    report = seed(scratch_url, seeds)
    assert report.tables["teams"].deleted == 0  # without --prune nothing is removed

    dry = seed(scratch_url, seeds, prune=True, dry_run=True)
    assert [(r.action, r.key) for r in dry.rows if r.action == "delete"] == [
        ("delete", {"slug": "foxes", "region": "eu"})]
    assert execute(scratch_url, "SELECT count(*) FROM teams WHERE deleted_at IS NOT NULL") == [
        (0,)]

    report = seed(scratch_url, seeds, prune=True)
    assert counts(report)["teams"] == (0, 0, 3, 1)
    assert execute(scratch_url, "SELECT slug FROM teams WHERE deleted_at IS NOT NULL") == [
        ("foxes",)]
    assert execute(scratch_url, "SELECT deleted_at FROM teams WHERE slug = 'owls'") == [(None,)]
    assert seed(scratch_url, seeds, prune=True).tables["teams"].deleted == 0


def test_prune_deletes_rows_of_tables_without_deleted_at(scratch_url, tmp_path):
    seeds = write_seeds(tmp_path / "s", {"base/10_teams.yaml": TEAMS, "base/20_players.yaml": """
        table: players
        key: [team, nick]
        references:
          team: {table: teams, key: slug, where: {region: eu}}
        owned: {where: {team: lions}}
        rows:
          - {team: lions, nick: ana}
          - {team: tigers, nick: cy}
    """})
    seed(scratch_url, seeds)
    for team, nick in (("lions", "zed"), ("tigers", "yan")):  # zed is owned, yan is not
        execute(scratch_url, "INSERT INTO players (team_id, nick) SELECT id, %s FROM teams "
                             "WHERE slug = %s", (nick, team))
    report = seed(scratch_url, seeds, prune=True)
    assert counts(report)["players"] == (0, 0, 2, 1)
    assert sorted(n for (n,) in execute(scratch_url, "SELECT nick FROM players")) == [
        "ana", "cy", "yan"]


def test_update_false_inserts_missing_rows_and_keeps_existing(scratch_url, seeds):
    (seeds / "base/10_teams.yaml").write_text(
        (seeds / "base/10_teams.yaml").read_text().replace("rows:", "update: false\nrows:"))
    seed(scratch_url, seeds)
    execute(scratch_url, "UPDATE teams SET name = 'Tuned' WHERE slug = 'lions'")
    report = seed(scratch_url, seeds)
    assert counts(report)["teams"] == (0, 0, 3, 0)
    assert execute(scratch_url, "SELECT name FROM teams WHERE slug = 'lions'") == [("Tuned",)]


def test_reference_to_a_row_only_in_the_database(scratch_url, tmp_path):
    execute(scratch_url, "INSERT INTO teams (slug, region, name) VALUES ('owls', 'us', 'Owls')")
    seeds = write_seeds(tmp_path / "s", {"base/players.yaml": """
        table: players
        key: [team, nick]
        references:
          team: {table: teams, key: slug}
        rows:
          - {team: owls, nick: oz}
    """})
    assert counts(seed(scratch_url, seeds)) == {"players": (1, 0, 0, 0)}
    assert execute(scratch_url, "SELECT t.slug FROM players p JOIN teams t ON t.id = p.team_id"
                   ) == [("owls",)]


def test_database_error_names_file_and_line_and_rolls_back(scratch_url, seeds):
    text = (seeds / "base/20_players.yaml").read_text().replace("score: 3", "score: -1")
    (seeds / "base/20_players.yaml").write_text(text)
    with pytest.raises(SeedError) as caught:
        seed(scratch_url, seeds)
    err = caught.value
    assert err.file.endswith("20_players.yaml") and err.line == 20
    assert err.key == {"team": ["tigers", "eu"], "nick": "cy"}
    assert 'violates check constraint "players_score_positive"' in str(err)
    assert "nothing was written" in str(err)
    assert row_count(scratch_url, "teams", "players") == 0  # teams, loaded first, rolled back


def test_secrets_never_appear_in_output(scratch_url, seeds, monkeypatch):
    secret = "tok-7f3a9c-very-secret"
    monkeypatch.setenv("MIG_TEST_PLAYER_TOKEN", secret)
    text = (seeds / "base/20_players.yaml").read_text().replace(
        "nick: bo", "nick: bo\n    secret_token: !secret MIG_TEST_PLAYER_TOKEN")
    (seeds / "base/20_players.yaml").write_text(text)
    seed(scratch_url, seeds)
    assert execute(scratch_url, "SELECT secret_token FROM players WHERE nick = 'bo'") == [
        (secret,)]

    monkeypatch.setenv("MIG_TEST_PLAYER_TOKEN", secret + "-rotated")
    report = seed(scratch_url, seeds, dry_run=True)
    [action] = [r for r in report.rows if r.key.get("nick") == "bo"]
    assert action.action == "update" and action.changes == {"secret_token": ("***", "***")}
    shown = json.dumps(report.to_json()) + "\n".join(report.lines()) + repr(report)
    assert secret not in shown and "***" in shown

    # a database error about the row does not show the value, even where the server's
    # message quotes it
    execute(scratch_url, """
        CREATE FUNCTION refuse_token() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'token % is revoked', NEW.secret_token; END $$;
        CREATE TRIGGER players_refuse_token BEFORE UPDATE ON players
            FOR EACH ROW WHEN (NEW.secret_token IS DISTINCT FROM OLD.secret_token)
            EXECUTE FUNCTION refuse_token();
    """)
    with pytest.raises(SeedError) as caught:
        seed(scratch_url, seeds)
    assert "token *** is revoked" in str(caught.value)
    assert "rotated" not in str(caught.value) and secret not in str(caught.value)


def test_missing_secret_is_a_validation_problem(scratch_url, seeds, monkeypatch):
    monkeypatch.delenv("MIG_TEST_PLAYER_TOKEN", raising=False)
    text = (seeds / "base/20_players.yaml").read_text().replace(
        "nick: bo", "nick: bo\n    secret_token: !secret MIG_TEST_PLAYER_TOKEN")
    (seeds / "base/20_players.yaml").write_text(text)
    with pytest.raises(SeedError, match="environment variable MIG_TEST_PLAYER_TOKEN is not set"):
        seed(scratch_url, seeds)
    assert row_count(scratch_url, "teams", "players") == 0


class _CountingCursor(psycopg2.extensions.cursor):
    executed = 0

    def execute(self, query, vars=None):  # noqa: A002
        type(self).executed += 1
        return super().execute(query, vars)


@pytest.mark.parametrize("rows", [10, 5000])
def test_statement_count_does_not_grow_with_rows(scratch_url, tmp_path, rows):
    lines = [f"  - {{team: lions, nick: p{i}, score: {i}}}" for i in range(rows)]
    seeds = write_seeds(tmp_path / "s", {
        "base/10_teams.yaml": "table: teams\nkey: slug\nrows:\n  - {slug: lions, name: L}\n",
        "base/20_players.yaml": "table: players\nkey: [team, nick]\nreferences:\n"
                                "  team: teams.slug\nrows:\n" + "\n".join(lines) + "\n"})
    conn = psycopg2.connect(scratch_url, cursor_factory=_CountingCursor)
    _CountingCursor.executed = 0
    load_seeds(conn, seeds)
    first = _CountingCursor.executed
    _CountingCursor.executed = 0
    report = load_seeds(conn, seeds)
    conn.close()
    assert report.tables["players"].unchanged == rows
    # lock, catalogue, checks, then per table: stage, guard, one write statement
    assert first <= 20 and _CountingCursor.executed <= 20


def test_inside_a_callers_transaction_the_caller_decides(scratch_url, seeds, conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 1")  # the caller's transaction is open
    report = load_seeds(conn, seeds)
    assert report.tables["teams"].inserted == 3
    conn.rollback()
    assert row_count(scratch_url, "teams") == 0
    load_seeds(conn, seeds)
    conn.commit()
    assert row_count(scratch_url, "teams") == 3
