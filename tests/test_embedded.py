"""The embedded default server as a fresh project meets it: many processes at once, libpq's
environment aimed at another server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import copy_shipped_project, run_mig, tables


def _project_copy(root):
    """The repository's project (yoyo.ini, migrations, seeds) in a folder of its own."""
    return copy_shipped_project(root / "project")


def _env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    env.pop("DATABASE_URL", None)
    env.update(extra or {})
    return env


@pytest.mark.slow
def test_many_processes_start_the_embedded_default_at_once(tmp_path):
    project = _project_copy(tmp_path)
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "mig", "apply", "-q"], cwd=project,
                                  env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
                 for _ in range(12)]
        outputs = [p.communicate(timeout=300) for p in procs]
        results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]
        assert [rc for rc, _, _ in results] == [0] * 12, [err for _, _, err in results]
        assert all(out == "" and err == "" for _, out, err in results)
        result = run_mig(["status", "--exit-code"], cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        run_mig(["db", "stop"], cwd=project)


def test_embedded_default_ignores_a_libpq_sslmode_meant_for_other_servers(tmp_path):
    """The embedded server has no TLS: PGSSLMODE=require (set for a remote database) must not
    make every command against it fail."""
    project = _project_copy(tmp_path)
    try:
        result = run_mig(["apply", "-q"], cwd=project, env={"PGSSLMODE": "require"})
        assert result.returncode == 0, result.stderr
        url = run_mig(["db", "url"], cwd=project).stdout.strip()
        assert "users" in tables(url)
        result = run_mig(["status", "--exit-code"], cwd=project, env={"PGSSLMODE": "require"})
        assert result.returncode == 0, result.stderr
    finally:
        run_mig(["db", "stop"], cwd=project)
