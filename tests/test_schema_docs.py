"""The entity-relationship diagram: generated from the catalog, embedded in docs/schema.md and
kept in sync with the migrations; ``mig schema`` prints or refreshes it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from click.testing import CliRunner

from mig.cli import cli
from mig.engine import erd
from tests.support import REPO, apply_sql_files, create_database, drop_database, query

DOCS = REPO / "docs" / "schema.md"


@pytest.fixture(scope="module")
def migrated_url(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    name = create_database(pg_server)
    apply_sql_files(pg_server.url(name))
    yield pg_server.url(name)
    drop_database(pg_server, name)


def diagram_of(url: str) -> str:
    conn = psycopg2.connect(url)
    try:
        return erd.mermaid(conn)
    finally:
        conn.close()


def test_docs_embed_the_diagram_of_the_migrated_schema(migrated_url: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert erd.embed(text, diagram_of(migrated_url)) == text, (
        "docs/schema.md shows an outdated diagram: refresh it with "
        "'mig schema --format mermaid --update docs/schema.md' on a migrated database"
    )


def test_docs_explain_every_table(migrated_url: str) -> None:
    rows = query(migrated_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    documented = set(re.findall(r"^### `(\w+)`$", DOCS.read_text(encoding="utf-8"), re.M))
    assert documented == {name for (name,) in rows}


def test_the_diagram_shows_keys_and_relationships(migrated_url: str) -> None:
    diagram = diagram_of(migrated_url)
    assert diagram.startswith("erDiagram\n    audit_logs {\n        uuid id PK\n")
    assert '        text email UK "unique lower(email) where (deleted_at IS NULL)"' in diagram
    assert "        char(3) currency\n" in diagram
    assert "        timestamptz created_at\n" in diagram
    assert "        uuid role_id PK, FK\n" in diagram
    # A required foreign key is "exactly one", an optional one "zero or one"; many children.
    assert '    organizations ||--o{ organization_members : "organization_id"' in diagram
    assert '    users |o--o{ audit_logs : "actor_user_id"' in diagram
    assert "_yoyo" not in diagram and "_mig_" not in diagram


def test_small_schema_diagram(db_url: str) -> None:
    query(
        db_url,
        """
        CREATE TABLE parent (a int, b int, PRIMARY KEY (a, b));
        CREATE TABLE child (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            a int NOT NULL, b int NOT NULL,
            profile_id int UNIQUE,
            amount numeric(10, 2),
            at timestamp without time zone,
            FOREIGN KEY (a, b) REFERENCES parent ON DELETE CASCADE);
        CREATE TABLE profile (id int PRIMARY KEY);
        ALTER TABLE child ADD FOREIGN KEY (profile_id) REFERENCES profile ON DELETE SET NULL;
        CREATE TABLE _mig_log (id int);
        """,
    )
    assert diagram_of(db_url) == (
        "erDiagram\n"
        "    child {\n"
        "        bigint id PK\n"
        "        integer a FK\n"
        "        integer b FK\n"
        "        integer profile_id FK, UK\n"
        "        numeric(10-2) amount\n"
        "        timestamp at\n"
        "    }\n"
        "    parent {\n"
        "        integer a PK\n"
        "        integer b PK\n"
        "    }\n"
        "    profile {\n"
        "        integer id PK\n"
        "    }\n"
        '    parent ||--o{ child : "a, b"\n'
        '    profile |o--o| child : "profile_id"\n'
    )


def test_embed_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="no diagram block"):
        erd.embed("# nothing here\n", "erDiagram\n")
    text = f"before\n{erd.BEGIN}\nold\n{erd.END}\nafter\n"
    assert erd.embed(text, "erDiagram\n") == (
        f"before\n{erd.BEGIN}\n```mermaid\nerDiagram\n```\n{erd.END}\nafter\n"
    )


def test_mig_schema_prints_and_updates_the_diagram(migrated_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["schema", "--format", "mermaid", "-d", migrated_url])
    assert result.exit_code == 0, result.output
    assert result.output == diagram_of(migrated_url)

    page = tmp_path / "page.md"
    page.write_text(f"# Page\n{erd.BEGIN}\n{erd.END}\n")
    result = runner.invoke(cli, ["schema", "-d", migrated_url, "--update", str(page)])
    assert result.exit_code == 0, result.output
    assert page.read_text() == erd.embed(page.read_text(), diagram_of(migrated_url))
    assert "```mermaid\nerDiagram\n" in page.read_text()

    result = runner.invoke(cli, ["schema", "--format", "json", "-d", migrated_url])
    assert result.exit_code == 0, result.output
    assert "users.email" in json.loads(result.output)["columns"]
