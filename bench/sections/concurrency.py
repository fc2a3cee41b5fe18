"""Section 6: sixteen processes running mig apply on an empty database, against one."""

from __future__ import annotations

import subprocess
import time

from bench.common import Bench, Row, ratio_row
from bench.sections.migrations import shipped_sql


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    project = shipped_sql(bench)
    count = 4 if bench.quick else 16

    def many(url: str) -> float:
        started = time.perf_counter()
        procs = [subprocess.Popen(bench.mig("apply", "-q", "-d", url), cwd=project,
                                  env=bench.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(count)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                raise subprocess.CalledProcessError(p.returncode, p.args, stderr=err)
        return time.perf_counter() - started

    one = bench.median_fresh(lambda url: bench.run(bench.mig("apply", "-q", "-d", url),
                                                   cwd=project))
    all_of_them = bench.median_fresh(many)
    return [ratio_row(f"{count} concurrent mig apply vs 1 process", all_of_them, one, "one", 2.0)
            ], [f"concurrency: {count} processes on 2 cores start together; the wall time is "
                "until the last exits."]
