"""``--to ID``: one check of the id, one message, whichever verb takes it."""

from __future__ import annotations

import pytest

from mig import commands
from mig.config import resolve
from mig.disk import scripts as scripts_mod
from mig.errors import UnknownMigration
from tests.support import write_project

FILES = {
    "0001_users.sql": "CREATE TABLE users (id int);\n",
    "0001_users.rollback.sql": "DROP TABLE users;\n",
    "0002_teams.sql": "CREATE TABLE teams (id int);\n",
    "0002_teams.rollback.sql": "DROP TABLE teams;\n",
    "0003_notes.sql": "CREATE TABLE notes (id int);\n",
    "0003_notes.rollback.sql": "DROP TABLE notes;\n",
}


def test_upto_gives_the_ids_in_order_up_to_and_including_the_target(tmp_path):
    project = write_project(tmp_path, FILES)
    scripts, _ = scripts_mod.scan((project / "migrations",))
    assert scripts_mod.upto(scripts, "0002_teams") == ["0001_users", "0002_teams"]
    assert scripts_mod.upto(scripts, "0003_notes")[-1] == "0003_notes"


def test_an_unknown_target_names_the_folder_and_the_nearest_id(tmp_path):
    project = write_project(tmp_path, FILES)
    scripts, _ = scripts_mod.scan((project / "migrations",))
    with pytest.raises(UnknownMigration) as caught:
        scripts_mod.upto(scripts, "0002_team")
    assert caught.value.message == (f"--to 0002_team: no such migration in {project / 'migrations'}"
                                    " (did you mean '0002_teams'?)")
    assert caught.value.migration_id == "0002_team"
    assert caught.value.folders == [str(project / "migrations")]
    assert "'mig status' lists the ids" in (caught.value.hint or "")
    with pytest.raises(UnknownMigration) as far:
        scripts_mod.upto(scripts, "9999_nothing_alike")
    assert "did you mean" not in far.value.message


@pytest.mark.parametrize("verb", ["apply", "apply_dry_run", "rollback", "diff", "baseline"])
def test_every_verb_taking_to_says_it_the_same_way(tmp_path, db_url, pg_server, verb):
    project = write_project(tmp_path, FILES)
    settings = resolve(project_dir=project, database=db_url, env={})
    commands.apply(settings, to="0001_users")
    calls = {
        "apply": lambda: commands.apply(settings, to="0002_team"),
        "apply_dry_run": lambda: commands.apply(settings, to="0002_team", dry_run=True),
        "rollback": lambda: commands.rollback(settings, to="0002_team", yes=True),
        "diff": lambda: commands.diff(settings, to="0002_team", scratch=pg_server.url()),
        "baseline": lambda: commands.baseline(settings, "0002_team", scratch=pg_server.url()),
    }
    with pytest.raises(UnknownMigration) as caught:
        calls[verb]()
    assert caught.value.message == (f"--to 0002_team: no such migration in {project / 'migrations'}"
                                    " (did you mean '0002_teams'?)")
