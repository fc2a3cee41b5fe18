"""``mig import --from FORMAT SOURCE``: other tools' folders written as mig migrations (pop,
diesel, golang-migrate, dbmate, Flyway), each rule both ways on small folders made here, and
the two real histories of ``../shared/corpus``; ``mig foreign`` and ``mig baseline`` over the
tracking tables those tools leave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mig import commands
from mig.config import Settings, resolve
from mig.disk import scripts as scripts_mod
from mig.disk import sumfile
from mig.disk.importers import depends_in_order
from mig.errors import ConfigError, ForeignHistoryUnreadable, ImportRefused, MigError
from tests.support import REPO, create_database, drop_database, query, run_mig, write_project

CORPUS = REPO.parent / "shared" / "corpus"


def source(root: Path, files: dict[str, str]) -> Path:
    """A tool's migration folder: file name (a/b for a sub-folder) -> content."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "project", {})


def settings_of(project: Path) -> Settings:
    return resolve(project_dir=project, env={})


def run_import(project: Path, fmt: str, folder: Path, **kwargs):
    return commands.import_history(settings_of(project), fmt, folder, **kwargs)


def written(project: Path) -> dict[str, str]:
    folder = project / "migrations"
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.name != "mig.sum"}


def order(project: Path) -> list[str]:
    """The order mig runs the migrations of the project in."""
    scripts, _ = scripts_mod.load(settings_of(project).sources, checked=False)
    return [s.id for s in scripts]


def transactional(project: Path, mid: str) -> bool:
    scripts, _ = scripts_mod.scan(settings_of(project).sources)
    return next(s for s in scripts if s.id == mid).transactional


# -- pop ------------------------------------------------------------------------------------------
def test_pop_postgres_file_wins_over_the_generic_one_and_other_dialects_are_skipped(
        project, tmp_path):
    folder = source(tmp_path / "pop", {
        "1_users.up.sql": "CREATE TABLE users (id int); -- generic\n",
        "1_users.postgres.up.sql": "CREATE TABLE users (id bigint);\n",
        "1_users.mysql.up.sql": "CREATE TABLE users (id int) ENGINE=InnoDB;\n",
        "1_users.down.sql": "DROP TABLE users;\n",
        "2_teams.up.sql": "CREATE TABLE teams (id int);\n",
        "2_teams.sqlite3.up.sql": "CREATE TABLE teams (id integer);\n",
        "2_teams.down.sql": "DROP TABLE teams;\n",
        "2_teams.cockroach.down.sql": "DROP TABLE teams CASCADE;\n",
    })
    report = run_import(project, "pop", folder)
    assert written(project) == {
        "1_users.sql": "CREATE TABLE users (id bigint);\n",
        "1_users.rollback.sql": "DROP TABLE users;\n",
        "2_teams.sql": "CREATE TABLE teams (id int);\n",  # no PostgreSQL file: the generic one
        "2_teams.rollback.sql": "DROP TABLE teams;\n",
    }
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert skipped["1_users.mysql.up.sql"] == "for mysql, not PostgreSQL"
    assert skipped["2_teams.cockroach.down.sql"] == "for cockroach, not PostgreSQL"
    assert "replaced by 1_users.postgres.up.sql" in skipped["1_users.up.sql"]
    assert order(project) == ["1_users", "2_teams"]


def test_pop_autocommit_becomes_a_non_transactional_migration(project, tmp_path):
    folder = source(tmp_path / "pop", {
        "1_idx.autocommit.up.sql": "CREATE INDEX CONCURRENTLY a_idx ON a (id);\n",
        "1_idx.autocommit.down.sql": "DROP INDEX CONCURRENTLY a_idx;\n",
        "2_plain.up.sql": "-- a comment\nCREATE TABLE b (id int);\n",
        "2_plain.down.sql": "DROP TABLE b;\n",
    })
    run_import(project, "pop", folder)
    files = written(project)
    assert files["1_idx.sql"] == ("-- transactional: false\n"
                                  "CREATE INDEX CONCURRENTLY a_idx ON a (id);\n")
    assert files["1_idx.rollback.sql"] == "DROP INDEX CONCURRENTLY a_idx;\n"
    assert files["2_plain.sql"] == "-- a comment\nCREATE TABLE b (id int);\n"  # byte for byte
    assert not transactional(project, "1_idx") and transactional(project, "2_plain")


def test_pop_migrations_sharing_a_version_stay_apart_in_pops_order(project, tmp_path):
    folder = source(tmp_path / "pop", {
        "5_b.up.sql": "SELECT 'b';\n", "5_b.down.sql": "",
        "5_a.up.sql": "SELECT 'a';\n", "5_a.down.sql": "",
        "5_c.postgres.up.sql": "SELECT 'c';\n", "5_c.down.sql": "",
        "4_z.up.sql": "SELECT 'z';\n", "4_z.down.sql": "",
    })
    report = run_import(project, "pop", folder)
    # by version, PostgreSQL's own file before a generic one, then by name
    assert [m.id for m in report.migrations] == ["4_z", "5_c", "5_a", "5_b"]
    assert order(project) == ["4_z", "5_c", "5_a", "5_b"]
    assert written(project)["5_a.sql"] == "-- depends: 5_c\nSELECT 'a';\n"
    assert written(project)["5_c.sql"] == "SELECT 'c';\n"  # sorts right by name already


def test_pop_empty_up_files_are_imported_as_empty_migrations(project, tmp_path):
    folder = source(tmp_path / "pop", {
        "1_mysql_only.up.sql": "", "1_mysql_only.down.sql": "",
        "1_mysql_only.mysql.up.sql": "ALTER TABLE a ENGINE=InnoDB;\n",
    })
    report = run_import(project, "pop", folder)
    assert written(project) == {"1_mysql_only.sql": "", "1_mysql_only.rollback.sql": ""}
    assert "empty: nothing to do on PostgreSQL" in report.migrations[0].notes


def test_pop_fizz_files_are_refused_by_name_unless_postgres_sql_replaces_them(
        project, tmp_path):
    folder = source(tmp_path / "pop", {
        "1_users.up.fizz": 'create_table("users") {}\n', "1_users.down.fizz": "",
    })
    with pytest.raises(ImportRefused) as refused:
        run_import(project, "pop", folder)
    assert "1_users.up.fizz: a fizz migration" in str(refused.value)
    assert "1_users.postgres.up.sql" in str(refused.value)
    assert written(project) == {}

    (folder / "1_users.postgres.up.sql").write_text("CREATE TABLE users (id int);\n")
    (folder / "1_users.postgres.down.sql").write_text("DROP TABLE users;\n")
    report = run_import(project, "pop", folder)
    assert [m.id for m in report.migrations] == ["1_users"]
    assert {Path(s.path).name for s in report.skipped} == {"1_users.up.fizz", "1_users.down.fizz"}


def test_a_file_that_is_not_utf8_is_named_with_its_line(project, tmp_path):
    folder = source(tmp_path / "pop", {"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": ""})
    (folder / "1_a.up.sql").write_bytes(b"SELECT 1;\nSELECT '\xff';\n")
    with pytest.raises(ImportRefused, match=r"1_a.up.sql:2: not valid UTF-8"):
        run_import(project, "pop", folder)
    assert written(project) == {}


def test_a_down_file_without_an_up_file_is_refused(project, tmp_path):
    folder = source(tmp_path / "pop", {"1_a.up.sql": "SELECT 1;\n", "2_b.down.sql": "SELECT 2;\n"})
    with pytest.raises(ImportRefused, match="2_b.down.sql: a down file without an up file"):
        run_import(project, "pop", folder)
    assert written(project) == {}


# -- placeholders ---------------------------------------------------------------------------------
TEMPLATED = {
    "1_schema.up.sql": 'CREATE SCHEMA IF NOT EXISTS {{ index .Options "Namespace" }};\n'
                       'CREATE TABLE {{index .Options "Namespace" }}.users (id int);\n',
    "1_schema.down.sql": "DROP TABLE {{ .Namespace }}.users;\nDROP SCHEMA {{.Namespace}};\n",
}


def test_set_fills_every_spelling_of_a_placeholder(project, tmp_path):
    folder = source(tmp_path / "pop", TEMPLATED)
    report = run_import(project, "pop", folder, values={"Namespace": "auth", "Other": "x"})
    assert report.unused == ("Other",)
    assert "warning: --set Other=... is used by no placeholder" in report.lines()
    assert written(project) == {
        "1_schema.sql": "CREATE SCHEMA IF NOT EXISTS auth;\nCREATE TABLE auth.users (id int);\n",
        "1_schema.rollback.sql": "DROP TABLE auth.users;\nDROP SCHEMA auth;\n",
    }


def test_an_unfilled_placeholder_names_file_line_and_the_set_to_pass(project, tmp_path):
    folder = source(tmp_path / "pop", {**TEMPLATED, "2_more.up.sql": "SELECT 1;\n"
                                       "SELECT '{{ .Other }}';\n", "2_more.down.sql": ""})
    with pytest.raises(ImportRefused) as refused:
        run_import(project, "pop", folder, values={"Namespace": "auth"})
    message = str(refused.value)
    assert (f"{folder / '2_more.up.sql'}:2: the placeholder 'Other' has no value: pass --set "
            "Other=...") in message
    assert "Namespace" not in message
    assert refused.value.problems == [
        (str(folder / "2_more.up.sql"), 2,
         "the placeholder 'Other' has no value: pass --set Other=...")]
    assert written(project) == {}  # nothing written, not even the files that were fine


def test_a_template_action_pop_would_run_is_refused_and_plain_braces_elsewhere_stay(
        project, tmp_path):
    pop = source(tmp_path / "pop", {"1_a.up.sql": "SELECT 1;\n{{ if .Flag }}SELECT 2;{{ end }}\n",
                                    "1_a.down.sql": ""})
    with pytest.raises(ImportRefused, match=r"1_a.up.sql:2: the template action \{\{ if .Flag"):
        run_import(project, "pop", pop)
    golang = source(tmp_path / "golang", {"1_a.up.sql": "SELECT '{{ not a template }}';\n"})
    run_import(project, "golang-migrate", golang)
    assert written(project) == {"1_a.sql": "SELECT '{{ not a template }}';\n"}


# -- running again, --force, --dry-run ------------------------------------------------------------
def test_a_second_import_changes_nothing_and_says_so(project, tmp_path):
    folder = source(tmp_path / "golang", {"1_a.up.sql": "SELECT 1;\n",
                                          "1_a.down.sql": "SELECT 2;\n"})
    first = run_import(project, "golang-migrate", folder)
    assert [(Path(f.path).name, f.action) for f in first.files] == [
        ("1_a.sql", "create"), ("1_a.rollback.sql", "create")]
    lock = (project / "migrations" / "mig.sum").read_text()
    assert "\n1_a " in lock
    again = run_import(project, "golang-migrate", folder)
    assert again.changed == ()
    assert again.lines()[-1].startswith("nothing to do: the 1 migrations of")
    assert (project / "migrations" / "mig.sum").read_text() == lock


def test_a_differing_file_is_overwritten_only_with_force(project, tmp_path):
    folder = source(tmp_path / "golang", {"1_a.up.sql": "SELECT 1;\n", "2_b.up.sql": "SELECT 2;\n"})
    run_import(project, "golang-migrate", folder)
    edited = project / "migrations" / "1_a.sql"
    edited.write_text("SELECT 'edited';\n")
    (folder / "3_c.up.sql").write_text("SELECT 3;\n")
    with pytest.raises(ImportRefused, match="1_a.sql: differs from what the import writes; pass"
                       " --force"):
        run_import(project, "golang-migrate", folder)
    assert edited.read_text() == "SELECT 'edited';\n"
    assert not (project / "migrations" / "3_c.sql").exists()  # nothing written at all
    report = run_import(project, "golang-migrate", folder, force=True)
    assert {Path(f.path).name: f.action for f in report.changed} == {
        "1_a.sql": "overwrite", "3_c.sql": "create"}
    assert edited.read_text() == "SELECT 1;\n"
    sources = settings_of(project).sources
    scripts, _ = scripts_mod.scan(sources)
    assert sumfile.check(sources, scripts)[1] == []  # the lock file follows the overwrite


def test_dry_run_lists_and_writes_nothing(project, tmp_path):
    folder = source(tmp_path / "golang", {"1_a.up.sql": "SELECT 1;\n"})
    result = run_mig(["import", "--from", "golang-migrate", str(folder), "--dry-run"],
                     cwd=project)
    assert result.returncode == 0, result.stderr
    assert "  1_a  (no rollback)" in result.stdout
    assert f"would create {project / 'migrations' / '1_a.sql'}" in result.stdout
    assert "-- dry run: nothing was written" in result.stdout
    assert written(project) == {} and not (project / "migrations" / "mig.sum").exists()


def test_json_output_and_errors_through_the_cli(project, tmp_path):
    folder = source(tmp_path / "dbmate", {
        "20200101000000_a.sql": "-- migrate:up\nCREATE TABLE a (id int);\n\n-- migrate:down\n"
                                "DROP TABLE a;\n"})
    result = run_mig(["import", "--from", "dbmate", str(folder), "--json"], cwd=project)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["format"] == "dbmate"
    assert [m["id"] for m in data["migrations"]] == ["20200101000000_a"]
    assert [f["action"] for f in data["files"]] == ["create", "create"]

    bad = run_mig(["import", "--from", "liquibase", str(folder)], cwd=project)
    assert bad.returncode == 2 and "liquibase" in bad.stderr
    missing = run_mig(["import", "--from", "pop", str(tmp_path / "pop-template"),
                       "--set", "Namespace"], cwd=project)
    assert missing.returncode == 2
    refused = source(tmp_path / "pop-template", TEMPLATED)
    result = run_mig(["import", "--from", "pop", str(refused)], cwd=project)
    assert result.returncode == 1
    assert "pass --set Namespace=..." in result.stderr


def test_an_unknown_format_and_an_empty_folder_are_clear_errors(project, tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'dbmate'"):
        run_import(project, "dbmat", tmp_path)
    empty = source(tmp_path / "empty", {"README.md": "notes\n"})
    with pytest.raises(MigError, match="holds no pop migration"):
        run_import(project, "pop", empty)


# -- ordering -------------------------------------------------------------------------------------
def test_ids_that_sort_out_of_order_get_the_one_depends_line_they_need():
    assert depends_in_order(["1_a", "2_b", "3_c"]) == {}
    ids = [f"{n}_m" for n in range(1, 12)]  # 10_m and 11_m sort before 2_m by name
    assert depends_in_order(ids) == {"10_m": "9_m", "11_m": "10_m"}


def test_golang_migrate_versions_run_in_numeric_order(project, tmp_path):
    folder = source(tmp_path / "golang", {
        **{f"{n}_step.up.sql": f"SELECT {n};\n" for n in (1, 2, 9, 10, 11)},
        "10_step.down.sql": "SELECT -10;\n",
        "3_data.up.json": "{}",
    })
    report = run_import(project, "golang-migrate", folder)
    assert [m.id for m in report.migrations] == ["1_step", "2_step", "9_step", "10_step",
                                                 "11_step"]
    assert order(project) == ["1_step", "2_step", "9_step", "10_step", "11_step"]
    files = written(project)
    assert files["10_step.sql"] == "-- depends: 9_step\nSELECT 10;\n"
    assert files["2_step.sql"] == "SELECT 2;\n"
    assert set(files) == {"1_step.sql", "2_step.sql", "9_step.sql", "10_step.sql",
                          "10_step.rollback.sql", "11_step.sql"}  # no down file: no rollback
    assert [(Path(s.path).name, s.reason) for s in report.skipped] == [
        ("3_data.up.json", "a .json file, not SQL")]


def test_golang_migrate_refuses_two_files_for_one_version(project, tmp_path):
    folder = source(tmp_path / "golang", {"1_a.up.sql": "SELECT 1;\n",
                                          "01_b.up.sql": "SELECT 2;\n"})
    with pytest.raises(ImportRefused, match="version 1 has a second up file"):
        run_import(project, "golang-migrate", folder)


# -- diesel ---------------------------------------------------------------------------------------
def test_diesel_folders_and_run_in_transaction(project, tmp_path):
    folder = source(tmp_path / "diesel", {
        "00000000000000_diesel_initial_setup/up.sql": "SELECT 'setup';\n",
        "00000000000000_diesel_initial_setup/down.sql": "SELECT 'teardown';\n",
        "2017-10-18-123456_create_users/up.sql": "CREATE TABLE users (id int);\n",
        "2017-10-18-123456_create_users/down.sql": "DROP TABLE users;\n",
        "2018-01-01-000000_index/up.sql": "CREATE INDEX CONCURRENTLY i ON users (id);\n",
        "2018-01-01-000000_index/metadata.toml": "run_in_transaction = false\n",
        "2019-01-01-000000_plain/up.sql": "SELECT 2;\n",
        "2019-01-01-000000_plain/metadata.toml": "run_in_transaction = true\n",
        ".keep": "",
    })
    report = run_import(project, "diesel", folder)
    assert [(m.id, m.version, m.transactional) for m in report.migrations] == [
        ("00000000000000_diesel_initial_setup", "00000000000000", True),
        ("2017-10-18-123456_create_users", "20171018123456", True),
        ("2018-01-01-000000_index", "20180101000000", False),
        ("2019-01-01-000000_plain", "20190101000000", True)]
    files = written(project)
    assert files["2018-01-01-000000_index.sql"] == (
        "-- transactional: false\nCREATE INDEX CONCURRENTLY i ON users (id);\n")
    assert "2018-01-01-000000_index.rollback.sql" not in files
    assert files["2017-10-18-123456_create_users.rollback.sql"] == "DROP TABLE users;\n"
    assert not transactional(project, "2018-01-01-000000_index")


def test_diesel_folder_without_up_sql_is_refused(project, tmp_path):
    folder = source(tmp_path / "diesel", {"2017-10-18-123456_x/down.sql": "SELECT 1;\n"})
    with pytest.raises(ImportRefused, match="a migration folder without up.sql"):
        run_import(project, "diesel", folder)


# -- dbmate ---------------------------------------------------------------------------------------
def test_dbmate_sections_and_transaction_false(project, tmp_path):
    folder = source(tmp_path / "dbmate", {
        "20200101000000_users.sql": "-- migrate:up\nCREATE TABLE users (id int);\n\n"
                                    "-- migrate:down\nDROP TABLE users;\n",
        "20200102000000_index.sql": "-- migrate:up transaction:false\n"
                                    "CREATE INDEX CONCURRENTLY i ON users (id);\n\n"
                                    "-- migrate:down\n",
    })
    report = run_import(project, "dbmate", folder)
    assert [(m.id, m.transactional) for m in report.migrations] == [
        ("20200101000000_users", True), ("20200102000000_index", False)]
    assert written(project) == {
        "20200101000000_users.sql": "CREATE TABLE users (id int);\n\n",
        "20200101000000_users.rollback.sql": "DROP TABLE users;\n",
        # an empty down section is dbmate's template left as it was: no rollback
        "20200102000000_index.sql": "-- transactional: false\n"
                                    "CREATE INDEX CONCURRENTLY i ON users (id);\n\n",
    }


def test_dbmate_file_without_its_up_line_is_refused(project, tmp_path):
    folder = source(tmp_path / "dbmate", {"20200101000000_a.sql": "CREATE TABLE a (id int);\n"})
    with pytest.raises(ImportRefused, match="has one '-- migrate:up' line"):
        run_import(project, "dbmate", folder)


# -- flyway ---------------------------------------------------------------------------------------
def test_flyway_versions_undo_files_and_repeatables(project, tmp_path):
    folder = source(tmp_path / "flyway", {
        "V1__init.sql": "CREATE TABLE a (id int);\n",
        "U1__init.sql": "DROP TABLE a;\n",
        "V1_1__column.sql": "ALTER TABLE a ADD b int;\n",
        "V2__index.sql": "CREATE INDEX CONCURRENTLY i ON a (id);\n",
        "V2__index.sql.conf": "executeInTransaction=false\n",
        "V10__later.sql": "SELECT 10;\n",
        "R__views.sql": "CREATE OR REPLACE VIEW v AS SELECT 1;\n",
    })
    report = run_import(project, "flyway", folder)
    assert [(m.id, m.version, m.transactional) for m in report.migrations] == [
        ("1__init", "1", True), ("1_1__column", "1.1", True), ("2__index", "2", False),
        ("10__later", "10", True)]
    assert order(project) == ["1__init", "1_1__column", "2__index", "10__later"]
    files = written(project)
    assert files["1__init.rollback.sql"] == "DROP TABLE a;\n"
    assert files["10__later.sql"] == "-- depends: 2__index\nSELECT 10;\n"
    (repeatable,) = [s for s in report.skipped if Path(s.path).name == "R__views.sql"]
    assert repeatable.reason.startswith("a repeatable migration (R__): not supported")
    assert any("R__views.sql: a repeatable migration" in line for line in report.lines())


# -- the corpus -----------------------------------------------------------------------------------
def corpus(name: str) -> Path:
    folder = CORPUS / name
    if not folder.is_dir():
        pytest.skip(f"the corpus of real histories is not at {CORPUS} (CI has it there)")
    return folder


def test_hydra_imports_as_228_migrations_in_pops_order(project):
    folder = corpus("hydra")
    result = run_mig(["import", "--from", "pop", str(folder)], cwd=project)
    assert result.returncode == 0, result.stderr
    ids = order(project)
    assert len(ids) == 228
    versions = [mid.split("_", 1)[0] for mid in ids]
    assert versions == sorted(versions) and len(set(ids)) == 228
    non_transactional = sorted(mid for mid in ids if not transactional(project, mid))
    assert non_transactional == [
        "20240612222110000001_add_oauth2_expires_at_indices",
        "20241609000001000001_device_flow",
        "20250520000001000000_add_oauth2_trusted_jwt_bearer_issuer_index",
        "20250523000001000000_rm_oauth2_trusted_jwt_bearer_issuer_unefficient_uq_idx",
        "20260325111700000000_flow_login_session_id_subject_idx",
        "20260420120000000000_add_nid_subject_idx_to_access",
        "20260420120000000001_add_nid_subject_idx_to_refresh"]
    migrations = project / "migrations"
    # PostgreSQL's own file, statements byte for byte
    assert (migrations / "20150101000001000000_networks.sql").read_bytes() == (
        folder / "20150101000001000000_networks.postgres.up.sql").read_bytes()
    # the PostgreSQL file of device_flow runs in a transaction, its generic one would not
    assert transactional(project, "20241609000001000000_device_flow")
    assert (migrations / "20241609000001000000_device_flow.sql").read_bytes() == (
        folder / "20241609000001000000_device_flow.postgres.up.sql").read_bytes()
    assert "next steps:" in result.stdout
    again = run_mig(["import", "--from", "pop", str(folder)], cwd=project)
    assert "nothing to do: the 228 migrations" in again.stdout


def test_supabase_auth_imports_as_70_migrations_with_the_namespace_filled(project):
    folder = corpus("supabase-auth")
    result = run_mig(["import", "--from", "golang-migrate", str(folder), "--set",
                      "Namespace=auth"], cwd=project)
    assert result.returncode == 0, result.stderr
    ids = order(project)
    assert len(ids) == 70 and ids[0] == "00_init_auth_schema"
    assert [int(mid.split("_", 1)[0]) for mid in ids] == sorted(
        int(p.name.split("_", 1)[0]) for p in folder.glob("*.up.sql"))
    texts = [p.read_text() for p in (project / "migrations").glob("*.sql")]
    assert not any("{{" in text for text in texts)
    assert sum(text.count("auth.") for text in texts) >= 280


def test_supabase_auth_without_the_namespace_names_each_file(project):
    folder = corpus("supabase-auth")
    with pytest.raises(ImportRefused) as refused:
        run_import(project, "golang-migrate", folder)
    assert len({path for path, _, _ in refused.value.problems}) == 70
    assert f"{folder / '00_init_auth_schema.up.sql'}:" in str(refused.value)
    assert written(project) == {}


# -- foreign tracking tables ----------------------------------------------------------------------
POP_HISTORY = {
    "20200101000000000000_users.up.sql": "CREATE TABLE users (id int PRIMARY KEY);\n",
    "20200101000000000000_users.down.sql": "DROP TABLE users;\n",
    "20200102000000000000_teams.up.sql": "CREATE TABLE teams (id int PRIMARY KEY);\n",
    "20200102000000000000_teams.down.sql": "DROP TABLE teams;\n",
    "20200103000000000000_notes.up.sql": "CREATE TABLE notes (id int PRIMARY KEY);\n",
    "20200103000000000000_notes.down.sql": "DROP TABLE notes;\n",
}


@pytest.fixture
def database(pg_server):
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def foreign(project: Path, url: str):
    return commands.foreign_histories(resolve(project_dir=project, database=url, env={}))


def test_a_pop_database_is_baselined_on_the_imported_ids_without_a_map(
        project, tmp_path, database, pg_server):
    run_import(project, "pop", source(tmp_path / "pop", POP_HISTORY))
    # what pop left: two of the three migrations run, and its table
    query(database, "CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE teams (id int PRIMARY"
          " KEY); CREATE TABLE schema_migration (version varchar(48) NOT NULL, version_self int"
          " NOT NULL DEFAULT 0); INSERT INTO schema_migration (version) VALUES"
          " ('20200101000000000000'), ('20200102000000000000')")
    entries = foreign(project, database)
    assert [(e.table, e.tool, e.name, e.imported_as) for e in entries] == [
        ("schema_migration", "pop", "20200101000000000000", "20200101000000000000_users"),
        ("schema_migration", "pop", "20200102000000000000", "20200102000000000000_teams")]
    shown = run_mig(["foreign", "-d", database], cwd=project)
    assert "schema_migration: 20200102000000000000  -> 20200102000000000000_teams" in shown.stdout
    assert "the newest: 20200102000000000000_teams" in shown.stdout

    too_early = run_mig(["baseline", "-d", database, "--scratch-server", pg_server.url(),
                         "--to", "20200101000000000000_users"], cwd=project)
    assert too_early.returncode == 1
    assert ("schema_migration: 20200102000000000000: applied by pop, imported as "
            "20200102000000000000_teams, which comes after the baseline target") in too_early.stderr
    done = run_mig(["baseline", "-d", database, "--scratch-server", pg_server.url(),
                    "--to", "20200102000000000000_teams"], cwd=project)
    assert done.returncode == 0, done.stderr
    assert "2 foreign entries replaced" in done.stdout
    status = run_mig(["status", "-d", database], cwd=project)
    assert "2 applied (2 baselined: recorded, not run), 1 pending" in status.stdout
    applied = run_mig(["apply", "-d", database], cwd=project)
    assert applied.returncode == 0, applied.stderr
    assert query(database, "SELECT to_regclass('notes') IS NOT NULL") == [(True,)]


def test_a_pop_record_no_migration_was_imported_for_needs_a_map(project, tmp_path, database,
                                                                 pg_server):
    run_import(project, "pop", source(tmp_path / "pop", POP_HISTORY))
    query(database, "CREATE TABLE schema_migration (version varchar(48)); INSERT INTO"
          " schema_migration VALUES ('20200101000000000000'), ('20190101000000000000')")
    result = run_mig(["baseline", "-d", database, "--scratch-server", pg_server.url(),
                      "--to", "20200101000000000000_users"], cwd=project)
    assert result.returncode == 1
    assert "schema_migration (1 entries)" in result.stderr and "--map FILE" in result.stderr


@pytest.mark.parametrize("ddl, tool, names", [
    ("CREATE TABLE __diesel_schema_migrations (version varchar(50) PRIMARY KEY, run_on"
     " timestamp NOT NULL DEFAULT now()); INSERT INTO __diesel_schema_migrations (version)"
     " VALUES ('20171018123456'), ('00000000000000')",
     "diesel", [("00000000000000", "00000000000000_setup"),
                ("20171018123456", "2017-10-18-123456_users")]),
    ("CREATE TABLE schema_migration (version varchar(48) NOT NULL); INSERT INTO"
     " schema_migration VALUES ('20190100000001'), ('20190100000002000000')",
     # a 14-digit version is pop's old record of the longer ones it starts with
     "pop", [("20190100000001", "20190100000001000000_client"),
             ("20190100000002000000", "20190100000002000000_client")]),
    ("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);"
     " INSERT INTO schema_migrations VALUES (10, false)",
     "golang-migrate", [("10", "10_ten")]),
    ("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY); INSERT INTO"
     " schema_migrations VALUES ('20200101000000'), ('20200102000000')",
     "dbmate", [("20200101000000", "20200101000000_a"), ("20200102000000", None)]),
    ("CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50),"
     " description varchar(200), type varchar(20), script varchar(1000), installed_on timestamp"
     " NOT NULL DEFAULT now(), success boolean NOT NULL); INSERT INTO flyway_schema_history"
     " (installed_rank, version, description, type, script, success) VALUES"
     " (1, '1', 'init', 'SQL', 'V1__init.sql', true),"
     " (2, '1.1', 'column', 'SQL', 'V1_1__column.sql', true),"
     " (3, '2', 'index', 'SQL', 'V2__index.sql', false)",
     "Flyway", [("1", "1__init"), ("1.1", "1_1__column"), ("2", None)]),
])
def test_each_tools_table_is_read_with_the_ids_imported_for_its_versions(
        project, database, ddl, tool, names):
    files = {
        "pop": {"20190100000001000000_client.sql": "SELECT 1;\n",
                "20190100000002000000_client.sql": "SELECT 1;\n"},
        "diesel": {"00000000000000_setup.sql": "SELECT 1;\n",
                   "2017-10-18-123456_users.sql": "SELECT 1;\n"},
        "golang-migrate": {"9_nine.sql": "SELECT 1;\n", "10_ten.sql": "SELECT 1;\n"},
        "dbmate": {"20200101000000_a.sql": "SELECT 1;\n"},
        "Flyway": {"1__init.sql": "SELECT 1;\n", "1_1__column.sql": "SELECT 1;\n",
                   "2__index.sql": "SELECT 1;\n"},  # 2 failed: it replaces nothing
    }[tool]
    for name, text in files.items():
        (project / "migrations" / name).write_text(text)
    query(database, ddl)
    entries = foreign(project, database)
    assert [(e.tool, e.name, e.imported_as) for e in entries] == [
        (tool, name, mid) for name, mid in names]


def test_a_dirty_golang_migrate_record_is_refused(project, database):
    query(database, "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean"
          " NOT NULL); INSERT INTO schema_migrations VALUES (20221208132122, true)")
    with pytest.raises(ForeignHistoryUnreadable) as refused:
        foreign(project, database)
    assert refused.value.dirty == "20221208132122"
    message = str(refused.value)
    assert "version 20221208132122 is dirty" in message and "failed part-way" in message
    assert "migrate force 20221208132122" in message
    result = run_mig(["foreign", "-d", database], cwd=project)
    assert result.returncode == 1 and "unexpected" not in result.stderr


@pytest.mark.parametrize("table, named", [
    ("flyway_schema_history", "installed_rank, version, description, type, script, "
     "installed_on, success"),
    ("schema_migration", "version"),
    ("__diesel_schema_migrations", "version, run_on"),
    ("SequelizeMeta", "name"),
    ("alembic_version", "version_num"),
    ("schema_migrations", "version"),
])
def test_a_look_alike_table_names_the_columns_expected(project, database, table, named):
    query(database, f'CREATE TABLE "{table}" (id int, note text)')
    result = run_mig(["foreign", "-d", database], cwd=project)
    assert result.returncode == 1
    assert "unexpected" not in result.stderr
    assert f"the table {table} is named like" in result.stderr
    assert f"lacks the column(s) {named}" in result.stderr
    assert "(its columns: id, note)" in result.stderr


# -- the documented example -----------------------------------------------------------------------
def test_the_import_example_of_docs_adopt_runs(tmp_path):
    text = (REPO / "docs" / "adopt.md").read_text()
    section = text.split("## Importing a history", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands_run = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    folder = corpus("supabase-auth")
    root = tmp_path / "auth"
    root.mkdir()
    for command in commands_run:
        args = command.split()
        assert args[0] == "mig", command
        args = [str(folder) if a == "../shared/corpus/supabase-auth" else a for a in args[1:]]
        if args[0] not in ("init", "import"):
            continue  # mig apply needs a database: test_corpus.py applies the import
        result = run_mig(args, cwd=root)
        assert result.returncode == 0, (command, result.stderr)
    assert len(order(root)) == 70
    assert commands_run[-2:] == [
        "mig import --from golang-migrate ../shared/corpus/supabase-auth --set Namespace=auth",
        "mig apply"]
