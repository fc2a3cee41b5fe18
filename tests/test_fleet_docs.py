"""docs/fleet.md's worked example, run as written against three real databases."""

from __future__ import annotations

import re
import shlex
import uuid

import psycopg2
import pytest

import mig
from mig import fleet
from tests.support import REPO, query, run_mig

DOC = (REPO / "docs" / "fleet.md").read_text()
EXAMPLE_HOST = "postgresql://mig@db1.example.com:5432/"


def _block(lang: str, index: int = 0) -> str:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)[index]


@pytest.fixture
def tenants(pg_server):
    listing = _block("yaml")
    names = re.findall(re.escape(EXAMPLE_HOST) + r"(\w+)", listing)
    suffix = "_" + uuid.uuid4().hex[:6]
    admin = psycopg2.connect(pg_server.url())
    admin.autocommit = True
    for name in names:
        admin.cursor().execute(f'CREATE DATABASE "{name}{suffix}"')
    try:
        yield names, suffix
    finally:
        for name in names:
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}{suffix}" WITH (FORCE)')
        admin.close()


def test_the_worked_example_runs_as_documented(pg_server, tenants, tmp_path) -> None:
    names, suffix = tenants
    base = pg_server.url("x")[:-1]  # postgresql://USER@127.0.0.1:PORT/
    listing = _block("yaml").replace(EXAMPLE_HOST, base)
    for name in names:
        listing = listing.replace(f"/{name}\n", f"/{name}{suffix}\n")
    (tmp_path / "fleet.yaml").write_text(listing)
    first = names[0]  # the canary: already at head; the others two migrations behind
    for name in names:
        settings = mig.resolve(database=base + name + suffix, project_dir=REPO)
        mig.apply(settings, to=None if name == first else
                  "20260208_120000_system_config_and_audit_logs")

    commands = [line.split("#")[0].strip() for line in _block("sh").splitlines()]
    outputs = []
    for command in filter(None, commands):
        args = shlex.split(command)
        assert args[0] == "mig"
        run = run_mig(args[1:], cwd=tmp_path, env={"MIG_CONFIG": str(REPO / "yoyo.ini")})
        assert run.returncode == 0, (command, run.stdout, run.stderr)
        outputs.append(run.stdout)
    status_text, apply_text = _block("text", 0).strip(), _block("text", 1).strip()
    assert outputs[0].strip() == status_text
    assert outputs[1].strip() == apply_text
    # the shard rolled back its share only, and the next apply put it back
    targets = fleet.load(str(tmp_path / "fleet.yaml"), None)
    share = {t.name for t in fleet.shard(targets, 0, 2)}
    assert share, "the example's shard 0 holds a tenant"
    json_run = [line for line in outputs[5].splitlines() if '"summary"' not in line]
    reapplied = {line.split('"target": "')[1].split('"')[0] for line in json_run
                 if '"applied"' in line}
    assert reapplied == share
    for name in names:
        ids = query(base + name + suffix, "SELECT count(*) FROM _yoyo_migration")[0][0]
        assert ids == 8
