"""apply / rollback / status / repair against a real server, through the public API."""

from __future__ import annotations

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from mig.errors import BadMigrationFile, ChecksumMismatch, MigError, Refused, StatementFailed
from tests.support import query, tables, write_project

BASIC = {
    "0001_users.sql": """
        -- users
        CREATE TABLE users (id int PRIMARY KEY);
        CREATE INDEX users_idx ON users (id);
    """,
    "0001_users.rollback.sql": "DROP INDEX users_idx;\nDROP TABLE users;\n",
    "0002_orgs.py": '''
        """organizations"""
        from yoyo import step
        __depends__ = {"0001_users"}

        def fill(conn):
            """Insert the first user."""
            conn.cursor().execute("INSERT INTO users VALUES (1)")

        steps = [step("CREATE TABLE orgs (id int)", "DROP TABLE orgs"),
                 step(fill, "DELETE FROM users")]
    ''',
    "0003_extra.sql": "-- depends: 0002_orgs\nCREATE TABLE extra (id int);\n",
    "0003_extra.rollback.sql": "DROP TABLE extra;\n",
    "__init__.py": "",
    "helpers.py": "raise RuntimeError('helper modules are not migrations')\n",
    "README.md": "notes",
}


@pytest.fixture
def project(tmp_path, db_url):
    write_project(tmp_path, BASIC)
    return resolve(database=db_url, project_dir=tmp_path, env={})


def test_apply_status_rollback(project, db_url):
    status = commands.status(project)
    assert [p.id for p in status.pending] == ["0001_users", "0002_orgs", "0003_extra"]
    assert not status.current

    report = commands.apply(project)
    assert [m.id for m in report.migrations] == ["0001_users", "0002_orgs", "0003_extra"]
    assert {"users", "orgs", "extra"} <= tables(db_url)
    assert query(db_url, "SELECT id FROM users") == [(1,)]
    status = commands.status(project)
    assert status.current and len(status.applied) == 3
    assert all(a.applied_at and a.applied_by and a.checksum for a in status.applied)

    # one step by default
    commands.rollback(project)
    assert "extra" not in tables(db_url)
    assert [p.id for p in commands.status(project).pending] == ["0003_extra"]
    # more than one needs confirmation
    with pytest.raises(Refused, match="would roll back 2 migrations"):
        commands.rollback(project, steps=2)
    assert "orgs" in tables(db_url)
    commands.rollback(project, steps=2, yes=True)
    assert not {"users", "orgs"} & tables(db_url)
    assert len(commands.status(project).pending) == 3


def test_apply_to_and_rollback_to(project, db_url):
    commands.apply(project, to="0002_orgs")
    assert [p.id for p in commands.status(project).pending] == ["0003_extra"]
    commands.apply(project)
    commands.rollback(project, to="0001_users", yes=True)
    assert [a.id for a in commands.status(project).applied] == ["0001_users"]
    with pytest.raises(MigError, match="no such migration"):
        commands.apply(project, to="9999_nope")


def test_dry_run_changes_nothing_not_even_tracking_tables(project, db_url):
    report = commands.apply(project, dry_run=True)
    assert [m.id for m in report.migrations] == ["0001_users", "0002_orgs", "0003_extra"]
    assert "CREATE INDEX users_idx ON users (id);" in report.migrations[0].sql
    assert "-- python: fill" in report.migrations[1].sql
    assert "Insert the first user." in report.migrations[1].sql
    assert tables(db_url) == set()
    commands.apply(project)
    before = tables(db_url)
    plan = commands.rollback(project, dry_run=True)
    assert plan.migrations[0].sql.strip() == "DROP TABLE extra;"
    assert tables(db_url) == before


def test_a_rollback_dry_run_shows_the_steps_of_a_group_as_they_run(tmp_path, db_url):
    write_project(tmp_path, {"0001_t.py": """
        from yoyo import group, step

        steps = [
            group(step("CREATE TABLE a (n int)", "DROP TABLE a"),
                  step("CREATE TABLE b (n int)", "DROP TABLE b")),
            step("CREATE TABLE c (n int)", "DROP TABLE c"),
        ]
    """})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings)
    plan = commands.rollback(settings, dry_run=True)
    assert plan.migrations[0].sql.splitlines() == [
        "DROP TABLE c;", "DROP TABLE b;", "DROP TABLE a;"]
    assert {"a", "b", "c"} <= tables(db_url)
    commands.rollback(settings)
    assert not {"a", "b", "c"} & tables(db_url)


def test_checksums_edit_crlf_delete_rename_and_repair(project, tmp_path, db_url):
    commands.apply(project)
    path = tmp_path / "migrations" / "0003_extra.sql"
    # line endings are not a change
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert commands.status(project).current
    commands.apply(project)
    # an edit is
    path.write_text(path.read_text() + "-- edited\n")
    status = commands.status(project)
    assert [e.id for e in status.edited] == ["0003_extra"] and not status.current
    with pytest.raises(ChecksumMismatch) as info:
        commands.apply(project)
    text = str(info.value)
    assert str(path) in text and "edited after it was applied" in text
    recorded, current = info.value.problems[0].recorded, info.value.problems[0].current
    assert recorded[:12] in text and current[:12] in text and recorded != current
    repaired = commands.repair(project)
    assert [r.edited.id for r in repaired.repairs] == ["0003_extra"]
    assert commands.status(project).current
    assert query(db_url, "SELECT operation FROM _mig_log WHERE migration_id = '0003_extra'") == [
        ("repair",)]
    # a rename is followed by repair; a deletion is refused
    path.rename(path.with_name("0004_extra.sql"))
    (tmp_path / "migrations" / "0003_extra.rollback.sql").rename(
        tmp_path / "migrations" / "0004_extra.rollback.sql")
    with pytest.raises(ChecksumMismatch, match="its file is gone"):
        commands.apply(project)
    assert [r.action for r in commands.repair(project).repairs] == ["renamed to 0004_extra"]
    assert commands.status(project).current
    (tmp_path / "migrations" / "0004_extra.sql").unlink()
    with pytest.raises(ChecksumMismatch, match="0004_extra: applied, but its file is gone"):
        commands.repair(project)


def test_migrations_applied_by_plain_yoyo_are_adopted(project, tmp_path, db_url):
    from yoyo import get_backend, read_migrations

    backend = get_backend(db_url)
    migrations = read_migrations(str(tmp_path / "migrations"))
    wanted = migrations.filter(lambda m: m.id in {"0001_users", "0002_orgs"})
    with backend.lock():
        backend.apply_migrations(backend.to_apply(wanted))
    backend.connection.close()
    status = commands.status(project)
    assert [a.id for a in status.applied] == ["0001_users", "0002_orgs"]
    assert not status.edited
    report = commands.apply(project)
    assert sorted(report.adopted) == ["0001_users", "0002_orgs"]
    assert [m.id for m in report.migrations] == ["0003_extra"]
    assert len(query(db_url, "SELECT * FROM _mig_migrations")) == 3


def test_yoyo_list_shows_the_same_applied_set(project, tmp_path, db_url):
    import subprocess
    import sys

    commands.apply(project, to="0002_orgs")
    (tmp_path / "migrations" / "__init__.py").unlink()
    (tmp_path / "migrations" / "helpers.py").unlink()
    out = subprocess.run(
        [sys.executable, "-m", "yoyo", "list", "-b", "--database", db_url, "-c",
         str(tmp_path / "yoyo.ini")], capture_output=True, text=True, check=True).stdout
    yoyo_applied = {line.split()[1] for line in out.splitlines() if line.startswith("A ")}
    assert yoyo_applied == {a.id for a in commands.status(project).applied}


def test_failed_statement_names_file_and_line_and_leaves_nothing(tmp_path, db_url):
    write_project(tmp_path, {
        "0001_ok.sql": "CREATE TABLE ok (id int);\n",
        "0002_bad.sql": "-- bad\nCREATE TABLE half (id int);\n\nCREATE TABLE broken (id int,,);\n",
    })
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings)
    text = str(info.value)
    assert "0002_bad.sql:4" in text and "CREATE TABLE broken" in text and "syntax error" in text
    assert "nothing of this migration was applied" in text
    assert "half" not in tables(db_url)
    assert [a.id for a in commands.status(settings).applied] == ["0001_ok"]


def test_runtime_error_names_the_statement_and_leaves_nothing(tmp_path, db_url):
    write_project(tmp_path, {
        "0001_bad.sql": "CREATE TABLE t (n int);\nINSERT INTO t VALUES (1);\n\n"
                        "-- the second statement fails at run time, not at parse time\n"
                        "UPDATE t SET n = n / 0;\nCREATE TABLE after_it (id int);\n",
    })
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings)
    text = str(info.value)
    assert "0001_bad.sql:5: applying 0001_bad failed at: UPDATE t SET n = n / 0\n" in text
    assert "division by zero" in text
    assert tables(db_url) == {"_mig_log", "_mig_migrations", "_mig_partial", "_mig_progress",
                              "_yoyo_log", "_yoyo_migration", "_yoyo_version"}


RUNS = "SELECT nextval('runs');\n"  # a sequence keeps counting through a rollback


@pytest.mark.parametrize("head, body, located", [
    ("", "SELECT 1 / 0;\n", "0001_t.sql:3: applying 0001_t failed at: SELECT 1 / 0\n"),
    # a slow failure: a replay would have held the migration's locks as long again
    ("", "SELECT pg_sleep(1.2);\nSELECT 1 / 0;\n",
     "0001_t.sql:4: applying 0001_t failed at: SELECT 1 / 0\n"),
    # a statement that ran out of time
    ("-- statement_timeout: 200ms\n", "SELECT 1;\nSELECT pg_sleep(5);\nSELECT 2;\n",
     "0001_t.sql:5: applying 0001_t failed at: SELECT pg_sleep(5)\n"),
    # two statements on one line: the second
    ("", "SELECT 1; SELECT 1 / 0; SELECT 3;\n",
     "0001_t.sql:3: applying 0001_t failed at: SELECT 1 / 0\n"),
])
def test_the_failed_statement_is_named_without_running_anything_again(tmp_path, db_url, head,
                                                                       body, located):
    query(db_url, "CREATE SEQUENCE runs")
    write_project(tmp_path, {"0001_t.sql": head + "CREATE TABLE t (n int);\n" + RUNS + body})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings)
    assert located in str(info.value)
    assert "statement not located" not in str(info.value)
    assert "nothing of this migration was applied" in str(info.value)
    assert query(db_url, "SELECT last_value FROM runs") == [(1,)]  # ran once
    assert "t" not in tables(db_url)


UNMARKED = "RESET ROLE;\n"  # a file that may change who runs it is sent without marks


@pytest.mark.parametrize("head, body, runs, located", [
    # a quick failure is run again statement by statement to name the failing one
    ("", "SELECT 1 / 0;\n", 2, "0001_t.sql:4: applying 0001_t failed at: SELECT 1 / 0\n"),
    # a slow one is not: a replay would hold the migration's locks as long again
    ("", "SELECT pg_sleep(1.2);\nSELECT 1 / 0;\n", 1,
     "failed at: (statement not located: the migration ran 1."),
    # nor one that ran out of time or waited for a lock: that depends on other sessions
    ("-- statement_timeout: 200ms\n", "SELECT pg_sleep(5);\n", 1,
     "failed at: (statement not located: not run again after a timeout"),
])
def test_without_marks_a_failed_migration_is_run_again_only_when_cheap(tmp_path, db_url, head,
                                                                        body, runs, located):
    query(db_url, "CREATE SEQUENCE runs")
    write_project(tmp_path, {
        "0001_t.sql": head + UNMARKED + "CREATE TABLE t (n int);\n" + RUNS + body})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings)
    assert located in str(info.value)
    assert "nothing of this migration was applied" in str(info.value)
    assert query(db_url, "SELECT last_value FROM runs") == [(runs,)]
    assert "t" not in tables(db_url)


def test_a_lock_timeout_names_the_statement_that_waited(tmp_path, db_url):
    query(db_url, "CREATE TABLE busy (n int)")
    write_project(tmp_path, {"0001_t.sql": "-- lock_timeout: 200ms\nCREATE TABLE t (n int);\n"
                                           "\nALTER TABLE busy ADD COLUMN a int;\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={}, db_lock_attempts=1)
    holder = psycopg2.connect(db_url)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
        with pytest.raises(StatementFailed, match="could not get a table lock") as info:
            commands.apply(settings)
    finally:
        holder.close()
    assert ("0001_t.sql:4: applying 0001_t failed at: ALTER TABLE busy ADD COLUMN a int\n"
            in str(info.value))
    assert "lock timeout" in str(info.value)


def test_the_migrations_own_warnings_still_reach_the_report(tmp_path, db_url):
    statements = "".join(f"SELECT {n};\n" for n in range(200))  # 200 marks around them
    write_project(tmp_path, {"0001_t.sql": "DO $$BEGIN RAISE WARNING 'first'; END$$;\n"
                                           + statements
                                           + "DO $$BEGIN RAISE WARNING 'last'; END$$;\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    lines: list[str] = []
    commands.apply(settings, report=lines.append)
    assert "0001_t: warning: first" in lines and "0001_t: warning: last" in lines, lines
    assert not any("mig:statement" in line for line in lines)


def test_per_migration_timeouts_from_the_file(tmp_path, db_url):
    """-- lock_timeout: in a SQL file and __lock_timeout__ in a Python one override the
    defaults (here a generous 60 s), so a busy table fails the migration fast."""
    query(db_url, "CREATE TABLE busy (n int)")
    write_project(tmp_path, {
        "0001_sql.sql": "-- lock_timeout: 300ms\nALTER TABLE busy ADD COLUMN a int;\n",
        "0002_py.py": """
            from yoyo import step
            __depends__ = {"0001_sql"}
            __lock_timeout__ = "300ms"
            steps = [step("ALTER TABLE busy ADD COLUMN b int")]
        """,
    })
    settings = resolve(database=db_url, project_dir=tmp_path, env={},
                       db_lock_timeout="60s", db_lock_attempts=1)
    holder = psycopg2.connect(db_url)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
        with pytest.raises(StatementFailed, match="could not get a table lock") as info:
            commands.apply(settings)
        assert "0001_sql.sql" in str(info.value) and "lock timeout" in str(info.value)
        holder.rollback()
        commands.apply(settings, to="0001_sql")
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE busy IN ACCESS SHARE MODE")
        with pytest.raises(StatementFailed, match="could not get a table lock") as info:
            commands.apply(settings)
        assert "0002_py" in str(info.value)
    finally:
        holder.close()
    assert [a.id for a in commands.status(settings).applied] == ["0001_sql"]


@pytest.mark.parametrize("files", [
    {"0001_t.sql": "CREATE TABLE t (n int);\n"},
    {"0001_t.sql": "CREATE TABLE t (n int);\n", "0001_t.rollback.sql": "-- nothing yet\n"},
    {"0001_t.py": "from yoyo import step\nsteps = [step('CREATE TABLE t (n int)')]\n"},
])
def test_a_migration_without_rollback_is_refused_unless_forced(tmp_path, db_url, files):
    write_project(tmp_path, files)
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings)
    with pytest.raises(Refused, match="0001_t has no .*rolling it back would change nothing"):
        commands.rollback(settings)
    assert [a.id for a in commands.status(settings).applied] == ["0001_t"]
    commands.rollback(settings, force=True)
    assert commands.status(settings).applied == [] and "t" in tables(db_url)


@pytest.mark.parametrize("transactional", [True, False])
def test_a_python_step_that_raises_names_its_file_and_line(tmp_path, db_url, transactional):
    write_project(tmp_path, {"0001_t.py": f"""
        from yoyo import step
        __transactional__ = {transactional}

        def fill(conn):
            conn.cursor().execute("INSERT INTO t VALUES (1)")
            raise ValueError("no such plan: gold")

        steps = [step("CREATE TABLE t (n int)", "DROP TABLE t"), step(fill)]
    """})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(StatementFailed) as info:
        commands.apply(settings)
    text = str(info.value)
    assert "0001_t.py:6: applying 0001_t failed at: python step 'fill'" in text
    assert "ValueError: no such plan: gold" in text
    if transactional:
        assert "nothing of this migration was applied" in text and "t" not in tables(db_url)
    else:
        assert "1 of 2 step(s) remain applied" in text and "t" in tables(db_url)


@pytest.mark.parametrize("file, where", [
    ("0001_t.sql", "0001_t.sql:2: -- lock_timeout: must be a duration"),
    ("0001_t.py", "0001_t.py: __lock_timeout__ must be a duration"),
])
def test_a_malformed_timeout_names_the_file(tmp_path, db_url, file, where):
    text = ("-- a table\n-- lock_timeout: soon\nCREATE TABLE t (n int);\n" if file.endswith("sql")
            else "from yoyo import step\n__lock_timeout__ = 'soon'\nsteps = [step('SELECT 1')]\n")
    write_project(tmp_path, {file: text})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    with pytest.raises(BadMigrationFile, match=where + r" like 5s.*got 'soon'"):
        commands.apply(settings)
    assert commands.status(settings).applied == []


def test_post_apply_hook_runs_after_migrations(tmp_path, db_url):
    write_project(tmp_path, {
        "0001_t.sql": "CREATE TABLE t (n int);\n",
        "post-apply.sql": "INSERT INTO t VALUES (1);\n",
    })
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings)
    assert query(db_url, "SELECT count(*) FROM t") == [(1,)]
    assert [a.id for a in commands.status(settings).applied] == ["0001_t"]
    commands.apply(settings)  # nothing pending: yoyo runs hooks only after applying something
    assert query(db_url, "SELECT count(*) FROM t") == [(1,)]


@pytest.mark.parametrize(
    "files,needle",
    [
        ({"0001_x.py": "import nonexistent_module_xyz\n"},
         "0001_x.py:1: the migration does not import (ModuleNotFoundError"),
        ({"0001_x.py": "steps = [\n"}, "0001_x.py:1: the migration does not import (SyntaxError"),
        ({"0001_x.sql": "-- depends: 0000_missing\nSELECT 1;\n"},
         "depends on unknown migration(s) 0000_missing"),
    ],
)
def test_bad_files_are_refused_before_connecting(tmp_path, files, needle):
    write_project(tmp_path, files)
    settings = resolve(database="postgresql://nobody@127.0.0.1:1/none", project_dir=tmp_path,
                       env={})
    with pytest.raises(BadMigrationFile) as info:
        commands.apply(settings)
    assert needle in str(info.value)


def test_new_creates_ordered_files(tmp_path, db_url):
    write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    sql_paths = commands.new(settings, "Add Widgets!")
    assert [p.name.split("_", 2)[-1] for p in sql_paths] == ["add_widgets.sql",
                                                             "add_widgets.rollback.sql"]
    assert "-- depends: 0001_a" in sql_paths[0].read_text()
    sql_paths[0].write_text(sql_paths[0].read_text() + "CREATE TABLE w (id int);\n")
    sql_paths[1].write_text("DROP TABLE w;\n")
    py_path = commands.new(settings, "backfill", python=True)[0]
    assert py_path.suffix == ".py" and sql_paths[0].stem in py_path.read_text()
    py_path.write_text(py_path.read_text().replace('"",  # apply', '"CREATE TABLE p (id int)",')
                       .replace('"",  # rollback', '"DROP TABLE p",'))
    commands.apply(settings)
    assert "w" in tables(db_url)
    assert commands.status(settings).current


def test_a_dry_run_refuses_what_the_real_run_refuses(tmp_path, db_url):
    """One plan serves both runs: a migration applied without mig's checksum (as plain yoyo
    applies) whose file is gone stops the dry run as it stops the apply."""
    write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n",
                             "0002_b.sql": "CREATE TABLE b (id int);\n"})
    settings = resolve(database=db_url, project_dir=tmp_path, env={})
    commands.apply(settings, to="0001_a")
    query(db_url, "DELETE FROM _mig_migrations WHERE migration_id = '0001_a'")
    (tmp_path / "migrations" / "0001_a.sql").unlink()
    with pytest.raises(ChecksumMismatch, match="0001_a: applied, but its file is gone") as real:
        commands.apply(settings)
    with pytest.raises(ChecksumMismatch) as dry:
        commands.apply(settings, dry_run=True)
    assert dry.value.problems == real.value.problems
    assert "b" not in tables(db_url)
