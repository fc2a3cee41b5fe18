"""The report's Profiles part: where the time of the commands behind missed targets goes.

Each command runs once under pyinstrument (a sample every millisecond), on the bench server,
and is summed up as wall and CPU time, the time spent importing modules, and the call tree
below the ``mig.commands`` verb, pruned to the frames that take at least 2 % of the wall time.
pyinstrument is optional (``pip install pyinstrument``); without it the part says so.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

from bench.common import REPO, Bench
from bench.sections.migrations import shipped_all, shipped_sql, synthetic

SHARE = 0.02  # frames under this share of the wall time are left out of the tree
DEPTH = 6  # levels of the tree below the verb


def available() -> bool:
    return importlib.util.find_spec("pyinstrument") is not None


def _profile(bench: Bench, args: list[str], cwd: Path) -> dict:
    out = bench.tmp / "profile.json"
    subprocess.run([bench.python, "-m", "pyinstrument", "-r", "json", "-o", str(out),
                    "-i", "0.001", "-m", "mig", *args], cwd=cwd, env=bench.env, check=True,
                   capture_output=True, text=True)
    return json.loads(out.read_text())


def _where(frame: dict) -> str:
    path = frame.get("file_path_short") or ""
    if path.startswith(str(REPO) + "/"):
        path = path[len(str(REPO)) + 1:]
    return f"{path}:{frame['line_no']}" if frame.get("line_no") else path


def _imports(frame: dict, *, top: bool = True) -> float:
    """Time in module-level code (imports): the outermost ``<module>`` frames below the root."""
    if not top and frame["function"] == "<module>":
        return float(frame["time"])
    return sum(_imports(child, top=False) for child in frame.get("children", []))


def _find(frame: dict, suffix: str) -> dict | None:
    """The outermost function frame whose file ends with ``suffix`` (breadth first)."""
    todo = [frame]
    while todo:
        current = todo.pop(0)
        if current["function"] != "<module>" and current.get("file_path", "").endswith(suffix):
            return current
        todo.extend(current.get("children", []))
    return None


def _tree(frame: dict, wall: float, depth: int = 0) -> list[str]:
    name = frame["function"]
    label = "module-level code (import)" if name == "<module>" else name
    lines = [f"{frame['time'] * 1000:8.1f} ms  {'  ' * depth}{label}  {_where(frame)}"]
    if name == "<module>" or depth >= DEPTH:
        return lines
    for child in sorted(frame.get("children", []), key=lambda c: -c["time"]):
        if child["time"] >= SHARE * wall:
            lines += _tree(child, wall, depth + 1)
    return lines


def summary(data: dict, title: str) -> list[str]:
    wall, cpu = float(data["duration"]), float(data["cpu_time"])
    root = data["root_frame"]
    verb = _find(root, "mig/commands/migrate.py")
    lines = [f"### {title}", "",
             f"Wall {wall * 1000:.0f} ms, CPU {cpu * 1000:.0f} ms (the other "
             f"{(wall - cpu) * 1000:.0f} ms wait: on the server, the disk, the network); "
             f"module-level code (imports) {_imports(root) * 1000:.0f} ms"
             + (f"; the verb, {verb['function']}(), {verb['time'] * 1000:.0f} ms:"
                if verb else "."), ""]
    if verb:
        lines += ["```", *_tree(verb, wall), "```", ""]
    return lines


def section(bench: Bench) -> list[str]:
    """The Profiles part of the report, as Markdown lines."""
    import datetime

    head = ["## Profiles", ""]
    if not available():
        return head + ["pyinstrument is not installed (`pip install pyinstrument`): no "
                       "profiles in this run.", ""]
    from importlib.metadata import version

    count = 10 if bench.quick else 200
    lines = head + [
        f"One run each under pyinstrument {version('pyinstrument')} (a sample every 1 ms), "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, on the bench "
        "server; the profiler adds to the times. Each tree is the call tree below the "
        f"mig.commands verb, frames of at least {SHARE:.0%} of the wall time, {DEPTH} levels; "
        "`[self]` is time in the function itself, C calls included (psycopg2's execute and "
        "commit, which wait on the server).", ""]
    runs = [(f"mig apply: {count} synthetic migrations onto an empty database",
             synthetic(bench, count), True),
            ("mig apply: the shipped SQL migrations onto an empty database",
             shipped_sql(bench), True),
            ("no-op mig apply at head: the shipped migrations folder, its Python migration "
             "included", shipped_all(bench), False)]
    for title, project, fresh in runs:
        name = bench.new_db()
        url = bench.url(name)
        try:
            if not fresh:
                bench.run(bench.mig("apply", "-q", "-d", url), cwd=project)
            lines += summary(_profile(bench, ["apply", "-q", "-d", url], project), title)
        finally:
            bench.drop_db(name)
    return lines
