"""Two ``mig seed`` processes at once: they take turns, and end in the state one run leaves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import psycopg2
import pytest

from mig.engine.lock import lock_key
from tests.support import REPO, apply_product_schema, execute, seed


def _state(url: str) -> dict[str, list[tuple]]:
    return {
        "roles": execute(url, "SELECT key, name FROM roles ORDER BY 1"),
        "grants": execute(url, "SELECT r.key, p.key FROM role_permissions rp "
                               "JOIN roles r ON r.id = rp.role_id "
                               "JOIN permissions p ON p.id = rp.permission_id ORDER BY 1, 2"),
        "organizations": execute(url, "SELECT slug, name FROM organizations ORDER BY 1"),
        "members": execute(url, "SELECT u.email, r.key FROM organization_members m "
                                "JOIN users u ON u.id = m.user_id "
                                "JOIN roles r ON r.id = m.role_id ORDER BY 1"),
    }


@pytest.mark.slow
def test_two_processes_at_once(db_url, tmp_path):
    url = apply_product_schema(db_url)
    seeds = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    many = "\n".join(f"  - {{slug: org-{i}, name: Org {i}}}" for i in range(3000))
    (seeds / "dev" / "025_many_organizations.yaml").write_text(
        f"table: organizations\nkey: slug\nrows:\n{many}\n")

    # Hold the migration lock (which seeds take, as apply does) so that both runs are started
    # and waiting before either may go.
    holder = psycopg2.connect(url)
    holder.autocommit = True
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (lock_key("_yoyo_migration"),))
    # Two real CLI runs sharing one seed cache (MIG_SEED_CACHE), as two deploy jobs would.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    env.pop("DATABASE_URL", None)
    env["MIG_SEED_CACHE"] = str(tmp_path / "seed-cache")
    command = [sys.executable, "-m", "mig", "seed", "-d", url, "--seeds", str(seeds),
               "--env", "dev", "--json"]
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    waiting = 0
    deadline = time.monotonic() + 30
    while waiting < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling: a waiter polls the lock outside any transaction
        [(waiting,)] = execute(url, "SELECT count(*) FROM pg_stat_activity WHERE"
                                    " application_name LIKE 'mig seed%%' AND query LIKE"
                                    " '%%pg_try_advisory_lock%%'")
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock(%s)", (lock_key("_yoyo_migration"),))
    holder.close()
    results = [p.communicate(timeout=120) for p in procs]
    assert waiting == 2, "both runs should have waited for the migration lock"

    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "duplicate key" not in err
    first, second = sorted((json.loads(out) for out, _ in results),
                           key=lambda r: not r["changed"])
    assert (first["changed"], second["changed"]) == (True, False)
    assert sum(t["inserted"] for t in first["tables"].values()) == 3000 + 108
    assert first["tables"]["organizations"]["inserted"] == 3001
    for name, counts in first["tables"].items():
        assert counts["updated"] == counts["deleted"] == 0
        # the second run found every row the first one wrote, and wrote nothing
        assert second["tables"][name] == {"inserted": 0, "updated": 0, "deleted": 0,
                                          "unchanged": counts["inserted"] + counts["unchanged"]}
    assert list((tmp_path / "seed-cache").iterdir()), "the runs share the seed cache"
    assert execute(url, "SELECT count(*), count(DISTINCT slug) FROM organizations") == [
        (3001, 3001)]

    # the same state as one run into a fresh database
    fresh = url.rsplit("/", 1)[0] + "/" + "postgres"
    execute(fresh, "DROP DATABASE IF EXISTS seed_once WITH (FORCE)")
    execute(fresh, "CREATE DATABASE seed_once")
    once = url.rsplit("/", 1)[0] + "/seed_once"
    try:
        apply_product_schema(once)
        seed(once, seeds, "dev")
        assert _state(url) == _state(once)
    finally:
        execute(fresh, "DROP DATABASE seed_once WITH (FORCE)")
