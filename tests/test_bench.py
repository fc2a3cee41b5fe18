"""The benchmark harness runs end to end at a tiny size (the real run is `python bench/run.py`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_bench_quick_run_writes_a_report(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--runs", "1", "--out",
         str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    text = out.read_text()
    assert "| measurement | mig | reference | ratio | target | met |" in text
    for section in ("mig vs psql -1 -f", "no-op apply at head: mig vs yoyo", "vs COPY",
                    "per-test clone (mig_db)", "template build vs CREATE DATABASE",
                    "data step vs one UPDATE", "concurrent mig apply vs 1 process"):
        assert section in text, section
    rows = [line for line in text.splitlines() if line.startswith("| ") and " ms" in line]
    assert len(rows) >= 10
