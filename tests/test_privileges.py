"""Least privilege: migrations run as a migration role, the application as a role without DDL.

The shipped migration 20260212_120000_application_role_privileges grants the application role
(app_role) exactly row access on the product's tables (SELECT and INSERT only on audit_logs),
default privileges for later tables, and read access to the migration records; its rollback
revokes exactly that. Every test migrates as a plain role that owns its database, as in
production, never as a superuser.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest

from mig.engine.comparison import diff
from mig.engine.snapshot import is_tracking_table, snapshot
from tests.support import copy_shipped_project, query, run_mig

PRIVILEGES_MIGRATION = "20260212_120000_application_role_privileges"
ROW_ACCESS = ("SELECT", "INSERT", "UPDATE", "DELETE")
NEVER = ("TRUNCATE", "REFERENCES", "TRIGGER")


@dataclass
class Deploy:
    """A database owned by a migration role, and an application role, on the test server."""

    server: object
    dbname: str
    migrator: str
    app: str
    project: Path

    def url(self, role: str) -> str:
        return f"postgresql://{role}@127.0.0.1:{self.server.port}/{self.dbname}"

    def mig(self, *args: str, role: str | None = None):
        result = run_mig([*args, "-d", self.url(role or self.migrator)], cwd=self.project,
                         env={"MIG_APP_ROLE": self.app})
        return result


def _admin(server, sql_text: str) -> None:
    conn = psycopg2.connect(server.url())
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql_text)
    finally:
        conn.close()


def _project(root: Path, extra: dict[str, str] | None = None) -> Path:
    copy_shipped_project(root, seeds=False)
    for name, text in (extra or {}).items():
        (root / "migrations" / name).write_text(text)
    return root


@pytest.fixture
def deploy(pg_server, tmp_path) -> Iterator[Deploy]:
    tag = uuid.uuid4().hex[:8]
    d = Deploy(pg_server, f"priv_{tag}", f"migrator_{tag}", f"app_{tag}", _project(tmp_path))
    # The migration role owns its database (so it may create tables in public) and may not
    # create roles; the application role exists and may log in, as an operator would set up.
    _admin(pg_server, f"CREATE ROLE {d.migrator} LOGIN NOSUPERUSER NOCREATEROLE")
    _admin(pg_server, f"CREATE ROLE {d.app} LOGIN NOSUPERUSER")
    _admin(pg_server, f"CREATE DATABASE {d.dbname} OWNER {d.migrator}")
    roles = (d.app, d.migrator)  # tests may point d.app elsewhere
    yield d
    _admin(pg_server, f"DROP DATABASE IF EXISTS {d.dbname} WITH (FORCE)")
    for role in roles:
        _admin(pg_server, f"DROP ROLE IF EXISTS {role}")


def _as(d: Deploy, role: str, statement: str, params: tuple = ()) -> list[tuple]:
    return query(d.url(role), statement, params)


def _denied(d: Deploy, statement: str) -> str:
    with pytest.raises(psycopg2.errors.InsufficientPrivilege) as caught:
        _as(d, d.app, statement)
    return str(caught.value)


def _product_tables(d: Deploy) -> list[str]:
    rows = _as(d, d.migrator, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return sorted(name for (name,) in rows if not is_tracking_table(name))


def test_the_application_reads_and_writes_rows_but_changes_no_schema(deploy):
    d = deploy
    result = d.mig("apply")
    assert result.returncode == 0, result.stderr

    user = _as(d, d.app, "INSERT INTO users (email, password_hash, full_name)"
                         " VALUES ('a@example.com', 'x', 'A') RETURNING id")[0][0]
    org = _as(d, d.app, "INSERT INTO organizations (name, slug) VALUES ('Acme', 'acme')"
                        " RETURNING id")[0][0]
    _as(d, d.app, "UPDATE users SET full_name = 'B' WHERE id = %s", (user,))
    assert _as(d, d.app, "SELECT full_name FROM users WHERE id = %s", (user,)) == [("B",)]
    _as(d, d.app, "INSERT INTO audit_logs (organization_id, actor_user_id, action)"
                  " VALUES (%s, %s, 'user.renamed')", (org, user))
    assert _as(d, d.app, "SELECT count(*) FROM audit_logs") == [(1,)]

    # Audit entries can be added and read, never changed or removed: by privilege, before
    # the append-only trigger is even reached.
    assert "permission denied for table audit_logs" in _denied(
        d, "UPDATE audit_logs SET action = 'user.deleted'")
    _denied(d, "DELETE FROM audit_logs")
    _denied(d, "TRUNCATE audit_logs")

    # No DDL: it owns nothing and may create nothing in the schema.
    assert "permission denied for schema public" in _denied(d, "CREATE TABLE t (id int)")
    assert "must be owner of table users" in _denied(d, "ALTER TABLE users ADD COLUMN x int")
    _denied(d, "DROP TABLE users")
    _denied(d, "CREATE INDEX ON users (full_name)")
    _denied(d, "TRUNCATE users")
    _denied(d, "CREATE SCHEMA other")
    # The migration records are readable (for 'mig status' and 'mig wait'), not writable.
    assert _as(d, d.app, "SELECT count(*) FROM _yoyo_migration")[0][0] >= 7
    _denied(d, "DELETE FROM _yoyo_migration")
    _denied(d, "INSERT INTO _mig_migrations (migration_id, checksum) VALUES ('x', 'y')")

    # Deleting rows works, and the database's own foreign-key actions still apply to the
    # audit log (its entries forget the deleted organization and user).
    _as(d, d.app, "DELETE FROM organizations WHERE id = %s", (org,))
    _as(d, d.app, "DELETE FROM users WHERE id = %s", (user,))
    assert _as(d, d.app, "SELECT organization_id, actor_user_id FROM audit_logs") == [
        (None, None)]


def test_every_table_the_migrations_create_gets_exactly_row_access(deploy):
    d = deploy
    assert d.mig("apply").returncode == 0
    tables = _product_tables(d)
    assert "users" in tables and "audit_logs" in tables
    for table in tables:
        wanted = ("SELECT", "INSERT") if table == "audit_logs" else ROW_ACCESS
        for privilege in ROW_ACCESS + NEVER:
            has = _as(d, d.migrator, "SELECT has_table_privilege(%s, %s, %s)",
                      (d.app, table, privilege))[0][0]
            assert has == (privilege in wanted), (table, privilege)
    owned = _as(d, d.migrator, "SELECT count(*) FROM pg_class c JOIN pg_roles r"
                               " ON r.oid = c.relowner WHERE r.rolname = %s", (d.app,))
    assert owned == [(0,)]


def test_tables_of_later_migrations_get_the_same_rights_through_default_privileges(
        deploy, tmp_path):
    d = deploy
    d.project = _project(tmp_path / "later", {
        "29990101_000000_widgets.sql": f"-- depends: {PRIVILEGES_MIGRATION}\n"
        "CREATE TABLE widgets (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);\n",
        "29990101_000000_widgets.rollback.sql": "DROP TABLE widgets;\n",
    })
    assert d.mig("apply").returncode == 0
    _as(d, d.app, "INSERT INTO widgets (name) VALUES ('w')")  # needs the sequence too
    _as(d, d.app, "UPDATE widgets SET name = 'v'")
    assert _as(d, d.app, "SELECT id, name FROM widgets") == [(1, "v")]
    _denied(d, "DROP TABLE widgets")


def test_the_rollback_revokes_exactly_what_was_granted(deploy):
    d = deploy
    assert d.mig("apply", "--to", _previous_migration(d)).returncode == 0
    conn = psycopg2.connect(d.url(d.migrator))
    try:
        before = snapshot(conn)
        conn.rollback()
        assert d.mig("apply").returncode == 0
        applied = snapshot(conn)
        conn.rollback()
        assert any(d.app in line for line in diff(before, applied))  # it did grant
        result = d.mig("rollback")
        assert result.returncode == 0, result.stderr
        assert diff(before, snapshot(conn)) == []
    finally:
        conn.close()
    for table in _product_tables(d) + ["_yoyo_migration", "_mig_migrations", "_yoyo_log"]:
        for privilege in ROW_ACCESS:
            assert not _as(d, d.migrator, "SELECT has_table_privilege(%s, %s, %s)",
                           (d.app, table, privilege))[0][0], (table, privilege)
    assert _as(d, d.migrator, "SELECT count(*) FROM pg_default_acl") == [(0,)]
    # and applying it again grants it all again
    assert d.mig("apply").returncode == 0
    _as(d, d.app, "SELECT count(*) FROM users")


def _previous_migration(d: Deploy) -> str:
    ids = sorted(p.stem for p in (d.project / "migrations").glob("[0-9]*.sql")
                 if not p.name.endswith(".rollback.sql") and p.stem < PRIVILEGES_MIGRATION)
    return ids[-1]


def test_status_and_wait_work_with_the_application_role(deploy):
    d = deploy
    result = d.mig("status", "--exit-code", role=d.app)
    assert result.returncode == 4  # nothing applied yet: no records to read, all pending
    assert d.mig("apply").returncode == 0
    result = d.mig("status", "--exit-code", role=d.app)
    assert result.returncode == 0, result.stderr
    result = d.mig("wait", "--timeout", "5", role=d.app)
    assert result.returncode == 0, result.stderr


def test_before_the_grant_the_application_role_is_told_it_may_not_read_the_records(deploy):
    d = deploy
    assert d.mig("apply", "--to", _previous_migration(d)).returncode == 0
    result = d.mig("status", role=d.app)
    assert result.returncode == 1
    assert "may not read the migration records" in result.stderr
    assert "Traceback" not in result.stderr
    result = d.mig("wait", "--timeout", "0", role=d.app)
    assert result.returncode == 1 and "gave up after 0 s" in result.stderr


def test_a_missing_application_role_is_created_without_login(deploy, pg_server):
    d = deploy
    missing = f"{d.app}_new"
    result = run_mig(["apply", "-d", pg_server.url(d.dbname), "--app-role", missing],
                     cwd=d.project)  # as a superuser, which may create roles
    try:
        assert result.returncode == 0, result.stderr
        assert _as(d, d.migrator, "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s",
                   (missing,)) == [(False,)]
        assert _as(d, d.migrator, "SELECT has_table_privilege(%s, 'users', 'UPDATE')",
                   (missing,)) == [(True,)]
    finally:
        _admin(pg_server, f"DROP DATABASE {d.dbname} WITH (FORCE)")
        _admin(pg_server, f"DROP ROLE IF EXISTS {missing}")


def test_a_missing_role_that_the_migration_role_may_not_create_is_a_clear_error(deploy):
    d = deploy
    d.app = f"{d.app}_missing"
    result = d.mig("apply")
    assert result.returncode == 1
    assert (f"the application role {d.app} does not exist, and the migrating role "
            f"{d.migrator} may not create it") in result.stderr
    assert f"CREATE ROLE {d.app} LOGIN" in result.stderr
    applied = _as(d, d.migrator, "SELECT migration_id FROM _yoyo_migration")
    assert (PRIVILEGES_MIGRATION,) not in applied


def test_the_application_role_may_not_be_the_migration_role(deploy):
    d = deploy
    d.app = d.migrator  # it owns the tables: any grant to it is meaningless
    result = d.mig("apply")
    assert result.returncode == 1
    assert (f"the application role {d.migrator} is, or is a member of, the migrating role "
            f"{d.migrator}, which owns the tables") in result.stderr


def test_the_application_role_may_not_be_a_member_of_the_migration_role(deploy):
    d = deploy
    _admin(d.server, f"GRANT {d.migrator} TO {d.app}")  # it could SET ROLE to the owner
    result = d.mig("apply")
    assert result.returncode == 1
    assert f"the application role {d.app} is, or is a member of, the migrating role" in (
        result.stderr)
    _admin(d.server, f"REVOKE {d.migrator} FROM {d.app}")


def test_a_superuser_application_role_is_refused(deploy):
    d = deploy
    _admin(d.server, f"ALTER ROLE {d.app} SUPERUSER")
    result = d.mig("apply")
    assert result.returncode == 1
    assert f"the application role {d.app} is a superuser" in result.stderr


def test_the_role_name_reaches_the_migration_as_a_quoted_identifier(deploy):
    d = deploy
    odd = f'App "{d.app}"'
    d.app = odd
    _admin(d.server, f"CREATE ROLE {_quoted(odd)} LOGIN")
    try:
        assert d.mig("apply").returncode == 0
        assert _as(d, d.migrator, "SELECT has_table_privilege(%s, 'users', 'SELECT')",
                   (odd,)) == [(True,)]
        assert d.mig("rollback").returncode == 0
        assert _as(d, d.migrator, "SELECT has_table_privilege(%s, 'users', 'SELECT')",
                   (odd,)) == [(False,)]
    finally:
        _admin(d.server, f"DROP DATABASE {d.dbname} WITH (FORCE)")
        _admin(d.server, f"DROP ROLE {_quoted(odd)}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def test_a_schema_open_to_every_role_is_reported(deploy):
    """PostgreSQL 14 and older grant CREATE on public to PUBLIC: the migration cannot take that
    away (only the schema's owner can), so the run says so, with the fix."""
    d = deploy
    _admin(d.server, "SELECT 1")  # the server is up
    conn = psycopg2.connect(d.server.url(d.dbname))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # as PostgreSQL 14 has it
    result = d.mig("apply")
    assert result.returncode == 0, result.stderr
    assert (f"{PRIVILEGES_MIGRATION}: warning: the application role {d.app} may create tables"
            " in schema public") in result.stderr
    assert "hint: as the owner of the schema: REVOKE CREATE ON SCHEMA public FROM PUBLIC" in (
        result.stderr)
    with conn.cursor() as cur:
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    conn.close()
    assert "permission denied for schema public" in _denied(d, "CREATE TABLE t (id int)")
    # without the grant, not a word
    assert d.mig("rollback").returncode == 0
    again = d.mig("apply")
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr
