"""The public surface: every name in mig.__all__ resolves, and the README-style use works."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mig
from tests.support import REPO, tables, write_project

ROOT = REPO


def test_every_public_name_resolves():
    for name in mig.__all__:
        assert getattr(mig, name) is not None, name
    assert sorted(dir(mig)) == sorted(mig.__all__)


def test_importing_mig_stays_cheap():
    code = ("import sys, mig; "
            "print(sorted(m for m in ('yoyo', 'yaml', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_verbs_that_only_read_records_leave_yoyo_unimported():
    """yoyo (its backends, its SQL parser) is imported by the verbs that run migrations, not by
    those that read the records (status, require_head, wait) nor by the engine's records."""
    code = ("import sys, mig.commands.state, mig.commands.deploy, mig.commands.migrate, "
            "mig.engine.tracking, mig.engine.lock; print('yoyo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_docstring_example(tmp_path, db_url):
    write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    settings = mig.resolve(database=db_url, project_dir=tmp_path, env={})
    mig.apply(settings)
    assert mig.status(settings).to_json()["current"] is True
    assert "a" in tables(db_url)


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_api_page_example_runs(tmp_path, db_url, monkeypatch):
    """docs/api.md's example, run as written on a copy of the product's project."""
    for name in ("migrations", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "yoyo.ini", tmp_path / "yoyo.ini")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("MIG_", "PG"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", db_url)
    (example,) = _python_blocks(ROOT / "docs" / "api.md")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "docs/api.md", "exec"), {})
    assert "6 irreversible data migration 20260209_090000_lowercase_emails" in printed.getvalue()


def test_the_api_page_lists_every_public_name():
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [n for n in mig.__all__ if f"`{n}" not in text]
    assert missing == []


def test_the_api_page_lists_every_verb_of_mig_commands():
    from mig import commands

    text = (ROOT / "docs" / "api.md").read_text()
    missing = [n for n in commands.__all__
               if f"`{n}(" not in text and f"`commands.{n}(" not in text]
    assert missing == []
    assert all(callable(getattr(commands, n)) and getattr(commands, n).__doc__
               for n in commands.__all__)


def _type_checking_imports(path: Path) -> dict[str, str]:
    """The names a package's ``if TYPE_CHECKING:`` block imports, each with the module it
    names relative to the package (``.migrate`` -> ``migrate``)."""
    import ast

    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for inner in node.body:
                assert isinstance(inner, ast.ImportFrom) and inner.level == 1, ast.dump(inner)
                for alias in inner.names:
                    found[alias.asname or alias.name] = inner.module or ""
    return found


def test_the_type_checking_imports_agree_with_the_verb_table():
    """One table (``_WHERE``) says where each lazy name lives; ``__all__`` is derived from it,
    and the imports type checkers read must name the same names from the same modules."""
    import mig.commands
    import mig.testing

    for package in (mig, mig.commands, mig.testing):
        where = package._WHERE  # noqa: SLF001  (the table under test)
        imported = _type_checking_imports(Path(package.__file__))
        assert imported == where, package.__name__
        assert set(where) <= set(package.__all__), package.__name__
        assert sorted(dir(package)) == sorted(package.__all__), package.__name__
        for name in where:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"


def test_a_type_checking_import_missing_from_the_table_is_found(tmp_path):
    """The comparison fails on a package whose imports name a verb its table lacks."""
    (tmp_path / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from .migrate import apply, rollback\n"
        "_WHERE = {'apply': 'migrate'}\n")
    assert _type_checking_imports(tmp_path / "__init__.py") != {"apply": "migrate"}
