"""The road from sequelize-cli, as docs/adopt.md walks it: a database built the old way (soft
delete added late, foreign keys fixed after the fact under other names, an ENUM status, a
SequelizeMeta table) is named by 'mig diff --to', closed by the bridge 'mig new --from' writes
(from the old schema to mig's at the target, proven both ways before it is written), baselined
with the shipped map, and then carried forward by 'mig apply'."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg2
import pytest

from tests.support import REPO, copy_shipped_project, query, run_mig
from tests.support.server import create_database, drop_database

EXAMPLE = REPO / "docs" / "examples" / "sequelize"
TARGET = "20260130_000000_organizations_and_access"


def run_file(url: str, path) -> None:
    """One file in one transaction, as psql --single-transaction -f runs it."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(path.read_text())
    finally:
        conn.close()


def psql(url: str, path: Path, *, single_transaction: bool) -> None:
    """One file run as docs/adopt.md runs it: psql, stopping at the first error."""
    args = ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-f", str(path)]
    done = subprocess.run(args + (["--single-transaction"] if single_transaction else []),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def project(tmp_path):
    return copy_shipped_project(tmp_path / "product")


@pytest.fixture
def target_url(pg_server):
    """An empty database, for mig's schema at the target."""
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


@pytest.mark.slow
def test_from_sequelize_to_mig(project, db_url, pg_server, target_url, tmp_path):
    run_file(db_url, REPO / "tests" / "fixtures" / "sequelize_history.sql")
    mig = ["-d", db_url, "--scratch-server", pg_server.url()]

    # 1. what differs from mig's history up to the target, named
    diff = run_mig(["diff", "--to", TARGET, *mig], cwd=project)
    assert diff.returncode == 5, diff.stderr
    lines = diff.stdout.splitlines()
    for expected in [
        "  changed column users.email: type text -> character varying(255)",
        "  changed column users.id: default gen_random_uuid() -> none",
        "  changed column invitations.status: type text -> enum_invitations_status; "
        "default 'pending'::text -> 'pending'::enum_invitations_status",
        "  extra constraint users.users_email_key: UNIQUE (email)",
        "  extra constraint roles.fk_roles_organization: FOREIGN KEY (organization_id) "
        "REFERENCES organizations(id) ON DELETE CASCADE",
        "  missing index users_email_live_key: CREATE UNIQUE INDEX users_email_live_key ON "
        "public.users USING btree (lower(email)) WHERE (deleted_at IS NULL)",
        "  missing trigger users.users_set_updated_at: CREATE TRIGGER users_set_updated_at BEFORE "
        "UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at()",
        "  extra type enum_invitations_status: enum ('pending', 'accepted', 'revoked', 'expired')",
    ]:
        assert expected in lines, expected
    assert not any("deleted_at" in line and "column" in line for line in lines)  # added late
    assert not any("SequelizeMeta" in line for line in lines)  # history, not schema

    # a baseline now is refused with the same list, and records nothing
    refused = run_mig(["baseline", "--to", TARGET, "--map", str(EXAMPLE / "map.yaml"), *mig],
                      cwd=project)
    assert refused.returncode == 5
    assert "  extra constraint users.users_email_key: UNIQUE (email)" in refused.stderr
    assert query(db_url, "SELECT to_regclass('_yoyo_migration')") == [(None,)]

    # 2. the bridge, written by mig new --from in a folder of its own: the old schema as its
    # first migration, then the migration from it to mig's schema at the target
    scratch = ["--scratch-server", pg_server.url()]
    bridge = tmp_path / "bridge"
    init = run_mig(["init", str(bridge)], cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    old = run_mig(["new", "sequelize", "--from", db_url, *scratch], cwd=bridge)
    assert old.returncode == 0, old.stderr
    at_target = run_mig(["apply", "--to", TARGET, "-d", target_url], cwd=project)
    assert at_target.returncode == 0, at_target.stderr
    refused = run_mig(["new", "bridge", "--from", target_url, *scratch], cwd=bridge)
    assert refused.returncode == 6, refused.stderr  # it drops the ENUM and the plain UNIQUEs
    assert "type enum_invitations_status: drops the type" in refused.stderr
    made = run_mig(["new", "bridge", "--from", target_url, "--allow-destructive", *scratch],
                   cwd=bridge)
    assert made.returncode == 0, made.stderr
    written = [Path(p) for p in made.stdout.split()]
    files = [p for p in written if not p.name.endswith(".rollback.sql")]
    assert [p.stem.split("_", 2)[2] for p in files] == ["bridge", "bridge_concurrently"]
    text = files[0].read_text()
    # the enum becomes text before its type is dropped; the UNIQUE constraint becomes a plain
    # unique index of the same name (made concurrently, in the second file)
    assert text.index("ALTER COLUMN status TYPE text") < text.index(
        "DROP TYPE public.enum_invitations_status")
    assert "DROP CONSTRAINT invitations_token_hash_key" in text
    assert "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS invitations_token_hash_key" in \
        files[1].read_text()
    # run as docs/adopt.md says: the first file in one transaction, the second outside one,
    # then SequelizeMeta made read-only
    psql(db_url, files[0], single_transaction=True)
    psql(db_url, files[1], single_transaction=False)
    psql(db_url, EXAMPLE / "read_only.sql", single_transaction=True)
    clean = run_mig(["diff", "--to", TARGET, *mig], cwd=project)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout

    # 3. the baseline records the rest, with the SequelizeMeta entries each migration replaces
    done = run_mig(["baseline", "--to", TARGET, "--map", str(EXAMPLE / "map.yaml"), *mig],
                   cwd=project)
    assert done.returncode == 0, done.stderr
    assert "recorded 2 migration(s) as applied up to " + TARGET in done.stdout
    replaced = {mid: [e["name"] for e in json.loads(detail)["replaces"]] for mid, detail in query(
        db_url, "SELECT migration_id, detail FROM _mig_log WHERE migration_id IS NOT NULL")}
    assert replaced["20260128_104444_users"] == [
        "20260128104444-add_initial_users_table.js", "20260205100000-fix-user-email-check.js"]

    # 4. mig carries the database forward, and it matches mig's whole history
    applied = run_mig(["apply", "--seed", *mig[:2]], cwd=project)
    assert applied.returncode == 0, applied.stderr
    status = run_mig(["status", "--exit-code", *mig[:2]], cwd=project)
    assert status.returncode == 0, status.stdout
    final = run_mig(["diff", *mig], cwd=project)
    assert final.returncode == 0, final.stdout

    # SequelizeMeta is kept, read-only, for the previous release's start-up
    assert query(db_url, 'SELECT count(*) FROM "SequelizeMeta"') == [(6,)]
    with pytest.raises(psycopg2.errors.CheckViolation):
        query(db_url, """INSERT INTO "SequelizeMeta" VALUES ('20260301000000-new.js')""")
