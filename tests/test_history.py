"""The history lock file (migrations/mig.sum): written by mig new and mig hash, checked by
mig lint; migrations added on parallel branches conflict in git and are reported out of order."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mig import commands
from mig.config import resolve
from mig.disk import scripts as scripts_mod
from mig.disk import sumfile as history
from mig.errors import MigError
from mig.lint import lint
from tests.support import run_mig, write_project

MIGRATIONS = {
    "0001_a.sql": "CREATE TABLE a (id bigint);\n",
    "0001_a.rollback.sql": "DROP TABLE a;\n",
    "0003_c.sql": "-- depends: 0001_a\nCREATE TABLE c (id bigint);\n",
    "0003_c.rollback.sql": "DROP TABLE c;\n",
}


def _settings(root, database=None):
    return resolve(project_dir=root, database=database, env={})


def _hash(root, *, force=False):
    settings = _settings(root)
    scripts, hooks = scripts_mod.load(settings.sources)
    return history.write(settings.sources, scripts + hooks, force=force)


def _problems(root, database=None):
    report = lint(_settings(root, database), database=None if database is None
                  else _settings(root, database).database)
    return [(f.path.name, f.line, f.rule, f.message) for f in report.findings]


def _new(root, name, table):
    """The workflow: mig new, write the migration, mig hash."""
    apply, rollback = commands.new(_settings(root), name)
    apply.write_text(apply.read_text() + f"CREATE TABLE {table} (id bigint);\n")
    rollback.write_text(f"DROP TABLE {table};\n")
    _hash(root)
    return apply


@pytest.fixture
def project(tmp_path):
    write_project(tmp_path, MIGRATIONS)
    _hash(tmp_path)
    return tmp_path


def test_the_lock_file_lists_ids_and_checksums_under_a_sum_line(project):
    lines = [line for line in (project / "migrations/mig.sum").read_text().splitlines()
             if not line.startswith("#")]
    scripts, _ = scripts_mod.load((project / "migrations",))
    assert lines[0].startswith("sum ") and len(lines[0]) == 4 + 64
    assert lines[1:] == [f"{s.id} {s.checksum}" for s in scripts]
    assert _problems(project) == []
    # mig only counts names starting with a digit; yoyo only .py and .sql files
    assert not scripts_mod.is_migration_name(project / "migrations/mig.sum")


def test_an_edit_a_deletion_an_addition_and_a_hand_edit_are_errors_naming_the_file(project):
    folder = project / "migrations"
    with open(folder / "0001_a.rollback.sql", "a") as fh:
        fh.write("-- edited\n")
    assert _problems(project) == [
        ("0001_a.sql", 1, "history-edited", f"0001_a changed since it was listed in mig.sum "
         f"(listed {history.read(folder / 'mig.sum').entries[0].checksum[:12]}, now "
         f"{scripts_mod.load((folder,))[0][0].checksum[:12]})")]
    # line endings do not count
    text = (folder / "0003_c.sql").read_text()
    (folder / "0003_c.sql").write_bytes(text.replace("\n", "\r\n").encode())
    assert [p[2] for p in _problems(project)] == ["history-edited"]

    (folder / "0003_c.sql").unlink()
    (folder / "0003_c.rollback.sql").unlink()
    (folder / "0004_d.sql").write_text("CREATE TABLE d (id bigint);\n")
    (folder / "0004_d.rollback.sql").write_text("DROP TABLE d;\n")
    assert [p[:3] for p in _problems(project)] == [
        ("0001_a.sql", 1, "history-edited"),
        ("0004_d.sql", 1, "history-unlisted"),
        ("mig.sum", 5, "history-stale"),
    ]
    _hash(project)
    assert _problems(project) == []

    sums = folder / "mig.sum"
    sums.write_text(sums.read_text().replace("0004_d", "0004_e"))
    assert {p[:3] for p in _problems(project)} == {
        ("mig.sum", 3, "history-sum"), ("mig.sum", 5, "history-stale"),
        ("0004_d.sql", 1, "history-unlisted")}
    sums.unlink()
    assert [p[:3] for p in _problems(project)] == [("mig.sum", 1, "history-sum")]


def test_a_migration_ordered_before_a_listed_one_is_out_of_order(project):
    folder = project / "migrations"
    (folder / "0002_b.sql").write_text("-- depends: 0001_a\nCREATE TABLE b (id bigint);\n")
    (folder / "0002_b.rollback.sql").write_text("DROP TABLE b;\n")
    assert _problems(project) == [(
        "0002_b.sql", 1, "out-of-order",
        "0002_b is new, but ordered before 0003_c, which is already in mig.sum (added on a "
        "parallel branch?): databases that have it would apply this one after it, fresh ones "
        "before it")]
    # mig hash does not hide it by listing it; --force does
    with pytest.raises(MigError, match="0002_b is new, but ordered before 0003_c"):
        _hash(project)
    result = run_mig(["hash"], cwd=project)
    assert result.returncode == 1 and "--force lists it where it is" in result.stderr
    _hash(project, force=True)
    assert _problems(project) == []


def test_out_of_order_against_a_database(project, db_url):
    folder = project / "migrations"
    commands.apply(_settings(project, db_url))
    (folder / "0002_b.sql").write_text("-- depends: 0001_a\nCREATE TABLE b (id bigint);\n")
    (folder / "0002_b.rollback.sql").write_text("DROP TABLE b;\n")
    _hash(project, force=True)  # listed: only the database shows it is out of order
    problems = _problems(project, db_url)
    assert [p[:3] for p in problems] == [("0002_b.sql", 1, "out-of-order")]
    assert "which is already applied in postgresql://" in problems[0][3]
    result = run_mig(["lint", "-d", db_url], cwd=project)
    assert result.returncode == 1 and "0002_b.sql:1: out-of-order" in result.stdout
    assert run_mig(["lint"], cwd=project, env={"DATABASE_URL": db_url}).returncode == 0


def test_mig_new_appends_and_keeps_earlier_entries(project):
    settings = _settings(project)
    with open(project / "migrations/0001_a.sql", "a") as fh:
        fh.write("-- edited\n")
    paths = commands.new(settings, "add widgets")
    new_id = paths[0].stem
    entries = history.read(project / "migrations/mig.sum").entries
    assert [e.id for e in entries] == ["0001_a", "0003_c", new_id]
    # the edit to 0001_a is still caught; the new migration is listed as created (and, still
    # empty, warned about: it needs no rollback until it does something)
    assert [p[:3] for p in _problems(project)] == [
        ("0001_a.sql", 1, "history-edited"), (f"{new_id}.sql", 1, "empty-migration")]


def test_without_a_lock_file_mig_new_writes_one(tmp_path):
    write_project(tmp_path, MIGRATIONS)
    result = run_mig(["new", "widgets"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(history.read(tmp_path / "migrations/mig.sum").entries) == 3


def _git(root):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                               *args], cwd=root, capture_output=True, text=True)
    return git


@pytest.fixture
def conflicted(project):
    """A project where main and a feature branch each added a migration, mid-merge: the
    feature branch's migration sorts before main's, and mig.sum holds conflict markers."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    git = _git(project)
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "feature")
    _new(project, "feature table", "f")
    git("add", ".")
    git("commit", "-qm", "feature")
    git("checkout", "-q", "main")
    _new(project, "main table", "m")
    git("add", ".")
    git("commit", "-qm", "main")
    merge = git("merge", "feature")
    assert merge.returncode != 0
    assert "CONFLICT (content): Merge conflict in migrations/mig.sum" in merge.stdout
    return project


def test_migrations_added_on_two_branches_conflict_in_git(conflicted):
    project, git = conflicted, _git(conflicted)
    sums = project / "migrations/mig.sum"
    problems = _problems(project)
    assert ("mig.sum", 3, "history-sum") in [p[:3] for p in problems]
    assert "unresolved merge conflict" in problems[-1][3]
    # the other side's sum line is not read as a migration named "sum"
    assert not [p for p in problems if p[2] == "history-stale"]

    # the documented resolution: keep main's lock file, move the branch's migration after
    # main's newest one, list it
    sums.write_text(git("show", "main:migrations/mig.sum").stdout)
    feature = next((project / "migrations").glob("*_feature_table.sql"))
    newest = next((project / "migrations").glob("*_main_table.sql")).stem
    assert [p[:3] for p in _problems(project)] == [(feature.name, 1, "out-of-order")]
    renamed = feature.with_name("29991231_000000_feature_table.sql")
    renamed.write_text(f"-- depends: {newest}\nCREATE TABLE f (id bigint);\n")
    renamed.with_name(renamed.stem + ".rollback.sql").write_text("DROP TABLE f;\n")
    feature.unlink()
    feature.with_name(feature.stem + ".rollback.sql").unlink()
    _hash(project)
    assert _problems(project) == []


@pytest.mark.parametrize("args", [["hash"], ["hash", "--force"], ["new", "more"]])
def test_a_lock_file_with_conflict_markers_is_never_rewritten(conflicted, args):
    sums = conflicted / "migrations/mig.sum"
    before = sums.read_bytes()
    result = run_mig(args, cwd=conflicted)
    assert result.returncode == 1, result.stdout
    assert "mig.sum has an unresolved merge conflict (line 3)" in result.stderr
    assert "docs/lint.md" in result.stderr
    assert sums.read_bytes() == before
    problems = _problems(conflicted)
    assert ("mig.sum", 3, "history-sum") in [p[:3] for p in problems]
    assert any("unresolved merge conflict" in p[3] for p in problems)


def test_a_lock_file_with_unreadable_lines_is_rewritten_only_with_force(project):
    sums = project / "migrations/mig.sum"
    lines = sums.read_text().splitlines(keepends=True)
    sums.write_text("".join(lines[:3] + ["sum " + "0" * 64 + "\n", "not an entry\n"]
                            + lines[3:]))
    before = sums.read_bytes()
    assert {p[:3] for p in _problems(project)} == {("mig.sum", 4, "history-sum"),
                                                  ("mig.sum", 5, "history-sum")}
    for args in (["hash"], ["new", "more"]):
        result = run_mig(args, cwd=project)
        assert result.returncode == 1, result.stdout
        assert "mig.sum has lines that cannot be read (lines 4, 5)" in result.stderr
        assert sums.read_bytes() == before
    with pytest.raises(MigError, match="cannot be read"):
        history.append((project / "migrations",), [], [])
    # mig new refused before creating any file
    assert not list((project / "migrations").glob("*_more.*"))
    assert run_mig(["hash", "--force"], cwd=project).returncode == 0
    assert _problems(project) == []


def test_a_conflict_resolved_by_keeping_both_sides_is_not_blessed_by_mig_hash(conflicted):
    """Deleting the markers and keeping both sides' entries leaves a sum line that matches
    neither: 'mig hash' refuses it (it would hide that the feature's migration is out of
    order) until the documented resolution, or --force."""
    sums = conflicted / "migrations/mig.sum"
    kept = [line for line in sums.read_text().splitlines(keepends=True)
            if not line.startswith(("<<<<<<<", "=======", ">>>>>>>"))]
    head = [line for line in kept if line.startswith(("#", "sum "))][:3]
    entries = sorted({line for line in kept if line not in head and not line.startswith("sum ")})
    sums.write_text("".join(head + entries))  # one sum line, both sides' entries, in order
    before = sums.read_bytes()
    assert "history-sum" in [p[2] for p in _problems(conflicted)]
    for args in (["hash"], ["new", "more"]):
        result = run_mig(args, cwd=conflicted)
        assert result.returncode == 1, result.stdout
        assert "the sum line of mig.sum does not match its entries" in result.stderr
        assert sums.read_bytes() == before
    assert not list((conflicted / "migrations").glob("*_more.*"))
    assert run_mig(["hash", "--force"], cwd=conflicted).returncode == 0
    assert _problems(conflicted) == []
