"""The adoption road of docs/adopt.md, command for command, on a database built by hand: 'mig
init', 'mig new initial --from PROD_URL', 'mig baseline --to ID -d PROD_URL', then work as
usual."""

from __future__ import annotations

import psycopg2

from tests.support import query, run_mig

# A production database nobody wrote migrations for: a type, tables with keys, an index, a
# view, a function and its trigger, a comment.
BY_HAND = """
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE teams (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE people (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id bigint REFERENCES teams ON DELETE CASCADE,
    email text NOT NULL,
    feeling mood NOT NULL DEFAULT 'happy',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX people_email_key ON people (lower(email));
CREATE VIEW happy_people AS SELECT id, email FROM people WHERE feeling = 'happy';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER people_touch BEFORE UPDATE ON people FOR EACH ROW EXECUTE FUNCTION touch();
COMMENT ON TABLE people IS 'who works here';
INSERT INTO teams (name) VALUES ('core');
"""


def build_by_hand(url: str) -> None:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(BY_HAND)
    finally:
        conn.close()


def test_the_adoption_road_with_a_generated_first_migration(tmp_path, db_url, pg_server):
    build_by_hand(db_url)
    scratch = ["--scratch-server", pg_server.url()]
    project = tmp_path / "app"

    init = run_mig(["init", str(project)], cwd=tmp_path)
    assert init.returncode == 0, init.stderr

    new = run_mig(["new", "initial", "--from", db_url, *scratch], cwd=project)
    assert new.returncode == 0, new.stdout + new.stderr
    written = sorted((project / "migrations").glob("*_initial.sql"))
    assert len(written) == 1, new.stdout
    first = written[0].stem
    assert "CREATE TABLE" in written[0].read_text()

    baseline = run_mig(["baseline", "--to", first, "-d", db_url, *scratch], cwd=project)
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    assert f"recorded 1 migration(s) as applied up to {first}" in baseline.stdout
    assert query(db_url, "SELECT count(*) FROM teams") == [(1,)]  # nothing ran

    status = run_mig(["status", "-d", db_url, "--exit-code"], cwd=project)
    assert status.returncode == 0, status.stdout + status.stderr

    # then work as usual: a new migration, applied; no drift after it
    run_mig(["new", "add_team_slug"], cwd=project)
    [added] = sorted((project / "migrations").glob("*_add_team_slug.sql"))
    added.write_text("ALTER TABLE teams ADD COLUMN slug text;\n")
    added.with_name(added.stem + ".rollback.sql").write_text(
        "ALTER TABLE teams DROP COLUMN slug;\n")
    assert run_mig(["hash"], cwd=project).returncode == 0
    applied = run_mig(["apply", "-d", db_url], cwd=project)
    assert applied.returncode == 0, applied.stderr
    diff = run_mig(["diff", "-d", db_url, *scratch], cwd=project)
    assert diff.returncode == 0 and "no drift" in diff.stdout, diff.stdout + diff.stderr
    # and a fresh database built from the history has the same schema
    verify = run_mig(["verify", *scratch], cwd=project)
    assert verify.returncode == 0, verify.stdout + verify.stderr
