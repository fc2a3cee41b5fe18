"""The live schema exported: its snapshot (what ``mig verify`` and ``mig diff`` compare), its
SQL from ``pg_dump --schema-only``, and its entity-relationship diagram."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..config import Settings
from ..engine import erd
from ..engine.comparison import scope
from ..engine.connect import connect, open_database
from ..engine.snapshot import Snapshot, snapshot
from ..errors import MigError


def schema_snapshot(settings: Settings, *, schema: str | Sequence[str] | None = None
                    ) -> Snapshot:
    """The live schema of the configured database, read from its catalogs: what
    :func:`~mig.commands.verify` and :func:`~mig.commands.diff` compare (tracking tables left
    out). ``schema``: a schema or several; default: every schema but the system's and those
    an extension owns (see :func:`mig.engine.comparison.scope`)."""
    conn = connect(open_database(settings), verb="schema")
    try:
        return snapshot(conn, scope(settings, schema), ignore=(settings.migration_table,))
    finally:
        conn.close()


def schema_sql(settings: Settings, *, schema: str = "public", pg_dump: str | None = None) -> str:
    """The live schema as SQL, from ``pg_dump --schema-only``, without the tracking tables.

    :param pg_dump: the pg_dump binary; default: the first as new as the server of the
        embedded server's, PATH's and ``/usr/lib/postgresql/*/bin``'s.
    :raises MigError: no pg_dump new enough was found (the message lists what was looked at),
        or pg_dump failed.
    """
    from ..engine.pgdump import dump_schema

    dsn = open_database(settings)
    conn = connect(dsn, verb="schema")
    try:
        major = conn.server_version // 10000
    finally:
        conn.close()
    return dump_schema(dsn, major, schema=schema, pg_dump=pg_dump,
                       extra_tables=(settings.migration_table,))


def schema_diagram(settings: Settings, *, schema: str = "public") -> str:
    """The entity-relationship diagram (Mermaid) of the configured database's live schema."""
    conn = connect(open_database(settings), verb="schema")
    try:
        return erd.mermaid(conn, schema, ignore=(settings.migration_table,))
    finally:
        conn.close()


def update_diagram(settings: Settings, path: Path, *, schema: str = "public") -> None:
    """Replace the diagram between the ``mig:erd`` markers of the Markdown file ``path``.

    :raises MigError: the file has no (or unbalanced) markers; it is left as it was.
    """
    diagram = schema_diagram(settings, schema=schema)
    try:
        text = erd.embed(path.read_text(encoding="utf-8"), diagram)
    except ValueError as exc:
        raise MigError(f"{path}: {exc}") from None
    path.write_text(text, encoding="utf-8")
