"""Section 6: sixteen processes running mig apply on an empty database, against one."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time

from bench.common import Bench, Row, ratio_row
from bench.sections.migrations import shipped_sql


def section(bench: Bench) -> tuple[list[Row], list[str]]:
    project = shipped_sql(bench)
    count = 4 if bench.quick else 16
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    cpu: list[float] = []

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def many(url: str, args: tuple[str, ...] = ("apply", "-q")) -> float:
        cpu_before = children_cpu()
        started = time.perf_counter()
        procs = [subprocess.Popen(bench.mig(*args, "-d", url), cwd=project,
                                  env=bench.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for _ in range(count)]
        for p in procs:
            _, err = p.communicate(timeout=300)
            if p.returncode != 0:
                raise subprocess.CalledProcessError(p.returncode, p.args, stderr=err)
        elapsed = time.perf_counter() - started
        if args[0] == "apply":
            cpu.append(children_cpu() - cpu_before)
        return elapsed

    one = bench.median_fresh(lambda url: bench.run(bench.mig("apply", "-q", "-d", url),
                                                   cwd=project))
    all_of_them = bench.median_fresh(many)
    # The floor on this machine: as many processes that start, import mig and connect
    # (mig status), with no lock to wait for.
    floor = bench.median_fresh(lambda url: many(url, ("status", "-q")))
    cpu_floor = statistics.median(cpu) / (cores or 1)
    return [
        ratio_row(f"{count} concurrent mig apply vs 1 process", all_of_them, one, "one", 2.0),
        ratio_row(f"{count} concurrent mig apply vs {count} concurrent mig status (start-up floor)",
                  all_of_them, floor, "status", 2.0),
        ratio_row(f"{count} concurrent mig apply vs their CPU time spread over {cores} cores "
                  "(CPU floor)", all_of_them, cpu_floor, "CPU/cores", 2.0),
    ], [f"concurrency: {count} processes start together on {cores} cores; the wall "
        "time is until the last exits. Their start-up alone is CPU-bound, hence the second "
        "reference: the same number of processes doing a read-only status; the CPU floor is "
        "the CPU time the processes used (user + system, all of them) divided by the cores: "
        "no scheduling finishes them sooner. In a deploy each container has CPU of its own."]
