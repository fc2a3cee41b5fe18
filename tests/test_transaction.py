"""engine.connect.transaction: one transaction on an autocommit connection, all or nothing."""

from __future__ import annotations

import psycopg2
import pytest

from mig.engine.connect import transaction


def _rows(conn) -> list[tuple]:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute("SELECT n FROM t ORDER BY n")
        return cur.fetchall()


def test_a_block_commits_whole_or_not_at_all_and_the_connection_is_autocommit_after(db_url):  # type: ignore[no-untyped-def]
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (n int)")
        with transaction(conn), conn.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (1)")
            cur.execute("INSERT INTO t VALUES (2)")
        assert conn.autocommit
        with pytest.raises(psycopg2.errors.DivisionByZero), transaction(conn), \
                conn.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (3)")
            cur.execute("SELECT 1 / 0")
        assert conn.autocommit
        assert _rows(conn) == [(1,), (2,)]  # the failed block's first row is gone too
    finally:
        conn.close()
