"""``mig new`` with the project's own templates (``templates`` in ``[mig]``)."""

from __future__ import annotations

from mig.errors import EXIT_FAILURE
from tests.support import run_mig, write_project

INI = ("[DEFAULT]\nsources = %(here)s/migrations\nmigration_table = _yoyo_migration\n"
       "[mig]\ntemplates = templates\n")
SQL = """{{ depends }}
-- {{ name }} ({{id}})
CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
"""


def _project(tmp_path):
    project = write_project(tmp_path / "p", {}, ini=INI)
    (project / "templates").mkdir()
    (project / "templates" / "migration.sql").write_text(SQL)
    (project / "templates" / "migration.rollback.sql").write_text("-- undo {{ id }}\n")
    return project


def test_new_fills_the_projects_templates(tmp_path, db_url):
    project = _project(tmp_path)
    first = run_mig(["new", "add widgets"], cwd=project)
    assert first.returncode == 0, first.stderr
    (sql,) = (project / "migrations").glob("*_add_widgets.sql")
    mid = sql.name.removesuffix(".sql")
    assert sql.read_text() == (f"\n-- add widgets ({mid})\n"
                               "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n")
    assert (project / "migrations" / f"{mid}.rollback.sql").read_text() == f"-- undo {mid}\n"
    # the next one follows it; a kind without a template (--py) keeps mig's own
    (project / "templates" / "migration.sql").write_text("-- {{ name }}\nSELECT 1;\n")
    assert run_mig(["new", "second"], cwd=project).returncode == 0
    (second,) = (project / "migrations").glob("*_second.sql")
    assert second.read_text() == f"-- depends: {mid}\n-- second\nSELECT 1;\n"
    assert run_mig(["new", "--py", "third"], cwd=project).returncode == 0
    (py,) = (project / "migrations").glob("*_third.py")
    assert "steps = [" in py.read_text() and "data_step" in py.read_text()
    # what the templates wrote applies
    (project / "migrations" / py.name).unlink()
    assert run_mig(["hash"], cwd=project).returncode == 0
    applied = run_mig(["apply", "-d", db_url], cwd=project)
    assert applied.returncode == 0, applied.stderr


def test_a_bad_template_creates_nothing(tmp_path):
    project = _project(tmp_path)
    (project / "templates" / "migration.sql").write_text("-- {{ name }}\n-- {{ author }}\n")
    failed = run_mig(["new", "x"], cwd=project)
    assert failed.returncode == EXIT_FAILURE
    assert "migration.sql:2: unknown placeholder {{ author }}" in failed.stderr
    assert list((project / "migrations").iterdir()) == []
    (project / "yoyo.ini").write_text(INI.replace("templates = templates", "templates = nope"))
    missing = run_mig(["new", "x"], cwd=project)
    assert missing.returncode == EXIT_FAILURE and "nope does not exist" in missing.stderr
    assert list((project / "migrations").iterdir()) == []
