"""The real histories of ``../shared/corpus`` imported with ``mig import`` and run as their
owners would: ory/hydra's 228 migrations on PostgreSQL 15 (its first migration needs
``uuid-ossp``, which the embedded server lacks), supabase's auth history on the test server.

Applied on a new database, every migration is recorded, ``mig status --check`` finds nothing
wrong and a second apply does nothing. Their rollbacks are judged too: ``mig verify
--keep-going`` names exactly hydra's rollbacks that do not restore the schema (each read in the
SQL: :data:`WRONG_DOWNS` and the down files that hold no statement), a forced full rollback
stops at the first down that fails with the record still true, and supabase's missing rollbacks
are refused as every rollback mig cannot do is.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from mig.disk.sqltext import has_sql
from mig.errors import EXIT_INCONSISTENT, EXIT_REFUSED
from mig.server import FAST_UNSAFE_SETTINGS, LocalServer
from tests.support import (
    CORPUS,
    HYDRA,
    PG15_BINDIR,
    SUPABASE_AUTH,
    create_database,
    drop_database,
    import_hydra,
    import_supabase_auth,
    query,
    run_mig,
)

HYDRA_COUNT = 228

# hydra's rollbacks that hold statements and still do not restore the schema from before their
# migration, each with what the SQL does wrong and a line of what verify finds (read in the up
# and down files; every other failure is a down file of comments only).
WRONG_DOWNS = {
    "20190100000005000000_client": (
        "re-adds the dropped column `public` with DEFAULT FALSE, which it never had (and at "
        "the end of the table)",
        "+ column hydra_client.public: boolean not null default false"),
    "20221109000010000000_fix_foreign_key": (
        "restores the column default only: the foreign key stays ON DELETE SET NULL instead "
        "of CASCADE",
        "+ constraint hydra_oauth2_flow.hydra_oauth2_flow_login_session_id_fk: FOREIGN KEY "
        "(login_session_id) REFERENCES hydra_oauth2_authentication_session(id) ON DELETE SET"
        " NULL"),
    "20230606112801000001_remove_flow_indices": (
        "recreates hydra_oauth2_flow_multi_query_idx on consent_error, not on "
        "consent_error::varchar(2) as it was built",
        "+ index hydra_oauth2_flow_multi_query_idx: CREATE INDEX "
        "hydra_oauth2_flow_multi_query_idx ON public.hydra_oauth2_flow USING btree "
        "(consent_error, state"),
    "20241012144910000001_unused_indices": (
        "does not recreate hydra_oauth2_access_client_id_subject_idx, and creates five "
        "*_expires_at* indexes the up dropped only IF EXISTS (they did not exist)",
        "- index hydra_oauth2_access_client_id_subject_idx:"),
    "20250523000001000000_rm_oauth2_trusted_jwt_bearer_issuer_unefficient_uq_idx": (
        "creates a unique index the up did not drop (its DROP INDEX IF EXISTS names an index "
        "PostgreSQL never had), under a name truncated to 63 bytes",
        "+ index hydra_oauth2_trusted_jwt_bearer_issuer_issuer_subject_key_id_ke:"),
    "20251119112639000000_flow_drop_defaults": (
        "restores the NOT NULLs only: the 15 defaults its up dropped are restored by the down "
        "of 20251119112639000002, whose own up does nothing",
        "- column hydra_oauth2_flow.acr: text not null default ''::text"),
    "20251119112639000002_flow_drop_defaults": (
        "sets the 15 defaults that 20251119112639000000's up dropped, though its own up is a "
        "comment: rolled back alone it adds defaults that were not there",
        "+ column hydra_oauth2_flow.acr: text not null default ''::text"),
}
# Down files of comments only ("Down migrations from Hydra 2.x to 1.x are not available", "This
# is a blank migration ...") whose up changes the schema.
EMPTY_DOWNS = 78

# The first down a forced full rollback of hydra cannot run: the table it alters was dropped by
# 20211019000001000004, whose down is a comment.
FIRST_FAILING_DOWN = "20210928155900000000_support_amr_claim"
# What the rolled-back migrations' empty downs left missing that the migrations still applied
# build (status --check's missing-object problems).
MISSING_AFTER_ROLLBACK = [
    ("missing-object", "public.hydra_oauth2_authentication_request"),
    ("missing-object", "public.hydra_oauth2_authentication_request_handled"),
    ("missing-object", "public.hydra_oauth2_consent_request"),
    ("missing-object", "public.hydra_oauth2_consent_request_handled"),
    ("missing-object", "public.hydra_jwk_idx_id_uq"),
    ("missing-object", "public.hydra_oauth2_access_client_id_subject_idx"),
    ("missing-object", "public.hydra_oauth2_jti_blacklist_expiry"),
]

needs_corpus = pytest.mark.skipif(
    not SUPABASE_AUTH.is_dir(),
    reason=f"the corpus of real histories is not at {CORPUS} (CI has it there)")


@pytest.fixture(scope="session")
def pg15(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """PostgreSQL 15 from Debian's packages (uuid-ossp), stopped and removed at the end."""
    if not PG15_BINDIR.is_dir():
        pytest.skip(f"hydra needs uuid-ossp: Debian's PostgreSQL 15 is not at {PG15_BINDIR}")
    server = LocalServer(tmp_path_factory.mktemp("pg15-corpus") / "data", bindir=PG15_BINDIR,
                         settings=FAST_UNSAFE_SETTINGS)
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def hydra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HYDRA.is_dir():
        pytest.skip(f"the corpus of real histories is not at {CORPUS} (CI has it there)")
    return import_hydra(tmp_path_factory.mktemp("hydra"))


@pytest.fixture(scope="module")
def hydra_applied(pg15: LocalServer, hydra: Path) -> Iterator[str]:
    """A database of PostgreSQL 15 with all of hydra applied by ``mig apply``: the template
    the tests that change it clone (its name)."""
    name = create_database(pg15)
    applied = run_mig(["apply", "-d", pg15.url(name)], cwd=hydra, timeout=600)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"applied {HYDRA_COUNT} migration(s)" in applied.stdout, applied.stdout
    yield name
    drop_database(pg15, name)


@pytest.fixture
def hydra_clone(pg15: LocalServer, hydra_applied: str) -> Iterator[str]:
    """URL of a copy of the applied hydra database, dropped after the test."""
    name = f"{hydra_applied}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(pg15.url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{hydra_applied}"')
    conn.close()
    yield pg15.url(name)
    drop_database(pg15, name)


def _ids(project: Path) -> list[str]:
    return sorted(p.name.removesuffix(".sql") for p in (project / "migrations").glob("*.sql")
                  if not p.name.endswith(".rollback.sql"))


def _check(project: Path, url: str, scratch: str) -> tuple[int, list[tuple[str, str]], str]:
    result = run_mig(["status", "--check", "--json", "-d", url, "--scratch-server", scratch],
                     cwd=project, timeout=600)
    assert result.returncode in (0, EXIT_INCONSISTENT), result.stdout + result.stderr
    report = json.loads(result.stdout)
    return result.returncode, [(p["kind"], p["subject"]) for p in report["problems"]], \
        result.stdout


def test_hydra_imported_applies_on_postgresql_15_checks_clean_and_reapplies_nothing(
        pg15, hydra, hydra_applied):
    url = pg15.url(hydra_applied)
    assert len(_ids(hydra)) == HYDRA_COUNT
    status = run_mig(["status", "-d", url], cwd=hydra)
    assert f"{HYDRA_COUNT} applied, 0 pending, 0 edited, 0 unfinished" in status.stdout
    recorded = query(url, "SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")
    assert [r[0] for r in recorded] == _ids(hydra)
    code, problems, out = _check(hydra, url, pg15.url())
    assert (code, problems) == (0, []), out  # an "unchecked" build would be a problem too
    again = run_mig(["apply", "-d", url], cwd=hydra)
    assert again.returncode == 0, again.stderr
    assert "nothing to apply" in (again.stdout + again.stderr).lower()
    assert query(url, "SELECT count(*) FROM _yoyo_migration") == [(HYDRA_COUNT,)]


def test_a_forced_full_rollback_of_hydra_stops_at_the_first_down_that_fails(
        pg15, hydra, hydra_clone):
    ids = _ids(hydra)
    stop = ids.index(FIRST_FAILING_DOWN)
    result = run_mig(["rollback", "--steps", str(HYDRA_COUNT), "--yes", "--force", "-d",
                      hydra_clone], cwd=hydra, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{FIRST_FAILING_DOWN}.rollback.sql:1: rolling back {FIRST_FAILING_DOWN} failed" \
        in result.stderr
    assert f"{FIRST_FAILING_DOWN} is still applied" in result.stderr
    # the record is true: exactly the migrations up to the failing one are still applied
    status = run_mig(["status", "-d", hydra_clone], cwd=hydra)
    assert f"{stop + 1} applied, {HYDRA_COUNT - stop - 1} pending, 0 edited, 0 unfinished" \
        in status.stdout, status.stdout
    recorded = query(hydra_clone, "SELECT migration_id FROM _yoyo_migration ORDER BY 1")
    assert [r[0] for r in recorded] == ids[:stop + 1]
    # what --check reports is true: each object is absent here, and present where exactly
    # the applied migrations are applied
    code, problems, out = _check(hydra, hydra_clone, pg15.url())
    assert (code, sorted(problems)) == (EXIT_INCONSISTENT, sorted(MISSING_AFTER_ROLLBACK)), out
    fresh = create_database(pg15)
    try:
        built = run_mig(["apply", "--to", FIRST_FAILING_DOWN, "-d", pg15.url(fresh)], cwd=hydra)
        assert built.returncode == 0, built.stderr
        for _, subject in problems:
            assert query(hydra_clone, "SELECT to_regclass(%s)", (subject,)) == [(None,)]
            assert query(pg15.url(fresh), "SELECT to_regclass(%s) IS NOT NULL",
                         (subject,)) == [(True,)]
    finally:
        drop_database(pg15, fresh)


@pytest.mark.long
def test_verify_names_exactly_hydras_rollbacks_that_do_not_restore_the_schema(pg15, hydra):
    result = run_mig(["verify", "--keep-going", "--json", "--scratch-server", pg15.url()],
                     cwd=hydra, timeout=1800)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    failures = {f["id"]: f for f in report["failures"]}
    assert len(failures) == len(report["failures"])  # one failure per broken rollback
    assert all(f["phase"] == "rollback" for f in failures.values())
    empty = sorted(i for i in failures if not has_sql(
        (hydra / "migrations" / f"{i}.rollback.sql").read_text()))
    wrong = sorted(set(failures) - set(empty))
    assert wrong == sorted(WRONG_DOWNS)
    assert len(empty) == EMPTY_DOWNS
    said = "its rollback file holds no statement"
    assert all(said in failures[i]["message"] for i in empty)
    assert not any(said in failures[i]["message"] for i in wrong)
    for migration_id, (_, line) in WRONG_DOWNS.items():
        assert any(d.startswith(line) for d in failures[migration_id]["diff"]), (
            migration_id, failures[migration_id]["diff"])
    # every other migration was checked and passed
    assert len(report["migrations"]) == HYDRA_COUNT - len(failures)


@needs_corpus
def test_supabase_auth_imported_applies_checks_clean_and_reapplies_nothing(
        tmp_path, pg_server, db_url):
    project = import_supabase_auth(tmp_path / "auth")
    # the schema their deployments create before the first migration: create_schemas
    applied = run_mig(["apply", "-d", db_url], cwd=project, timeout=600)
    assert applied.returncode == 0, applied.stderr
    assert "created schema auth" in applied.stderr
    status = run_mig(["status", "-d", db_url], cwd=project)
    assert "70 applied, 0 pending, 0 edited, 0 unfinished" in status.stdout, status.stdout
    code, problems, out = _check(project, db_url, pg_server.url())
    assert (code, problems) == (0, []), out
    again = run_mig(["apply", "-d", db_url], cwd=project)
    assert again.returncode == 0
    assert "nothing to apply" in (again.stdout + again.stderr).lower()
    assert query(db_url, "SELECT to_regclass('auth.users') IS NOT NULL") == [(True,)]
    # no rollback at all: refused, naming them, nothing run
    refused = run_mig(["rollback", "--steps", "70", "--yes", "-d", db_url], cwd=project)
    assert refused.returncode == EXIT_REFUSED, refused.stdout + refused.stderr
    assert "20210710035447_alter_users" in refused.stderr
    assert query(db_url, "SELECT count(*) FROM _yoyo_migration") == [(70,)]


def test_hydra_on_the_embedded_server_run_from_server_bin(tmp_path):
    """As a team taking hydra over on a laptop would: no database configured, the embedded
    server run from Debian's PostgreSQL 15 (``MIG_SERVER_BIN``), which has ``uuid-ossp``."""
    if not PG15_BINDIR.is_dir():
        pytest.skip(f"hydra needs uuid-ossp: Debian's PostgreSQL 15 is not at {PG15_BINDIR}")
    if not HYDRA.is_dir():
        pytest.skip(f"the corpus of real histories is not at {CORPUS} (CI has it there)")
    project = import_hydra(tmp_path / "hydra")
    env = {"MIG_SERVER_BIN": str(PG15_BINDIR)}
    try:
        applied = run_mig(["apply", "-q"], cwd=project, env=env, timeout=600)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        status = run_mig(["status", "--check"], cwd=project, env=env, timeout=600)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"{HYDRA_COUNT} applied, 0 pending, 0 edited, 0 unfinished" in status.stdout
        version = query(run_mig(["db", "url"], cwd=project, env=env).stdout.strip(),
                        "SELECT current_setting('server_version_num')::int / 10000")
        assert version == [(15,)]
    finally:
        run_mig(["db", "remove", "--yes"], cwd=project, env=env)
