"""``create_schemas``: a history that starts in a schema its deployments create outside the
migrations applies on a new database, and builds on every scratch database (status --check,
diff, verify) as it did on the live one."""

from __future__ import annotations

import json

from mig.errors import EXIT_INCONSISTENT
from tests.support import query, run_mig, write_project

# The history expects 'auth' (and never creates it); its rollback leaves the schema alone.
HISTORY = {
    "0001_users.sql": "CREATE TABLE auth.users (id bigint PRIMARY KEY);\n",
    "0001_users.rollback.sql": "DROP TABLE auth.users;\n",
    "0002_index.sql": "-- depends: 0001_users\nCREATE INDEX users_id ON auth.users (id);\n",
    "0002_index.rollback.sql": "DROP INDEX auth.users_id;\n",
}
INI = ("[DEFAULT]\nsources = %(here)s/migrations\nmigration_table = _yoyo_migration\n"
       "[mig]\ncreate_schemas = auth, extra\n")


def _run(project, db_url, pg_server, *args: str):
    return run_mig(list(args), cwd=project,
                   env={"MIG_DATABASE_URL": db_url, "MIG_SCRATCH_SERVER": pg_server.url()})


def test_the_schemas_are_created_before_the_first_migration(tmp_path, db_url, pg_server):
    project = write_project(tmp_path / "p", HISTORY, ini=INI)
    shown = json.loads(_run(project, db_url, pg_server, "config", "--json").stdout)
    assert shown["create_schemas"] == ["auth", "extra"]
    applied = _run(project, db_url, pg_server, "apply")
    assert applied.returncode == 0, applied.stderr
    said = applied.stdout + applied.stderr
    assert "created schema auth" in said and "created schema extra" in said
    assert query(db_url, "SELECT to_regclass('auth.users') IS NOT NULL") == [(True,)]
    # the scratch builds have the schemas too: the check and the diff are clean, verify passes
    checked = _run(project, db_url, pg_server, "status", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "the records agree with the catalog" in checked.stdout
    diffed = _run(project, db_url, pg_server, "diff", "--schema", "auth")
    assert diffed.returncode == 0, diffed.stdout + diffed.stderr
    verified = run_mig(["verify", "-d", pg_server.url()], cwd=project)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # a database that has them already is left as it is
    again = _run(project, db_url, pg_server, "apply")
    assert again.returncode == 0 and "created schema" not in again.stdout + again.stderr


def test_without_the_setting_the_history_does_not_build(tmp_path, db_url, pg_server):
    project = write_project(tmp_path / "p", HISTORY)
    failed = _run(project, db_url, pg_server, "apply")
    assert failed.returncode != 0
    assert 'schema "auth" does not exist' in failed.stderr
    # the schema made by hand, as a deployment would: applied, but no scratch build can
    # reproduce it, so the check says what it could not compare instead of passing
    query(db_url, "CREATE SCHEMA auth")
    assert _run(project, db_url, pg_server, "apply").returncode == 0
    checked = _run(project, db_url, pg_server, "status", "--check", "--json")
    assert checked.returncode == EXIT_INCONSISTENT
    kinds = [p["kind"] for p in json.loads(checked.stdout)["problems"]]
    assert kinds == ["unchecked"], checked.stdout
