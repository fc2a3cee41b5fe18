"""The shipped seeds: roles, permission catalogue, grants, system config, the dev demo data."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support import REPO, apply_product_schema, counts, execute, seed, versions

SEEDS = REPO / "seeds"
AREAS = ("organization", "members", "invitations", "roles", "billing", "subscriptions",
         "integrations", "audit_log", "system_config")
NOT_FOR_ADMIN = {"organization.transfer_ownership", "organization.delete", "billing.delete",
                 "subscriptions.cancel"}


@pytest.fixture
def url(db_url, monkeypatch):
    monkeypatch.delenv("MIG_DEV_OPERATOR_PASSWORD_HASH", raising=False)
    return apply_product_schema(db_url)


def grants(url: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for role, permission in execute(url, """
            SELECT r.key, p.key FROM role_permissions rp JOIN roles r ON r.id = rp.role_id
            JOIN permissions p ON p.id = rp.permission_id"""):
        found.setdefault(role, set()).add(permission)
    return found


def test_base_content(url):
    report = seed(url, SEEDS)
    assert list(report.tables) == ["roles", "permissions", "role_permissions", "system_config"]
    assert execute(url, "SELECT key FROM roles WHERE organization_id IS NULL ORDER BY 1") == [
        ("admin",), ("member",), ("owner",)]
    permissions = {k for (k,) in execute(url, "SELECT key FROM permissions")}
    assert len(permissions) >= 20
    assert {p.split(".")[0] for p in permissions} == set(AREAS)
    by_role = grants(url)
    assert by_role["owner"] == permissions
    assert by_role["admin"] == permissions - NOT_FOR_ADMIN
    assert permissions >= NOT_FOR_ADMIN
    assert all(p.endswith(".read") for p in by_role["member"])
    assert {"organization.read", "members.read"} <= by_role["member"]
    config = dict(execute(url, "SELECT key, value FROM system_config"))
    assert config["invitations.expiry_hours"] == 168
    assert config["auth.session_lifetime_minutes"] > 0
    assert config["organizations.max_per_user"] > 0
    assert any(k.startswith("features.") and isinstance(v, bool) for k, v in config.items())
    assert not execute(url, "SELECT * FROM users")  # no demo data outside --env dev


def test_second_run_writes_nothing(url):
    seed(url, SEEDS, "dev")
    tables = {"roles": "key", "permissions": "key", "system_config": "key", "users": "email",
              "organizations": "slug", "role_permissions": "role_id::text || permission_id",
              "organization_members": "user_id"}
    before = {t: versions(url, t, k) for t, k in tables.items()}
    report = seed(url, SEEDS, "dev")
    assert {c[:2] for c in counts(report).values()} == {(0, 0)}
    assert not report.changed
    assert {t: versions(url, t, k) for t, k in tables.items()} == before


def test_dev_demo_organization(url):
    seed(url, SEEDS, "dev")
    assert execute(url, """
        SELECT u.email, r.key FROM organization_members m
        JOIN organizations o ON o.id = m.organization_id AND o.slug = 'acme'
        JOIN users u ON u.id = m.user_id JOIN roles r ON r.id = m.role_id
        ORDER BY r.key""") == [("admin@acme.example", "admin"), ("member@acme.example", "member"),
                               ("owner@acme.example", "owner")]
    hashes = execute(url, "SELECT password_hash FROM users WHERE email LIKE '%@acme.example'")
    assert all(h.startswith("pbkdf2_sha256$") for (h,) in hashes)
    # the operator's hash is an optional secret: unset, the account has no password
    assert execute(url, "SELECT is_superuser, password_hash FROM users "
                        "WHERE email = 'ops@platform.example'") == [(True, None)]


def test_dev_operator_secret_from_the_environment(url, monkeypatch):
    secret = "pbkdf2_sha256$600000$opsSalt$c2VjcmV0LWhhc2gtdmFsdWU="
    monkeypatch.setenv("MIG_DEV_OPERATOR_PASSWORD_HASH", secret)
    dry = seed(url, SEEDS, "dev", dry_run=True)
    shown = json.dumps(dry.to_json()) + "\n".join(dry.lines())
    assert secret not in shown
    seed(url, SEEDS, "dev")
    assert execute(url, "SELECT password_hash FROM users WHERE email = 'ops@platform.example'"
                   ) == [(secret,)]
    monkeypatch.setenv("MIG_DEV_OPERATOR_PASSWORD_HASH", secret.replace("opsSalt", "newSalt"))
    dry = seed(url, SEEDS, "dev", dry_run=True)
    [change] = [r for r in dry.rows if r.action == "update"]
    assert change.key == {"email": "ops@platform.example"}
    assert change.changes == {"password_hash": ("***", "***")}
    assert "opsSalt" not in "\n".join(dry.lines()) and "newSalt" not in "\n".join(dry.lines())


def test_prune_removes_a_dropped_permission_and_spares_custom_roles(url, tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    seed(url, seeds, "dev")
    execute(url, """
        INSERT INTO roles (organization_id, key, name)
        SELECT id, 'auditor', 'Auditor' FROM organizations WHERE slug = 'acme';
        INSERT INTO role_permissions (role_id, permission_id)
        SELECT r.id, p.id FROM roles r, permissions p
        WHERE r.key = 'auditor' AND p.key IN ('audit_log.read', 'audit_log.export');
    """)
    for name in ("020_permissions.yaml", "030_role_permissions.yaml"):
        path = seeds / "base" / name
        path.write_text("\n".join(line for line in path.read_text().splitlines()
                                  if "audit_log.export" not in line) + "\n")
    # the custom role's grant of audit_log.export blocks nothing: deleting the permission
    # cascades to its grants; the custom role itself is outside every owned scope
    report = seed(url, seeds, "dev", prune=True)
    assert report.tables["permissions"].deleted == 1
    assert report.tables["role_permissions"].deleted == 2  # owner's and admin's grants
    assert report.tables["roles"].deleted == 0
    assert execute(url, "SELECT count(*) FROM permissions WHERE key = 'audit_log.export'") == [
        (0,)]
    assert grants(url)["auditor"] == {"audit_log.read"}
    assert execute(url, "SELECT deleted_at IS NULL FROM roles WHERE key = 'auditor'") == [(True,)]


def test_a_custom_role_with_a_built_in_key_is_not_touched(url):
    seed(url, SEEDS, "dev")
    execute(url, """
        INSERT INTO roles (organization_id, key, name)
        SELECT id, 'owner', 'Acme owner (custom)' FROM organizations WHERE slug = 'acme'""")
    custom = versions(url, "roles", "coalesce(organization_id::text, '') || key")
    report = seed(url, SEEDS, "dev", prune=True)
    assert counts(report)["roles"] == (0, 0, 3, 0)
    assert versions(url, "roles", "coalesce(organization_id::text, '') || key") == custom
    # grants and memberships still point at the built-in owner role
    assert execute(url, """
        SELECT count(*) FROM role_permissions rp JOIN roles r ON r.id = rp.role_id
        WHERE r.organization_id IS NOT NULL""") == [(0,)]
    assert execute(url, """
        SELECT r.organization_id IS NULL FROM organization_members m
        JOIN roles r ON r.id = m.role_id JOIN users u ON u.id = m.user_id
        WHERE u.email = 'owner@acme.example'""") == [(True,)]
