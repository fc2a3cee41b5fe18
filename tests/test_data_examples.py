"""The worked example of docs/data-migrations.md, and the product's own data migration."""

from __future__ import annotations

import shutil

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import Refused
from tests.support import REPO, query, run_mig

EXAMPLE = REPO / "docs" / "examples" / "data-migrations"
DOC = REPO / "docs" / "data-migrations.md"
LOWERCASE = "20260209_090000_lowercase_emails"
BEFORE_LOWERCASE = "20260208_120000_system_config_and_audit_logs"


def test_the_document_shows_the_example_file_as_it_is():
    text = DOC.read_text()
    source = (EXAMPLE / "migrations" / "0003_backfill_display_name.py").read_text()
    assert f"```python\n{source}```" in text
    expand = (EXAMPLE / "migrations" / "0002_display_name.sql").read_text()
    assert expand.strip().splitlines()[-1] in text


def test_the_worked_example_applies_counts_and_rolls_back(tmp_path, db_url):
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE, project)
    assert run_mig(["apply", "-d", db_url, "--to", "0001_accounts"], cwd=project).returncode == 0
    query(db_url, "INSERT INTO accounts (email, full_name) SELECT 'user' || g || '@example.com',"
                  " CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN ' ' ELSE 'User ' || g END"
                  " FROM generate_series(1, 5000) g")
    # the column comes with a pending migration: the dry run cannot count yet, and says why
    result = run_mig(["apply", "-d", db_url, "--dry-run"], cwd=project)
    assert 'rows not counted (column "display_name" does not exist)' in result.stdout
    assert run_mig(["apply", "-d", db_url, "--to", "0002_display_name"], cwd=project
                   ).returncode == 0
    result = run_mig(["apply", "-d", db_url, "--dry-run"], cwd=project)
    assert ("batches of 2,000 rows of accounts where display_name IS NULL:"
            " 5,000 row(s) would be touched") in result.stdout

    result = run_mig(["apply", "-d", db_url], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "fill_display_name: done, 5,000 rows walked" in result.stderr
    assert query(db_url, "SELECT display_name FROM accounts WHERE id IN (1, 2, 3) ORDER BY id") \
        == [("user1",), ("User 2",), ("user3",)]
    assert query(db_url, "SELECT count(*) FROM accounts WHERE display_name IS NULL") == [(0,)]

    result = run_mig(["rollback", "-d", db_url], cwd=project)  # the backward function
    assert result.returncode == 0, result.stderr
    assert query(db_url, "SELECT count(display_name) FROM accounts") == [(0,)]
    assert query(db_url, "SELECT count(*) FROM _mig_data_checkpoints") == [(0,)]
    result = run_mig(["rollback", "-d", db_url], cwd=project)  # the column goes
    assert result.returncode == 0, result.stderr
    result = run_mig(["apply", "-d", db_url], cwd=project)
    assert result.returncode == 0, result.stderr
    assert query(db_url, "SELECT count(display_name) FROM accounts") == [(5000,)]


@pytest.fixture
def product(db_url):
    settings = resolve(database=db_url, project_dir=REPO, env={})
    commands.apply(settings, to=BEFORE_LOWERCASE)
    query(db_url, """
        INSERT INTO users (email, deleted_at) VALUES
            ('Alice@Example.COM', NULL), ('bob@example.com', NULL),
            ('Carol@X.io', now()), ('CAROL@x.io', now()), ('carol@x.io', NULL);
        INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme');
        INSERT INTO roles (key, name) VALUES ('member', 'Member');
        INSERT INTO invitations (organization_id, email, role_id, token_hash, status, accepted_at)
            SELECT o.id, e.email, r.id, md5(e.email), e.status,
                   CASE WHEN e.status = 'accepted' THEN now() END
            FROM organizations o, roles r, (VALUES ('Dave@Example.com', 'pending'),
                 ('erin@example.com', 'accepted'), ('FRANK@EXAMPLE.COM', 'revoked'))
                 AS e(email, status);
    """)
    return settings


def test_the_product_migration_lowercases_emails_and_refuses_a_plain_rollback(product, db_url):
    plan = commands.apply(product, to=LOWERCASE, dry_run=True).migrations
    assert [p.id for p in plan] == [LOWERCASE]
    assert "users where email <> lower(email): 3 row(s) would be touched" in plan[0].sql
    assert "invitations where email <> lower(email): 2 row(s) would be touched" in plan[0].sql
    before = dict(query(db_url, "SELECT email, updated_at FROM users"))

    commands.apply(product, to=LOWERCASE)
    users = query(db_url, "SELECT email, deleted_at IS NOT NULL, updated_at FROM users"
                          " ORDER BY email, deleted_at NULLS FIRST")
    assert [(e, d) for e, d, _ in users] == [
        ("alice@example.com", False), ("bob@example.com", False),
        ("carol@x.io", False), ("carol@x.io", True), ("carol@x.io", True)]
    # the rows that changed got a new updated_at; the others kept theirs
    assert dict((e, u) for e, d, u in users if not d)["bob@example.com"] \
        == before["bob@example.com"]
    assert dict((e, u) for e, d, u in users if not d)["alice@example.com"] \
        > before["Alice@Example.COM"]
    assert query(db_url, "SELECT email FROM invitations ORDER BY email") == [
        ("dave@example.com",), ("erin@example.com",), ("frank@example.com",)]
    assert query(db_url, "SELECT step, rows_changed, finished_at IS NOT NULL"
                         " FROM _mig_data_checkpoints ORDER BY step") == [
        ("lowercase_invitation_emails", 2, True), ("lowercase_user_emails", 3, True)]

    with pytest.raises(Refused, match=f"irreversible data migration {LOWERCASE}") as info:
        commands.rollback(product)
    assert "lowercase_user_emails, lowercase_invitation_emails" in str(info.value)
    assert LOWERCASE not in {p.id for p in commands.status(product).pending}

    commands.rollback(product, force=True)
    assert LOWERCASE in {p.id for p in commands.status(product).pending}
    assert query(db_url, "SELECT count(*) FROM users WHERE email <> lower(email)") == [(0,)]
    # applied again, it finds nothing to change
    commands.apply(product, to=LOWERCASE)
    assert query(db_url, "SELECT sum(rows_changed) FROM _mig_data_checkpoints") == [(0,)]
