"""Each applied migration's rollback is stored with its record; older tracking tables gain the
columns in place."""

from __future__ import annotations

from mig import commands
from mig.config import resolve
from tests.helpers import TWO_MIGRATIONS, query, write_project

PY_MIGRATION = {
    "0003_c.py": '''
        from yoyo import step
        __depends__ = {"0002_b"}
        steps = [step("CREATE TABLE c (id int)", "DROP TABLE c")]
    ''',
}

# _mig_migrations as mig created it before rollbacks were stored.
OLD_TABLE = """
CREATE TABLE _mig_migrations (
    migration_id text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    duration_ms integer
);
INSERT INTO _mig_migrations (migration_id, checksum) VALUES ('0000_old', 'abc');
"""


def test_apply_stores_each_rollback(tmp_path, db_url):
    write_project(tmp_path, {**TWO_MIGRATIONS, **PY_MIGRATION})
    commands.apply(resolve(database=db_url, project_dir=tmp_path, env={}))
    rows = query(db_url, "SELECT migration_id, transactional, rollback_kind, rollback_sql"
                 " FROM _mig_migrations ORDER BY migration_id")
    assert rows == [("0001_a", True, "sql", "DROP TABLE a;\n"),
                    ("0002_b", True, "sql", "DROP TABLE b;\n"),
                    ("0003_c", True, "python", None)]


def test_an_old_tracking_table_is_upgraded_in_place(tmp_path, db_url):
    query(db_url, OLD_TABLE)
    write_project(tmp_path, TWO_MIGRATIONS)
    commands.apply(resolve(database=db_url, project_dir=tmp_path, env={}))
    rows = query(db_url, "SELECT migration_id, checksum, rollback_kind, rollback_sql"
                 " FROM _mig_migrations ORDER BY migration_id")
    assert rows[0] == ("0000_old", "abc", None, None)  # kept as it was: nothing known
    assert rows[1:] == [(mid, rows[i + 1][1], "sql", f"DROP TABLE {t};\n")
                        for i, (mid, t) in enumerate([("0001_a", "a"), ("0002_b", "b")])]
