"""The public surface: every name in mig.__all__ resolves, and the README-style use works."""

from __future__ import annotations

import subprocess
import sys

import mig
from tests.helpers import tables, write_project


def test_every_public_name_resolves():
    for name in mig.__all__:
        assert getattr(mig, name) is not None, name
    assert sorted(dir(mig)) == sorted(mig.__all__)


def test_importing_mig_stays_cheap():
    code = ("import sys, mig; "
            "print(sorted(m for m in ('yoyo', 'yaml', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_module_docstring_example(tmp_path, db_url):
    write_project(tmp_path, {"0001_a.sql": "CREATE TABLE a (id int);\n"})
    settings = mig.resolve(database=db_url, project_dir=tmp_path, env={})
    mig.apply(settings)
    assert mig.status(settings).to_json()["current"] is True
    assert "a" in tables(db_url)
