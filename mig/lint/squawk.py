"""Running squawk (the ``squawk-cli`` package) over migrations and reading its JSON report.

Files of transactional migrations are checked with ``--assume-in-transaction`` (mig runs each
in one transaction, so squawk's rerun and concurrency advice for them does not apply); files of
non-transactional ones without it. The SQL of a Python migration's string steps is written to
temporary files and its findings mapped back to the lines of the ``.py`` file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import MigError
from .findings import Finding, Source
from .settings import LintSettings


def executable() -> str:
    """The squawk binary: the one installed beside this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "squawk"
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise MigError("squawk is not installed, so migrations cannot be linted: it comes"
                       " with mig's lint extra",
                       hint="pip install 'mig-schema[lint]' (squawk-cli and pglast)")
    return found


def version() -> str:
    """The installed squawk's version line."""
    done = subprocess.run([executable(), "--version"], capture_output=True, text=True)
    return done.stdout.strip()


def _arguments(settings: LintSettings, *, in_transaction: bool) -> list[str]:
    args = [executable(), "--reporter", "json"]
    if settings.pg_version:
        args += ["--pg-version", settings.pg_version]
    if settings.include:
        args += ["--include", ",".join(settings.include)]
    args.append("--assume-in-transaction" if in_transaction else "--no-assume-in-transaction")
    return args


def _run(args: list[str], files: list[str], cwd: str) -> list[dict]:
    done = subprocess.run(args + files, capture_output=True, text=True, cwd=cwd)
    try:
        report = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, list):
        detail = (done.stderr or done.stdout).strip()[:500]
        raise MigError(f"squawk failed (exit code {done.returncode}): {detail}",
                       hint="run it by hand to see why: " + " ".join(args[:1] + files[:1]))
    return report


def check(sources: list[Source], settings: LintSettings) -> list[tuple[Source, Finding]]:
    """squawk's findings for ``sources``, each with its source and the line in the migration
    file itself."""
    if not sources:
        return []
    findings: list[tuple[Source, Finding]] = []
    with tempfile.TemporaryDirectory(prefix="mig-lint-") as tmp:
        # A whole file is passed as it is; a Python step's SQL through a temporary file.
        by_name: dict[str, Source] = {}
        groups: dict[bool, list[str]] = {True: [], False: []}
        for index, source in enumerate(sources):
            if source.path.suffix == ".sql":
                name = str(source.path.absolute())
            else:
                name = str(Path(tmp, f"step{index}.sql"))
                Path(name).write_text(source.text, encoding="utf-8")
            by_name[name] = source
            groups[source.transactional].append(name)
        for in_transaction, files in groups.items():
            if not files:
                continue
            # Run in the temporary folder, so a stray .squawk.toml cannot change the rules.
            for item in _run(_arguments(settings, in_transaction=in_transaction), files, tmp):
                found = by_name.get(str(item.get("file")))
                if found is None:
                    continue
                source = found
                findings.append((source, Finding(
                    source.path,
                    source.first_line + int(item.get("line", 0)),
                    str(item.get("rule_name")),
                    " ".join(str(item.get("message", "")).split()),
                    item.get("help") or None,
                    tool="squawk",
                )))
    return findings
