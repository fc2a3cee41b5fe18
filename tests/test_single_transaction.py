"""mig apply --single-transaction: the release lands whole or not at all."""

from __future__ import annotations

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import Refused, StatementFailed
from tests.support import TWO_MIGRATIONS, query, run_mig, tables, write_project

BROKEN = {"0003_c.sql": "-- depends: 0002_b\nCREATE TABLE c (id int);\n"
                        "INSERT INTO c VALUES ('x');\n",
          "0003_c.rollback.sql": "DROP TABLE c;\n"}


def test_a_failing_migration_leaves_nothing_of_the_release(tmp_path, db_url):
    write_project(tmp_path, {**TWO_MIGRATIONS, **BROKEN})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings, single_transaction=True)
    text = str(info.value)
    assert "0003_c.sql" in text and "invalid input syntax for type integer" in text
    assert "nothing of the release was applied: its 3 migration(s) ran in one transaction" in text
    assert not {"a", "b", "c"} & tables(db_url)
    assert query(db_url, "SELECT count(*) FROM _yoyo_migration") == [(0,)]

    write_project(tmp_path, {"0003_c.sql": BROKEN["0003_c.sql"].replace("'x'", "1")})
    result = run_mig(["apply", "--single-transaction", "-d", db_url], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "committed the release: 3 migration(s) in one transaction" in result.stderr
    assert commands.status(settings).current
    # one transaction: the tables and every record carry the same creating transaction id
    xids = query(db_url, "SELECT xmin::text FROM pg_class WHERE relname IN ('a', 'b', 'c')"
                         " UNION SELECT xmin::text FROM _mig_migrations"
                         " UNION SELECT xmin::text FROM _yoyo_migration")
    assert len(xids) == 1
    assert [a.id for a in commands.status(settings).applied] == ["0001_a", "0002_b", "0003_c"]
    assert query(db_url, "SELECT rollback_sql FROM _mig_migrations WHERE migration_id = '0003_c'"
                 ) == [("DROP TABLE c;\n",)]


def test_a_non_transactional_migration_is_refused_up_front(tmp_path, db_url):
    write_project(tmp_path, {**TWO_MIGRATIONS,
                             "0003_idx.sql": "-- depends: 0002_b\n-- transactional: false\n"
                                             "CREATE INDEX CONCURRENTLY b_id ON b (id);\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    for dry_run in (True, False):
        with pytest.raises(Refused, match=r"--single-transaction: non-transactional"
                           r" migration\(s\) pending: 0003_idx"):
            commands.apply(settings, single_transaction=True, dry_run=dry_run)
    assert tables(db_url) == set()  # not even the tracking tables
    commands.apply(settings, to="0003_idx")
    assert commands.status(settings).current


def test_a_syntax_error_in_the_release_names_its_file_and_line(tmp_path, db_url):
    write_project(tmp_path, {**TWO_MIGRATIONS,
                             "0003_c.sql": "-- depends: 0002_b\nCREATE TABLE c (id int);\n"
                                           "CREAT INDEX c_id ON c (id);\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings, single_transaction=True)
    text = str(info.value)
    assert "0003_c.sql:3: applying 0003_c failed at: CREAT INDEX c_id ON c (id)" in text
    assert "LINE 3: CREAT INDEX" in text
    # the line as the file has it, the caret under the C of CREAT
    assert "LINE 3: CREAT INDEX c_id ON c (id);\n        ^\n" in text
    assert "mig_mark" not in text
    assert info.value.line == 3 and tables(db_url) & {"a", "b", "c"} == set()


@pytest.mark.parametrize("body, shown", [
    ("SELECT 1;\nSELECT 1 / 0;\nSELECT 2;\n",
     "0003_c.sql:3: applying 0003_c failed at: SELECT 1 / 0"),
    ("-- statement_timeout: 200ms\nSELECT 1;\nSELECT pg_sleep(5);\n",
     "0003_c.sql:4: applying 0003_c failed at: SELECT pg_sleep(5)"),
])
def test_a_failure_in_the_release_names_its_statement(tmp_path, db_url, body, shown):
    write_project(tmp_path, {**TWO_MIGRATIONS, "0003_c.sql": "-- depends: 0002_b\n" + body})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings, single_transaction=True)
    text = str(info.value)
    assert shown in text, text
    assert "statement not located" not in text
    assert "nothing of the release was applied" in text
    assert tables(db_url) & {"a", "b"} == set()
