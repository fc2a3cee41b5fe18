"""`mig status` tells how each applied migration came to be recorded: run by mig, marked by a
baseline, or adopted from plain yoyo (read from the `_mig_log` events)."""

from __future__ import annotations

import getpass
import json
import socket

import psycopg2
import pytest

from mig import commands
from mig.config import resolve
from tests.support import CHAIN_OF_THREE, run_mig, write_project


def _status(project, url: str) -> tuple[dict[str, dict], list[str]]:
    as_json = run_mig(["status", "--json", "-d", url], cwd=project)
    assert as_json.returncode == 0, as_json.stderr
    text = run_mig(["status", "-d", url], cwd=project)
    assert text.returncode == 0, text.stderr
    return ({a["id"]: a for a in json.loads(as_json.stdout)["applied"]},
            text.stdout.splitlines())


def _row(lines: list[str], mid: str) -> list[str]:
    line = next(line for line in lines if f" {mid} " in line or line.endswith(f" {mid}"))
    return line.split()


def test_baselined_adopted_and_run_migrations_are_told_apart(tmp_path, db_url, pg_server):
    from yoyo import get_backend, read_migrations

    project = write_project(tmp_path / "project", CHAIN_OF_THREE)
    conn = psycopg2.connect(db_url)  # the old system built 0001 by hand
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id int)")
    conn.close()
    done = run_mig(["baseline", "--to", "0001_a", "-d", db_url, "--scratch-server",
                    pg_server.url()], cwd=project)
    assert done.returncode == 0, done.stderr
    backend = get_backend(db_url)  # plain yoyo applies 0002
    with backend.lock():
        backend.apply_migrations(backend.to_apply(read_migrations(
            str(project / "migrations")).filter(lambda m: m.id == "0002_b")))
    backend.connection.close()
    settings = resolve(project_dir=project, database=db_url, env={})
    assert commands.apply(settings).adopted == ["0002_b"]  # and runs 0003

    applied, lines = _status(project, db_url)
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    assert applied["0001_a"]["recorded"] == "baseline"
    assert applied["0001_a"]["recorded_by"] == who and applied["0001_a"]["recorded_at"]
    assert applied["0002_b"]["recorded"] == "adopt"
    assert applied["0002_b"]["recorded_by"] == who
    assert applied["0003_c"]["recorded"] == "run" and "recorded_by" not in applied["0003_c"]
    baselined = _row(lines, "0001_a")
    assert baselined[0] == "baselined" and baselined[-3:] == ["mig", "baseline", f"({who})"]
    adopted = _row(lines, "0002_b")
    assert adopted[0] == "adopted" and adopted[-4:] == ["adopted", "by", "mig", f"({who})"]
    assert _row(lines, "0003_c")[0] == "applied"
    assert ("3 applied (1 baselined: recorded, not run) (1 adopted from plain yoyo), "
            "0 pending, 0 edited, 0 unfinished") in lines

    # rolled back and applied again by mig: run by mig from then on
    commands.rollback(settings, steps=3, yes=True)
    commands.apply(settings)
    applied, lines = _status(project, db_url)
    assert {a["recorded"] for a in applied.values()} == {"run"}
    assert [_row(lines, m)[0] for m in ("0001_a", "0002_b", "0003_c")] == ["applied"] * 3


SEQUELIZE = """
CREATE TABLE a (id int);
CREATE TABLE "SequelizeMeta" (name varchar(255) PRIMARY KEY);
INSERT INTO "SequelizeMeta" VALUES ('20250101000000-create-a.js');
CREATE TABLE "SequelizeData" (name varchar(255) PRIMARY KEY);
INSERT INTO "SequelizeData" VALUES ('20250102000000-demo-users.js'),
    ('20250103000000-admin.js');
"""


def test_sequelize_seeders_are_a_foreign_history_too(tmp_path, db_url, pg_server):
    """sequelize-cli records the seeders it ran in SequelizeData (seederStorage: sequelize)."""
    project = write_project(tmp_path / "project", CHAIN_OF_THREE)
    conn = psycopg2.connect(db_url)
    with conn, conn.cursor() as cur:
        cur.execute(SEQUELIZE)
    conn.close()
    shown = run_mig(["foreign", "-d", db_url], cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "SequelizeMeta: 20250101000000-create-a.js",
        "SequelizeData: 20250102000000-demo-users.js  (seeder)",
        "SequelizeData: 20250103000000-admin.js  (seeder)"]
    as_json = json.loads(run_mig(["foreign", "--json", "-d", db_url], cwd=project).stdout)
    entries = as_json["entries"] if isinstance(as_json, dict) else as_json
    assert {(e["table"], e["tool"], e["note"]) for e in entries if e["table"] == "SequelizeData"
            } == {("SequelizeData", "sequelize-cli", "seeder")}

    scratch = ["--scratch-server", pg_server.url()]
    unmapped = (project / "map.yaml")
    unmapped.write_text("SequelizeMeta:\n  20250101000000-create-a.js: 0001_a\n")
    refused = run_mig(["baseline", "--to", "0001_a", "--map", str(unmapped), "-d", db_url,
                       *scratch], cwd=project)
    assert refused.returncode == 1
    assert ("SequelizeData: 20250102000000-demo-users.js: applied in the database, but not in "
            "the map") in refused.stderr
    unmapped.write_text("SequelizeMeta:\n  20250101000000-create-a.js: 0001_a\n"
                        "SequelizeData:\n  20250102000000-demo-users.js: null\n"
                        "  20250103000000-admin.js: null\n")
    done = run_mig(["baseline", "--to", "0001_a", "--map", str(unmapped), "-d", db_url,
                    *scratch], cwd=project)
    assert done.returncode == 0, done.stderr
    assert "3 foreign entries replaced" in done.stdout


def test_sequelize_meta_is_kept_read_only_for_its_owner_too(db_url):
    """docs/examples/sequelize/read_only.sql, run by the role that owns SequelizeMeta
    (the one sequelize-cli runs as): no row can be added, changed or deleted by it either;
    a REVOKE would not stop it (an owner grants itself its privileges back)."""
    from tests.support import REPO

    tail = (REPO / "docs" / "examples" / "sequelize" / "read_only.sql").read_text()
    owner = "sequelize_owner_" + db_url.rsplit("/", 1)[1]
    admin = psycopg2.connect(db_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {owner} LOGIN")
        cur.execute(f"GRANT CREATE ON SCHEMA public TO {owner}")
    try:
        conn = psycopg2.connect(db_url, user=owner)  # the server trusts local roles
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('CREATE TABLE "SequelizeMeta" (name varchar(255) PRIMARY KEY);'
                        """INSERT INTO "SequelizeMeta" VALUES ('20250101000000-a.js')""")
            # what the docs say does not work: a REVOKE from the owner, granted right back
            cur.execute(f'REVOKE DELETE ON "SequelizeMeta" FROM {owner}')
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute('DELETE FROM "SequelizeMeta"')
            cur.execute(f'GRANT DELETE ON "SequelizeMeta" TO {owner}')
            cur.execute(tail)
            for statement, error in [
                    ("""DELETE FROM "SequelizeMeta" WHERE name = '20250101000000-a.js'""",
                     "SequelizeMeta is read-only"),
                    ('DELETE FROM "SequelizeMeta"', "SequelizeMeta is read-only"),
                    ("""INSERT INTO "SequelizeMeta" VALUES ('20250301000000-b.js')""",
                     "SequelizeMeta_read_only"),
                    ("""UPDATE "SequelizeMeta" SET name = 'x.js'""",
                     "SequelizeMeta_read_only")]:
                with pytest.raises(psycopg2.Error, match=error):
                    cur.execute(statement)
            cur.execute('SELECT name FROM "SequelizeMeta"')  # db:migrate's read still works
            assert cur.fetchall() == [("20250101000000-a.js",)]
        conn.close()
    finally:
        with admin.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS "SequelizeMeta"')
            cur.execute(f"REVOKE CREATE ON SCHEMA public FROM {owner}")
            cur.execute(f"DROP ROLE {owner}")
        admin.close()
