"""The paths a new user takes: lint without its extra, the extras table, mig init's next steps,
and a command run outside any project."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys

from tests.support import REPO, run_mig, write_project
from tests.support import TWO_MIGRATIONS as MIGRATIONS

BLOCKED = "import sys; sys.modules['pglast'] = None; from mig.cli import main; main(['lint'])"


def test_lint_without_its_extra_names_the_extra_to_install(tmp_path):
    project = write_project(tmp_path, MIGRATIONS)
    result = subprocess.run([sys.executable, "-c", BLOCKED], cwd=project, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: mig lint needs pglast")
    assert "hint: pip install 'mig-schema[lint]'" in result.stderr


def _extras() -> dict[str, set[str]]:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    return {name: {re.match(r"[A-Za-z0-9_.\-]+", line.strip()).group(0)
                   for line in text.splitlines() if line.strip()}
            for name, text in cfg.items("options.extras_require")}


def test_the_extras_table_says_what_each_extra_brings():
    text = (REPO / "docs" / "testing.md").read_text()
    extras = _extras()
    for name in ("embedded", "pytest", "docker", "lint"):
        row = re.search(rf"^\| `{name}` \| (.*?) \|", text, re.M)
        assert row is not None, name
        listed = {re.sub(r"\[.*\]", "", item) for item in re.findall(r"`([^`]+)`", row.group(1))}
        assert listed == extras[name], name


def test_init_says_when_to_run_mig_hash(tmp_path):
    result = run_mig(["init", str(tmp_path / "new")], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    steps = result.stdout.split("next steps:", 1)[1].splitlines()
    order = [line.split()[1] for line in steps if line.startswith("  mig ")]
    assert order == ["new", "hash", "apply"]


def test_a_command_outside_any_project_points_at_mig_init(tmp_path):
    result = run_mig(["status"], cwd=tmp_path)
    assert result.returncode == 1
    assert f"migrations folder {tmp_path / 'migrations'} does not exist" in result.stderr
    assert "'mig init' lays one out" in result.stderr
    assert not (tmp_path / ".mig").exists()  # nothing started for it
