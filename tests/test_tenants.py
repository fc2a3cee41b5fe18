"""New tenants cloned from a template database at head: `mig db create --from-template`, and
`mig apply --fleet --from-template` creating the targets that do not exist."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

import mig
from mig.errors import EXIT_PENDING
from mig.server import LocalServer
from tests.support import REPO, drop_database, query, run_mig

HEAD = "20260212_120000_application_role_privileges"
BEFORE_HEAD = "20260209_090000_lowercase_emails"


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _exists(server: LocalServer, name: str) -> bool:
    return query(server.url(), "SELECT count(*) FROM pg_database WHERE datname = %s",
                 (name,)) == [(1,)]


@pytest.fixture(scope="module")
def template(pg_server: LocalServer) -> Iterator[str]:
    """A template database: the shipped history applied, its base seeds loaded."""
    name = _name("tenant_tpl")
    query(pg_server.url(), f'CREATE DATABASE "{name}"')
    settings = mig.resolve(database=pg_server.url(name), project_dir=REPO)
    mig.apply(settings)
    mig.seed(settings)
    yield name
    drop_database(pg_server, name)


@pytest.fixture
def names(pg_server: LocalServer) -> Iterator[list[str]]:
    """Names for the databases a test creates; whatever exists of them is dropped after."""
    made: list[str] = []
    yield made
    for name in made:
        drop_database(pg_server, name)


def _records(url: str) -> list[tuple]:
    return query(url, "SELECT y.migration_id, m.checksum FROM _yoyo_migration y"
                 " JOIN _mig_migrations m USING (migration_id) ORDER BY 1")


def test_a_tenant_cloned_from_a_template_at_head_has_its_records(pg_server, template,
                                                                 names) -> None:
    name = _name("tenant")
    names.append(name)
    created = run_mig(["db", "create", name, "--from-template", template, "--json",
                       "-d", pg_server.url()], cwd=REPO)
    assert created.returncode == 0, created.stderr
    result = json.loads(created.stdout)
    assert (result["name"], result["template"], result["version"]) == (name, template, HEAD)
    assert result["url"].endswith(f"/{name}")
    # the clone's record is the template's: every migration applied, with the same checksums
    status = run_mig(["status", "--json", "--exit-code", "-d", pg_server.url(name)], cwd=REPO)
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["current"] and not report["pending"] and not report["partial"]
    assert _records(pg_server.url(name)) == _records(pg_server.url(template))
    assert len(_records(pg_server.url(name))) == len(report["applied"]) > 0
    # and its seed rows
    assert query(pg_server.url(name), "SELECT count(*) FROM roles")[0][0] >= 3
    assert (query(pg_server.url(name), "SELECT * FROM roles ORDER BY 1")
            == query(pg_server.url(template), "SELECT * FROM roles ORDER BY 1"))
    # a second create of the same name leaves the tenant alone
    query(pg_server.url(name), "CREATE TABLE tenant_data (id int); INSERT INTO tenant_data"
          " VALUES (1)")
    again = run_mig(["db", "create", name, "--from-template", template, "-d",
                     pg_server.url()], cwd=REPO)
    assert again.returncode == 1
    assert f"database {name} already exists" in again.stderr
    assert "nothing was created" in again.stderr
    assert query(pg_server.url(name), "SELECT id FROM tenant_data") == [(1,)]


def test_a_template_not_at_head_is_refused_and_nothing_is_created(pg_server, names) -> None:
    behind = _name("tenant_behind")
    names.append(behind)
    query(pg_server.url(), f'CREATE DATABASE "{behind}"')
    mig.apply(mig.resolve(database=pg_server.url(behind), project_dir=REPO), to=BEFORE_HEAD)
    name = _name("tenant")
    names.append(name)
    refused = run_mig(["db", "create", name, "--from-template", behind, "-d",
                       pg_server.url()], cwd=REPO)
    assert refused.returncode == EXIT_PENDING
    assert f"template {behind} is not at the newest migration: 1 pending ({HEAD})" \
        in refused.stderr
    assert f"mig apply --seed -d {pg_server.url(behind)}" in refused.stderr
    assert not _exists(pg_server, name)


def test_a_template_with_another_session_is_refused_naming_it(pg_server, template,
                                                              names) -> None:
    name = _name("tenant")
    names.append(name)
    other = psycopg2.connect(pg_server.url(template), application_name="tenant-admin")
    try:
        refused = run_mig(["db", "create", name, "--from-template", template, "-d",
                           pg_server.url()], cwd=REPO, timeout=120)
    finally:
        other.close()
    assert refused.returncode == 1
    assert f"cannot clone template {template}: other sessions are connected to it" \
        in refused.stderr
    assert "application 'tenant-admin'" in refused.stderr
    assert "pg_terminate_backend" in refused.stderr and "nothing was created" in refused.stderr
    assert not _exists(pg_server, name)


def test_the_verb_clones_and_drops_a_clone_that_is_not_at_head(pg_server, template,
                                                               names) -> None:
    """A clone is proven at head after the copy; one that is not (here: the caller's proof of
    the template was wrong) is dropped again."""
    from mig import commands

    settings = mig.resolve(database=pg_server.url(), project_dir=REPO)
    name = _name("tenant")
    names.append(name)
    created = commands.create_database(settings, name, template=template)
    assert created.version == HEAD and _exists(pg_server, name)
    behind = _name("tenant_behind")
    names.append(behind)
    query(pg_server.url(), f'CREATE DATABASE "{behind}"')
    mig.apply(mig.resolve(database=pg_server.url(behind), project_dir=REPO), to=BEFORE_HEAD)
    clone = _name("tenant")
    names.append(clone)
    with pytest.raises(mig.MigError, match="is not at the newest migration.*dropped again"):
        commands.create_database(settings, clone, template=behind, checked=BEFORE_HEAD)
    assert not _exists(pg_server, clone)


def test_a_fleet_apply_creates_the_missing_targets_from_the_template(pg_server, template,
                                                                     names, tmp_path) -> None:
    missing = [_name("tenant_new") for _ in range(3)]
    behind = _name("tenant_old")
    names.extend([*missing, behind])
    query(pg_server.url(), f'CREATE DATABASE "{behind}"')
    mig.apply(mig.resolve(database=pg_server.url(behind), project_dir=REPO), to=BEFORE_HEAD)
    listing = tmp_path / "fleet.txt"
    listing.write_text("".join(pg_server.url(n) + "\n" for n in [*missing, behind]))
    run = run_mig(["apply", "--fleet", str(listing), "--from-template", template, "--json",
                   "--jobs", "4", "--journal", str(tmp_path / "j.jsonl")], cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    summary = records.pop()
    outcomes = {r["target"]: r for r in records}
    assert {n: o["outcome"] for n, o in outcomes.items()} == {
        **{n: "created" for n in missing}, behind: "applied"}
    assert all(outcomes[n]["template"] == template and outcomes[n]["version"] == HEAD
               for n in missing)
    assert summary["outcomes"] == {"created": 3, "applied": 1}
    for name in missing:
        assert _records(pg_server.url(name)) == _records(pg_server.url(template))
    # without the option a missing target fails, as before
    gone = _name("tenant_gone")
    listing.write_text(pg_server.url(gone) + "\n")
    failed = run_mig(["apply", "--fleet", str(listing), "--json", "--journal",
                      str(tmp_path / "k.jsonl")], cwd=REPO)
    assert failed.returncode == 1 and not _exists(pg_server, gone)
    # a template not at head is refused before any target is created
    stale = _name("tenant_stale")
    names.append(stale)
    query(pg_server.url(), f'CREATE DATABASE "{stale}"')
    mig.apply(mig.resolve(database=pg_server.url(stale), project_dir=REPO), to=BEFORE_HEAD)
    refused = run_mig(["apply", "--fleet", str(listing), "--from-template", stale,
                       "--journal", str(tmp_path / "l.jsonl")], cwd=REPO)
    assert refused.returncode == 1, refused.stderr
    assert f"template {stale} is not at the newest migration" in refused.stdout
    assert not _exists(pg_server, gone)
