"""The shortcuts of a load (COPY into an empty table, the fingerprint of an unchanged one) give
the counts, rows and errors of the staged comparison, and step aside whenever they must."""

from __future__ import annotations

import json

import psycopg2
import psycopg2.extensions
import pytest

from mig import commands
from mig.config import resolve
from mig.errors import SeedError
from mig.seeds import SeedCache, load_seeds
from tests.support import (
    REPO,
    TEAMS,
    apply_product_schema,
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
      - {team: [lions, eu], nick: ana, score: 10, tags: [fast], profile: {level: 3}}
      - {team: {slug: bears, region: null}, nick: bo, score: 1, tags: [], profile: null}
"""


class _Recording(psycopg2.extensions.cursor):
    statements: list[str] = []

    def execute(self, query, vars=None):  # noqa: A002
        text = query if isinstance(query, str) else query.as_string(self)
        type(self).statements.append(text)
        return super().execute(query, vars)


@pytest.fixture
def scratch_url(db_url):
    return create_scratch_schema(db_url)


@pytest.fixture
def seeds(tmp_path):
    return write_seeds(tmp_path / "seeds", {"base/10_teams.yaml": TEAMS,
                                            "base/20_players.yaml": PLAYERS})


@pytest.fixture
def cache(tmp_path):
    return SeedCache(tmp_path / "cache")


def recorded(url, seeds_dir, **kwargs):
    conn = psycopg2.connect(url, cursor_factory=_Recording)
    _Recording.statements = []
    try:
        return load_seeds(conn, seeds_dir, **kwargs), list(_Recording.statements)
    finally:
        conn.close()


def staged(statements: list[str]) -> int:
    return sum("CREATE TEMPORARY TABLE" in s for s in statements)


def test_an_unchanged_rerun_is_one_query_per_table(scratch_url, seeds, cache):
    report, statements = recorded(scratch_url, seeds, cache=cache)
    assert counts(report) == {"teams": (3, 0, 0, 0), "players": (2, 0, 0, 0)}
    assert staged(statements) == 2  # teams by COPY; players refer to teams: staged
    before = {**versions(scratch_url, "teams", "slug"), **versions(scratch_url, "players", "nick")}

    report, statements = recorded(scratch_url, seeds, cache=cache)

    assert counts(report) == {"teams": (0, 0, 3, 0), "players": (0, 0, 2, 0)}
    assert staged(statements) == 0
    assert sum("hashtextextended" in s for s in statements) == 2
    after = {**versions(scratch_url, "teams", "slug"), **versions(scratch_url, "players", "nick")}
    assert after == before
    # the same answer as the full comparison
    assert counts(seed(scratch_url, seeds)) == counts(report)


@pytest.mark.parametrize("change,expected", [
    ("UPDATE players SET score = 11 WHERE nick = 'ana'", (0, 1, 1, 0)),
    ("UPDATE players SET profile = '{\"level\": 4}' WHERE nick = 'ana'", (0, 1, 1, 0)),
    ("UPDATE players SET tags = '{}' WHERE nick = 'ana'", (0, 1, 1, 0)),
    ("UPDATE players SET team_id = (SELECT id FROM teams WHERE slug = 'tigers') "
     "WHERE nick = 'ana'", (1, 0, 1, 0)),  # (lions, ana) is gone: a new row
    ("DELETE FROM players WHERE nick = 'bo'", (1, 0, 1, 0)),
    ("INSERT INTO players (team_id, nick) SELECT id, 'zed' FROM teams WHERE slug = 'lions'",
     (0, 0, 2, 0)),
    ("UPDATE teams SET deleted_at = now() WHERE slug = 'bears'", (1, 0, 1, 0)),
])
def test_a_change_in_the_database_is_seen(scratch_url, seeds, cache, change, expected):
    seed(scratch_url, seeds, cache=cache)
    seed(scratch_url, seeds, cache=cache)  # fingerprints remembered
    execute(scratch_url, change)
    report = seed(scratch_url, seeds, cache=cache)
    assert counts(report)["players"] == expected
    assert counts(seed(scratch_url, seeds, cache=cache))["players"] == (0, 0, 2, 0)
    assert execute(scratch_url, "SELECT p.score, p.tags, p.profile, t.slug FROM players p "
                                "JOIN teams t ON t.id = p.team_id "
                                "WHERE nick = 'ana' AND t.slug = 'lions'") == [
        (10, ["fast"], {"level": 3}, "lions")]


def test_a_changed_fixture_is_compared_again(scratch_url, seeds, cache):
    seed(scratch_url, seeds, cache=cache)
    path = seeds / "base" / "10_teams.yaml"
    path.write_text(path.read_text().replace("name: Tigers", "name: Big cats"))
    assert counts(seed(scratch_url, seeds, cache=cache))["teams"] == (0, 1, 2, 0)


def test_a_wrong_remembered_fingerprint_only_costs_time(scratch_url, seeds, cache, tmp_path):
    seed(scratch_url, seeds, cache=cache)
    seed(scratch_url, seeds, cache=cache)
    for entry in (tmp_path / "cache").iterdir():
        if cache.get(entry.stem) and isinstance(cache.get(entry.stem), list):
            cache.put(entry.stem, [3, "0", "0"])
    execute(scratch_url, "UPDATE teams SET name = 'Lions!' WHERE slug = 'lions'")
    assert counts(seed(scratch_url, seeds, cache=cache)) == {
        "teams": (0, 1, 2, 0), "players": (0, 0, 2, 0)}


def test_prune_after_a_shortcut(scratch_url, seeds, cache):
    seed(scratch_url, seeds, cache=cache, prune=True)
    assert counts(seed(scratch_url, seeds, cache=cache, prune=True))["teams"] == (0, 0, 3, 0)
    execute(scratch_url, "INSERT INTO teams (slug, region, name) VALUES ('foxes', 'eu', 'F')")
    assert counts(seed(scratch_url, seeds, cache=cache, prune=True))["teams"] == (0, 0, 3, 1)


def test_copy_into_an_empty_table_names_the_refused_row(scratch_url, seeds, cache):
    path = seeds / "base" / "10_teams.yaml"
    path.write_text(path.read_text().replace("slug: tigers", "slug: Tigers"))
    with pytest.raises(SeedError) as caught:
        seed(scratch_url, seeds, cache=cache)
    assert caught.value.file.endswith("10_teams.yaml") and caught.value.line == 6
    assert 'violates check constraint "teams_slug_format"' in str(caught.value)
    assert row_count(scratch_url, "teams", "players") == 0


def test_copy_escapes_text_and_writes_every_kind_of_value(scratch_url, tmp_path, cache):
    seeds = write_seeds(tmp_path / "s", {"base/10_teams.yaml": """
        table: teams
        key: slug
        rows:
          - {slug: tabs, name: "a\\tb\\\\c\\nd\\re"}
          - {slug: quote, name: "x\\"y,{z}"}
          - {slug: nulls, name: "\\\\N", region: null}
    """})
    for _ in range(2):  # the COPY text made, then taken from the seed cache
        execute(scratch_url, "TRUNCATE teams CASCADE")
        assert counts(seed(scratch_url, seeds, cache=cache))["teams"] == (3, 0, 0, 0)
        assert dict(execute(scratch_url, "SELECT slug, name FROM teams")) == {
            "tabs": "a\tb\\c\nd\re", "quote": 'x"y,{z}', "nulls": "\\N"}
    assert counts(seed(scratch_url, seeds, cache=cache))["teams"] == (0, 0, 3, 0)


def test_a_table_with_rows_it_does_not_list_is_compared(scratch_url, seeds, cache):
    execute(scratch_url, "INSERT INTO teams (slug, region, name) VALUES ('owls', 'us', 'O')")
    for _ in range(3):
        report, statements = recorded(scratch_url, seeds, cache=cache)
    assert counts(report)["teams"] == (0, 0, 3, 0)
    assert staged(statements) == 1  # teams compared; players by fingerprint


def test_secrets_skip_the_fingerprint(scratch_url, seeds, cache, monkeypatch):
    monkeypatch.setenv("MIG_TEST_PLAYER_TOKEN", "tok-1")
    path = seeds / "base" / "20_players.yaml"
    path.write_text(path.read_text().replace(
        "nick: bo,", "nick: bo, secret_token: !secret MIG_TEST_PLAYER_TOKEN,"))
    seed(scratch_url, seeds, cache=cache)
    monkeypatch.setenv("MIG_TEST_PLAYER_TOKEN", "tok-2")
    assert counts(seed(scratch_url, seeds, cache=cache))["players"] == (0, 1, 1, 0)
    assert execute(scratch_url, "SELECT secret_token FROM players WHERE nick = 'bo'") == [
        ("tok-2",)]
    stored = b"".join(p.read_bytes() for p in cache.folder.iterdir())
    assert b"MIG_TEST_PLAYER_TOKEN" in stored and b"tok-" not in stored


def test_mig_seed_keeps_its_cache_in_the_project_unless_off(db_url, tmp_path):
    url = apply_product_schema(db_url)
    settings = resolve(database=url, project_dir=REPO, env={"MIG_SEED_CACHE": str(
        tmp_path / "c")})
    assert settings.seed_cache == tmp_path / "c"
    first = commands.seed(settings, env="dev")
    assert first.totals().inserted == 108
    assert len(list((tmp_path / "c").iterdir())) >= 7
    again = commands.seed(settings, env="dev")
    assert not again.changed
    assert resolve(database=url, project_dir=REPO, env={}).seed_cache == REPO / ".mig" / (
        "seed-cache")
    off = resolve(database=url, project_dir=REPO, env={"MIG_SEED_CACHE": "off"})
    assert off.seed_cache is None
    assert not commands.seed(off, env="dev").changed
    assert json.dumps(again.to_json())


def test_a_trigger_that_changes_inserted_rows_is_not_taken_for_the_seeded_state(
        scratch_url, seeds, cache):
    execute(scratch_url, """
        CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$;
        CREATE TRIGGER teams_shout BEFORE INSERT ON teams FOR EACH ROW EXECUTE FUNCTION shout();
    """)
    without = [counts(seed(scratch_url, seeds))["teams"] for _ in range(3)]
    execute(scratch_url, "TRUNCATE teams CASCADE")
    with_cache = [counts(seed(scratch_url, seeds, cache=cache))["teams"] for _ in range(3)]
    assert with_cache == without == [(3, 0, 0, 0), (0, 3, 0, 0), (0, 0, 3, 0)]
    assert counts(seed(scratch_url, seeds, cache=cache))["teams"] == (0, 0, 3, 0)
