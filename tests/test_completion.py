"""Shell completion (bash, zsh, fish through click's _MIG_COMPLETE) with migration ids for
--to, and the Python template of mig new, whose data step works once uncommented."""

from __future__ import annotations

import pytest

from mig import commands
from mig.config import resolve
from tests.support import REPO, TWO_MIGRATIONS, query, run_mig, write_project


def _complete(words: str, cwd) -> list[str]:
    result = run_mig([], cwd=cwd, env={"_MIG_COMPLETE": "bash_complete", "COMP_WORDS": words,
                                       "COMP_CWORD": str(len(words.split()) - (
                                           0 if words.endswith(" ") else 1))})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [line.split(",", 1)[1] for line in result.stdout.splitlines() if line]


@pytest.mark.parametrize("command", ["apply", "rollback", "diff", "baseline"])
def test_to_completes_the_projects_migration_ids(tmp_path, command):
    project = write_project(tmp_path, {**TWO_MIGRATIONS, "0010_c.sql": "SELECT 1;\n"})
    assert _complete(f"mig {command} --to ", project) == ["0001_a", "0002_b", "0010_c"]
    assert _complete(f"mig {command} --to 000", project) == ["0001_a", "0002_b"]


def test_completion_offers_commands_and_nothing_where_there_is_no_project(tmp_path):
    assert "history" in _complete("mig hi", tmp_path)
    assert _complete("mig apply --to ", tmp_path) == []  # no migrations folder: no error


def test_the_docs_show_completion_for_bash_zsh_and_fish():
    text = (REPO / "docs" / "cli.md").read_text()
    for shell in ("bash", "zsh", "fish"):
        assert f"_MIG_COMPLETE={shell}_source mig" in text, shell


def test_the_python_template_shows_a_data_step_that_works_uncommented(tmp_path, db_url):
    project = write_project(tmp_path, {
        "0001_users.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"
                          "INSERT INTO users SELECT i, 'User' || i || '@X.org'"
                          " FROM generate_series(1, 50) i;\n",
        "0001_users.rollback.sql": "DROP TABLE users;\n"})
    settings = resolve(database=db_url, project_dir=project, env={})
    (path,) = commands.new(settings, "lowercase emails", python=True)
    text = path.read_text()
    assert "data_step(forward, backward" in text
    head, example = text.split("# Uncomment it, or delete these lines:\n")
    lines = []
    for line in example.splitlines():
        if line.startswith(("# ", "#")) and not line.startswith("#!"):
            line = line[2:] if line.startswith("# ") else line[1:]
        lines.append(line.replace("    # data_step(", "    data_step("))
    text = (head + "\n".join(lines) + "\n").replace(
        '"",  # apply', '"ALTER TABLE users ADD COLUMN note text",').replace(
        '"",  # rollback', '"ALTER TABLE users DROP COLUMN note",')
    path.write_text(text)
    commands.apply(settings)
    assert query(db_url, "SELECT count(*) FROM users WHERE email <> lower(email)") == [(0,)]
