"""``mig seed`` as a real process: output, --json, --dry-run, exit codes, secrets."""

from __future__ import annotations

import json
import shutil

import pytest

from mig.errors import EXIT_FAILURE, EXIT_PENDING
from tests.support import REPO, apply_product_schema, execute, run_mig


@pytest.fixture
def url(db_url):
    return apply_product_schema(db_url)


def test_seed_then_nothing_to_change(url):
    first = run_mig(["seed", "-d", url, "--env", "dev"], cwd=REPO)
    assert first.returncode == 0, first.stderr
    assert "roles" in first.stdout and "wrote 108 inserted" in first.stdout
    second = run_mig(["seed", "-d", url, "--env", "dev", "--json"], cwd=REPO)
    data = json.loads(second.stdout)
    assert data["tables"]["roles"] == {"inserted": 0, "updated": 0, "unchanged": 3, "deleted": 0}
    assert data["changed"] is False


def test_dry_run_prints_rows_and_hides_secrets(url):
    secret = "pbkdf2_sha256$600000$cliSalt$c2VjcmV0"
    result = run_mig(["seed", "-d", url, "--env", "dev", "--dry-run"], cwd=REPO,
                     env={"MIG_DEV_OPERATOR_PASSWORD_HASH": secret})
    assert result.returncode == 0, result.stderr
    assert "seeds/dev/020_organizations.yaml:5: organizations [slug='acme']: insert" in (
        result.stdout)
    assert "dry run: nothing was written" in result.stdout
    assert secret not in result.stdout + result.stderr
    assert execute(url, "SELECT count(*) FROM roles") == [(0,)]


def test_validation_error_exit_code_and_message(url, tmp_path):
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    (tmp_path / "seeds" / "base" / "050_broken.yaml").write_text(
        "table: permissions\nkey: key\nrows:\n  - {key: x.y, descripton: typo}\n")
    result = run_mig(["seed", "-d", url, "--seeds", str(tmp_path / "seeds")], cwd=REPO)
    assert result.returncode == EXIT_FAILURE
    assert "050_broken.yaml:4:" in result.stderr and "unknown column 'descripton'" in (
        result.stderr)
    assert execute(url, "SELECT count(*) FROM permissions") == [(0,)]


def test_refuses_a_database_not_at_the_newest_migration(db_url):
    result = run_mig(["seed", "-d", db_url], cwd=REPO)
    assert result.returncode == EXIT_PENDING, result.stderr
    assert "not at the newest migration" in result.stderr


def test_dry_run_lists_every_row_unchanged_ones_too(url, tmp_path):
    """--help and docs/cli.md promise per row: insert, update (with the fields), unchanged."""
    help_text = run_mig(["seed", "--help"], cwd=REPO).stdout
    assert "unchanged" in " ".join(help_text.split())
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    assert run_mig(["seed", "-d", url, "--seeds", str(seeds)], cwd=REPO).returncode == 0
    roles = seeds / "base" / "010_roles.yaml"
    roles.write_text(roles.read_text().replace("name: Admin", "name: Administrator"))
    result = run_mig(["seed", "-d", url, "-c", str(REPO / "yoyo.ini"), "--seeds", str(seeds),
                     "--dry-run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith("roles [organization_id=None, key='admin']: update "
                             "name: 'Admin' -> 'Administrator'") for line in lines), lines
    assert any(line.startswith("seeds/base/010_roles.yaml:") and line.endswith(
        "roles [organization_id=None, key='owner']: unchanged") for line in lines), lines
    per_row = [line for line in lines if line.startswith("seeds/")]
    [(permissions,)] = execute(url, "SELECT count(*) FROM permissions")
    [(grants,)] = execute(url, "SELECT count(*) FROM role_permissions")
    [(config,)] = execute(url, "SELECT count(*) FROM system_config")
    assert len(per_row) == 3 + permissions + grants + config
    assert "would write 0 inserted, 1 updated, 0 deleted;" in result.stdout
