"""The shipped schema enforces what the product relies on: soft delete, uniqueness among live
rows, ON DELETE behaviour, CHECK constraints, updated_at maintenance and the append-only audit log.

The migrations are applied once per module (split into statements exactly as yoyo splits
them); every test runs in a transaction that is rolled back, and every statement expected to be
refused runs under a savepoint so that the test can go on after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.errors
import pytest

from mig.server import LocalServer
from tests.support import apply_sql_files, create_database, drop_database


@pytest.fixture(scope="module")
def migrated_conn(pg_server: LocalServer) -> Iterator[psycopg2.extensions.connection]:
    name = create_database(pg_server)
    apply_sql_files(pg_server.url(name))
    conn = psycopg2.connect(pg_server.url(name))
    yield conn
    conn.close()
    drop_database(pg_server, name)


@pytest.fixture
def cur(migrated_conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor inside a transaction on the migrated schema, rolled back after the test."""
    with migrated_conn.cursor() as cursor:
        yield cursor
    migrated_conn.rollback()


@contextmanager
def refused(cur, *errors: type[Exception], match: str | None = None) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Expect the statements of the block to fail with one of ``errors``, then carry on."""
    name = "s_" + uuid.uuid4().hex[:8]
    cur.execute(f"SAVEPOINT {name}")
    with pytest.raises(errors, match=match):
        yield
    cur.execute(f"ROLLBACK TO SAVEPOINT {name}")


def one(cur, sql: str, params: tuple | dict = ()):  # type: ignore[no-untyped-def]
    cur.execute(sql, params)
    return cur.fetchone()[0]


def new_user(cur, email: str = "ada@example.com") -> str:  # type: ignore[no-untyped-def]
    return one(cur, "INSERT INTO users (email) VALUES (%s) RETURNING id", (email,))


def new_org(cur, slug: str = "acme") -> str:  # type: ignore[no-untyped-def]
    return one(
        cur, "INSERT INTO organizations (name, slug) VALUES (%s, %s) RETURNING id", (slug, slug)
    )


def new_plan(cur, key: str = "pro", price: int = 1900) -> str:  # type: ignore[no-untyped-def]
    return one(
        cur,
        "INSERT INTO plans (key, name, price_amount, currency, billing_interval)"
        " VALUES (%s, %s, %s, 'EUR', 'month') RETURNING id",
        (key, key.title(), price),
    )


def new_subscription(cur, org: str, plan: str, status: str = "active") -> str:  # type: ignore[no-untyped-def]
    return one(
        cur,
        "INSERT INTO subscriptions (organization_id, plan_id, status, price_amount, currency,"
        " billing_interval, trial_ends_at) VALUES (%s, %s, %s, 1900, 'EUR', 'month',"
        " now() + interval '14 days') RETURNING id",
        (org, plan, status),
    )


def builtin_role(cur, key: str = "member") -> str:  # type: ignore[no-untyped-def]
    return one(cur, "INSERT INTO roles (key, name) VALUES (%s, %s) RETURNING id", (key, key))


# --- users ---------------------------------------------------------------------------------


def test_email_unique_case_insensitively_among_live_users(cur) -> None:  # type: ignore[no-untyped-def]
    first = new_user(cur, "Ada@Example.com")
    with refused(cur, psycopg2.errors.UniqueViolation):
        new_user(cur, "ada@example.COM")
    cur.execute("UPDATE users SET deleted_at = now() WHERE id = %s", (first,))
    new_user(cur, "ada@example.COM")
    assert one(cur, "SELECT count(*) FROM users") == 2


def test_email_must_look_like_an_address(cur) -> None:  # type: ignore[no-untyped-def]
    with refused(cur, psycopg2.errors.CheckViolation):
        new_user(cur, "not-an-address")


def old_user(cur) -> str:  # type: ignore[no-untyped-def]
    """A user created a day ago: the test's transaction has one now(), so start in the past."""
    return one(
        cur,
        "INSERT INTO users (email, created_at, updated_at)"
        " VALUES ('old@example.com', now() - interval '1 day', now() - interval '1 day')"
        " RETURNING id",
    )


def test_updated_at_moves_on_update_and_created_at_does_not(cur) -> None:  # type: ignore[no-untyped-def]
    user = old_user(cur)
    cur.execute("SELECT created_at, updated_at FROM users WHERE id = %s", (user,))
    created, updated = cur.fetchone()
    cur.execute("UPDATE users SET full_name = 'Ada' WHERE id = %s", (user,))
    cur.execute("SELECT created_at, updated_at, now() FROM users WHERE id = %s", (user,))
    created2, updated2, now = cur.fetchone()
    assert created2 == created
    assert updated2 == now > updated
    # created_at is fixed even when an UPDATE names it.
    cur.execute("UPDATE users SET created_at = now() WHERE id = %s", (user,))
    assert one(cur, "SELECT created_at FROM users WHERE id = %s", (user,)) == created


def test_an_update_that_changes_nothing_keeps_updated_at(cur) -> None:  # type: ignore[no-untyped-def]
    user = old_user(cur)
    before = one(cur, "SELECT updated_at FROM users WHERE id = %s", (user,))
    cur.execute("UPDATE users SET email = email WHERE id = %s", (user,))
    assert one(cur, "SELECT updated_at FROM users WHERE id = %s", (user,)) == before


def test_every_table_with_updated_at_has_the_trigger(cur) -> None:  # type: ignore[no-untyped-def]
    cur.execute(
        """
        SELECT a.attrelid::regclass::text FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
          AND a.attname = 'updated_at' AND NOT a.attisdropped
          AND NOT EXISTS (
              SELECT 1 FROM pg_trigger t
              WHERE t.tgrelid = a.attrelid AND t.tgfoid = 'set_updated_at'::regproc)
        """
    )
    assert cur.fetchall() == []


def test_timestamps_are_timestamptz_and_keys_are_uuid(cur) -> None:  # type: ignore[no-untyped-def]
    cur.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND data_type LIKE 'timestamp without%'"
    )
    assert cur.fetchall() == []
    cur.execute(
        """
        SELECT c.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
        WHERE k.contype = 'p' AND c.relnamespace = 'public'::regnamespace
          AND array_length(k.conkey, 1) = 1 AND a.atttypid <> 'uuid'::regtype
          AND c.relname <> 'system_config'
        """
    )
    assert cur.fetchall() == []


def test_every_foreign_key_states_its_on_delete(cur) -> None:  # type: ignore[no-untyped-def]
    # NO ACTION is only used on purpose, and documented where it is (role references).
    cur.execute(
        """
        SELECT conrelid::regclass::text, conname FROM pg_constraint
        WHERE contype = 'f' AND confdeltype = 'a'
        ORDER BY 1, 2
        """
    )
    assert cur.fetchall() == [
        ("invitations", "invitations_role_id_fkey"),
        ("organization_members", "organization_members_role_id_fkey"),
    ]


# --- organizations and access --------------------------------------------------------------


def test_deleting_an_organization_removes_memberships_roles_and_invitations(cur) -> None:  # type: ignore[no-untyped-def]
    user = new_user(cur)
    org = new_org(cur)
    custom = one(
        cur,
        "INSERT INTO roles (organization_id, key, name) VALUES (%s, 'editor', 'Editor')"
        " RETURNING id",
        (org,),
    )
    cur.execute(
        "INSERT INTO organization_members (organization_id, user_id, role_id) VALUES (%s, %s, %s)",
        (org, user, custom),
    )
    cur.execute(
        "INSERT INTO invitations (organization_id, email, role_id, token_hash)"
        " VALUES (%s, 'bob@example.com', %s, 'h1')",
        (org, custom),
    )
    cur.execute("DELETE FROM organizations WHERE id = %s", (org,))
    assert one(cur, "SELECT count(*) FROM organization_members") == 0
    assert one(cur, "SELECT count(*) FROM roles") == 0
    assert one(cur, "SELECT count(*) FROM invitations") == 0
    assert one(cur, "SELECT count(*) FROM users") == 1


def test_a_role_in_use_cannot_be_deleted(cur) -> None:  # type: ignore[no-untyped-def]
    role = builtin_role(cur)
    cur.execute(
        "INSERT INTO organization_members (organization_id, user_id, role_id) VALUES (%s, %s, %s)",
        (new_org(cur), new_user(cur), role),
    )
    with refused(cur, psycopg2.errors.ForeignKeyViolation):
        cur.execute("DELETE FROM roles WHERE id = %s", (role,))


def test_one_live_membership_per_user_and_organization(cur) -> None:  # type: ignore[no-untyped-def]
    org, user, role = new_org(cur), new_user(cur), builtin_role(cur)
    insert = (
        "INSERT INTO organization_members (organization_id, user_id, role_id)"
        " VALUES (%s, %s, %s) RETURNING id"
    )
    first = one(cur, insert, (org, user, role))
    with refused(cur, psycopg2.errors.UniqueViolation):
        cur.execute(insert, (org, user, role))
    cur.execute("UPDATE organization_members SET deleted_at = now() WHERE id = %s", (first,))
    cur.execute(insert, (org, user, role))


def test_role_keys_unique_among_builtins_and_per_organization(cur) -> None:  # type: ignore[no-untyped-def]
    builtin_role(cur, "owner")
    with refused(cur, psycopg2.errors.UniqueViolation):
        builtin_role(cur, "owner")
    acme, globex = new_org(cur, "acme"), new_org(cur, "globex")
    custom = "INSERT INTO roles (organization_id, key, name) VALUES (%s, 'editor', 'Editor')"
    cur.execute(custom, (acme,))
    cur.execute(custom, (globex,))
    with refused(cur, psycopg2.errors.UniqueViolation):
        cur.execute(custom, (acme,))
    cur.execute("UPDATE roles SET deleted_at = now() WHERE organization_id = %s", (acme,))
    cur.execute(custom, (acme,))


def test_builtin_roles_can_be_upserted_by_key(cur) -> None:  # type: ignore[no-untyped-def]
    upsert = (
        "INSERT INTO roles (key, name) VALUES ('owner', %s)"
        " ON CONFLICT (key) WHERE organization_id IS NULL AND deleted_at IS NULL"
        " DO UPDATE SET name = EXCLUDED.name"
    )
    cur.execute(upsert, ("Owner",))
    cur.execute(upsert, ("Organization owner",))
    assert one(cur, "SELECT name FROM roles WHERE key = 'owner'") == "Organization owner"


def test_role_permissions_pair_is_unique_and_goes_with_either_side(cur) -> None:  # type: ignore[no-untyped-def]
    role = builtin_role(cur, "admin")
    perm = one(cur, "INSERT INTO permissions (key) VALUES ('members.invite') RETURNING id")
    grant = "INSERT INTO role_permissions (role_id, permission_id) VALUES (%s, %s)"
    cur.execute(grant, (role, perm))
    with refused(cur, psycopg2.errors.UniqueViolation):
        cur.execute(grant, (role, perm))
    with refused(cur, psycopg2.errors.UniqueViolation):
        cur.execute("INSERT INTO permissions (key) VALUES ('members.invite')")
    cur.execute("DELETE FROM permissions WHERE id = %s", (perm,))
    assert one(cur, "SELECT count(*) FROM role_permissions") == 0


def test_organization_slug_unique_among_live_organizations(cur) -> None:  # type: ignore[no-untyped-def]
    first = new_org(cur, "acme")
    with refused(cur, psycopg2.errors.UniqueViolation):
        new_org(cur, "acme")
    cur.execute("UPDATE organizations SET deleted_at = now() WHERE id = %s", (first,))
    new_org(cur, "acme")
    with refused(cur, psycopg2.errors.CheckViolation):
        new_org(cur, "Not A Slug")


def test_invitation_status_is_checked(cur) -> None:  # type: ignore[no-untyped-def]
    org, role = new_org(cur), builtin_role(cur)
    with refused(cur, psycopg2.errors.CheckViolation):
        cur.execute(
            "INSERT INTO invitations (organization_id, email, role_id, token_hash, status)"
            " VALUES (%s, 'bob@example.com', %s, 'h', 'maybe')",
            (org, role),
        )


# --- catalogue and subscriptions -----------------------------------------------------------


def test_a_second_active_subscription_is_refused(cur) -> None:  # type: ignore[no-untyped-def]
    org, plan = new_org(cur), new_plan(cur)
    first = new_subscription(cur, org, plan, "trialing")
    with refused(cur, psycopg2.errors.UniqueViolation):
        new_subscription(cur, org, plan, "active")
    cur.execute(
        "UPDATE subscriptions SET status = 'canceled', canceled_at = now() WHERE id = %s", (first,)
    )
    new_subscription(cur, org, plan, "active")
    # Another organization is unaffected.
    new_subscription(cur, new_org(cur, "globex"), plan, "active")


def test_a_plan_with_subscriptions_cannot_be_deleted(cur) -> None:  # type: ignore[no-untyped-def]
    plan = new_plan(cur)
    new_subscription(cur, new_org(cur), plan)
    # PostgreSQL 18 reports RESTRICT as restrict_violation, older versions as foreign_key_violation.
    with refused(cur, psycopg2.errors.ForeignKeyViolation, psycopg2.errors.RestrictViolation):
        cur.execute("DELETE FROM plans WHERE id = %s", (plan,))


def test_negative_prices_and_bad_currencies_are_refused(cur) -> None:  # type: ignore[no-untyped-def]
    with refused(cur, psycopg2.errors.CheckViolation):
        new_plan(cur, "cheap", price=-1)
    for currency in ("eur", "EU", "E1R"):
        with refused(cur, psycopg2.errors.CheckViolation):
            cur.execute(
                "INSERT INTO plans (key, name, price_amount, currency, billing_interval)"
                " VALUES ('x', 'X', 0, %s, 'month')",
                (currency,),
            )
    with refused(cur, psycopg2.errors.CheckViolation):
        cur.execute(
            "INSERT INTO plans (key, name, price_amount, currency, billing_interval)"
            " VALUES ('x', 'X', 0, 'EUR', 'fortnight')"
        )


def test_subscription_status_and_target_are_checked(cur) -> None:  # type: ignore[no-untyped-def]
    org, plan = new_org(cur), new_plan(cur)
    with refused(cur, psycopg2.errors.CheckViolation):
        new_subscription(cur, org, plan, "sleeping")
    with refused(cur, psycopg2.errors.CheckViolation):
        cur.execute(
            "INSERT INTO subscriptions (organization_id, status, price_amount, currency,"
            " billing_interval) VALUES (%s, 'active', 0, 'EUR', 'month')",
            (org,),
        )


def test_catalogue_keys_unique_among_live_rows(cur) -> None:  # type: ignore[no-untyped-def]
    first = new_plan(cur, "pro")
    with refused(cur, psycopg2.errors.UniqueViolation):
        new_plan(cur, "pro")
    cur.execute("UPDATE plans SET deleted_at = now() WHERE id = %s", (first,))
    new_plan(cur, "pro")
    cur.execute("INSERT INTO tools (key, name) VALUES ('writer', 'Writer')")
    with refused(cur, psycopg2.errors.UniqueViolation):
        cur.execute("INSERT INTO tools (key, name) VALUES ('writer', 'Writer 2')")


# --- purchases, usage, entitlements --------------------------------------------------------


def test_usage_quantity_and_purchase_amount_are_checked(cur) -> None:  # type: ignore[no-untyped-def]
    org = new_org(cur)
    tool = one(cur, "INSERT INTO tools (key, name) VALUES ('writer', 'Writer') RETURNING id")
    with refused(cur, psycopg2.errors.CheckViolation):
        cur.execute(
            "INSERT INTO tool_usage (organization_id, tool_id, quantity) VALUES (%s, %s, 0)",
            (org, tool),
        )
    with refused(cur, psycopg2.errors.CheckViolation):
        cur.execute(
            "INSERT INTO one_time_purchases (organization_id, tool_id, amount, currency)"
            " VALUES (%s, %s, -5, 'USD')",
            (org, tool),
        )


def test_entitlement_source_must_match_its_reference(cur) -> None:  # type: ignore[no-untyped-def]
    org = new_org(cur)
    feature = one(cur, "INSERT INTO features (key, name) VALUES ('seats', 'Seats') RETURNING id")
    insert = (
        "INSERT INTO organization_entitlements (organization_id, feature_id, source)"
        " VALUES (%s, %s, %s)"
    )
    cur.execute(insert, (org, feature, "manual"))
    with refused(cur, psycopg2.errors.CheckViolation):
        cur.execute(insert, (org, feature, "subscription"))


# --- system config and audit log -----------------------------------------------------------


def test_system_config_is_a_key_value_store(cur) -> None:  # type: ignore[no-untyped-def]
    upsert = (
        "INSERT INTO system_config (key, value, description) VALUES (%s, %s, 'd')"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    )
    cur.execute(upsert, ("auth.session_ttl_minutes", "60"))
    cur.execute(upsert, ("auth.session_ttl_minutes", "120"))
    assert one(cur, "SELECT value FROM system_config") == 120
    with refused(cur, psycopg2.errors.NotNullViolation):
        cur.execute("INSERT INTO system_config (key, value) VALUES ('x', NULL)")


def test_audit_entries_cannot_be_changed_or_removed(cur) -> None:  # type: ignore[no-untyped-def]
    org, user = new_org(cur), new_user(cur)
    entry = one(
        cur,
        "INSERT INTO audit_logs (organization_id, actor_user_id, action)"
        " VALUES (%s, %s, 'member.invited') RETURNING id",
        (org, user),
    )
    with refused(cur, psycopg2.errors.RestrictViolation, match="append-only"):
        cur.execute("UPDATE audit_logs SET action = 'member.removed' WHERE id = %s", (entry,))
    # setting the references to NULL is let through only for the foreign keys' ON DELETE
    with refused(cur, psycopg2.errors.RestrictViolation, match="append-only"):
        cur.execute("UPDATE audit_logs SET actor_user_id = NULL, organization_id = NULL"
                    " WHERE id = %s", (entry,))
    with refused(cur, psycopg2.errors.RestrictViolation):
        cur.execute("DELETE FROM audit_logs WHERE id = %s", (entry,))
    with refused(cur, psycopg2.errors.RestrictViolation):
        cur.execute("TRUNCATE audit_logs")
    assert one(cur, "SELECT action FROM audit_logs WHERE id = %s", (entry,)) == "member.invited"


def test_an_audit_entry_survives_its_actor_and_organization(cur) -> None:  # type: ignore[no-untyped-def]
    org, user = new_org(cur), new_user(cur)
    entry = one(
        cur,
        "INSERT INTO audit_logs (organization_id, actor_user_id, action, metadata)"
        " VALUES (%s, %s, 'org.created', '{\"plan\": \"pro\"}') RETURNING id",
        (org, user),
    )
    cur.execute("DELETE FROM users WHERE id = %s", (user,))
    cur.execute("DELETE FROM organizations WHERE id = %s", (org,))
    cur.execute(
        "SELECT organization_id, actor_user_id, action, metadata FROM audit_logs WHERE id = %s",
        (entry,),
    )
    assert cur.fetchone() == (None, None, "org.created", {"plan": "pro"})


# The leading key columns of every index, per table (expressions as the server prints them).
INDEX_KEYS = """
    SELECT t.relname, i.indpred IS NOT NULL,
           array(SELECT pg_get_indexdef(i.indexrelid, k, true)
                 FROM generate_series(1, i.indnkeyatts) k ORDER BY k)
    FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND i.indisvalid
"""


@pytest.mark.parametrize("table, columns", [
    ("organization_members", ["user_id"]),  # a user's organizations
    ("tool_usage", ["organization_id", "occurred_at"]),  # an organization's usage over time
    ("audit_logs", ["organization_id", "created_at"]),  # an organization's audit trail
    ("subscriptions", ["organization_id"]),  # an organization's subscriptions
])
def test_the_obvious_access_paths_have_an_index(cur, table, columns) -> None:  # type: ignore[no-untyped-def]
    cur.execute(INDEX_KEYS)
    usable = [keys for name, partial, keys in cur.fetchall()
              if name == table and not partial and keys[:len(columns)] == columns]
    assert usable, f"no full index on {table} starting with ({', '.join(columns)})"


# Catalogue rows are soft-deleted, and tool_usage, the busiest table, keeps only the indexes
# its queries need (docs/schema.md, "Indexes"): a hard delete of a tool or feature may scan it.
UNINDEXED_ON_PURPOSE = {"tool_usage.tool_usage_tool_id_fkey",
                        "tool_usage.tool_usage_feature_id_fkey"}


def test_every_foreign_key_is_backed_by_an_index(cur) -> None:  # type: ignore[no-untyped-def]
    """Deleting a referenced row (or looking up its dependants) does not scan the child table,
    but where the schema documents otherwise."""
    cur.execute(INDEX_KEYS)
    indexes: dict[str, list[list[str]]] = {}
    for name, _partial, keys in cur.fetchall():
        indexes.setdefault(name, []).append(keys)
    cur.execute("""
        SELECT c.conrelid::regclass::text, c.conname,
               array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY u(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.n
                     ORDER BY u.o)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE c.contype = 'f' AND n.nspname = 'public'
    """)
    foreign_keys = cur.fetchall()
    assert len(foreign_keys) > 20
    unbacked = {f"{table}.{name}" for table, name, cols in foreign_keys
                if not any(sorted(keys[:len(cols)]) == sorted(cols)
                           for keys in indexes.get(table, []))}
    assert unbacked == UNINDEXED_ON_PURPOSE
