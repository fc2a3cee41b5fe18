"""The record never lies: after any fault, what mig reports is what the database holds.

Partial non-transactional runs, files that would run other than they read, honest errors,
and the consistency check (``mig status --check``) against the catalog.
"""

from __future__ import annotations

from mig import commands
from mig.config import resolve
from tests.support import query, write_project

NONTX = {
    "0001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, n int);\n",
    "0001_t.rollback.sql": "DROP TABLE t;\n",
    "0002_nt.sql": """
        -- depends: 0001_t
        -- transactional: false
        CREATE INDEX CONCURRENTLY t_n ON t (n);
        CREATE TABLE u (id int);
    """,
    "0002_nt.rollback.sql": "DROP TABLE u;\nDROP INDEX CONCURRENTLY t_n;\n",
}


def test_progress_table_of_an_older_mig_is_upgraded_and_resumed(tmp_path, db_url):
    """A _mig_progress written by an older mig (no direction, no checksums) is upgraded in
    place and its completed step still counts on resume."""
    write_project(tmp_path, NONTX)
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings, to="0001_t")
    query(db_url, "DROP TABLE _mig_progress, _mig_partial;"
                  " CREATE TABLE _mig_progress (migration_id text NOT NULL, step integer NOT NULL,"
                  " done_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration_id, step));"
                  " INSERT INTO _mig_progress VALUES ('0002_nt', 0);"
                  " CREATE INDEX t_n ON t (n)")
    commands.apply(settings)
    assert query(db_url, "SELECT count(*) FROM u") == [(0,)]
    columns = query(db_url, "SELECT attname FROM pg_attribute WHERE attrelid = '_mig_progress'"
                            "::regclass AND attnum > 0 ORDER BY attnum")
    assert [c[0] for c in columns] == ["migration_id", "step", "done_at", "direction", "checksum"]
    assert query(db_url, "SELECT count(*) FROM _mig_progress") == [(0,)]
