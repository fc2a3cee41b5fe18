"""A pending migration ordered before an applied one is refused at apply unless allowed."""

from __future__ import annotations

import pytest

from mig import commands
from mig.config import resolve
from mig.errors import Refused
from tests.support import TWO_MIGRATIONS, run_mig, tables, write_project

# Added on a parallel branch: its name sorts before 0002_b, which this database already has.
PARALLEL = {"0001_c.sql": "CREATE TABLE c (id int);\n", "0001_c.rollback.sql": "DROP TABLE c;\n"}


@pytest.fixture
def applied_then_parallel(tmp_path, db_url):
    write_project(tmp_path, TWO_MIGRATIONS)
    commands.apply(resolve(database=db_url, project_dir=tmp_path, env={}))
    write_project(tmp_path, PARALLEL)
    return tmp_path


def test_out_of_order_is_refused_naming_both(applied_then_parallel, db_url):
    settings = resolve(database=db_url, project_dir=applied_then_parallel, env={})
    for dry_run in (True, False):
        with pytest.raises(Refused) as info:
            commands.apply(settings, dry_run=dry_run)
        assert "pending migration(s) 0001_c ordered before 0002_b, which is already applied" \
            in info.value.message
        assert "--allow-out-of-order" in info.value.hint
    assert "c" not in tables(db_url)
    result = run_mig(["apply", "-d", db_url], cwd=applied_then_parallel)
    assert result.returncode == 2 and "0001_c ordered before 0002_b" in result.stderr


@pytest.mark.parametrize("how", ["option", "environment", "ini"])
def test_out_of_order_is_applied_when_allowed(applied_then_parallel, db_url, how):
    args, env = ["apply", "-d", db_url], {}
    if how == "option":
        args.append("--allow-out-of-order")
    elif how == "environment":
        env["MIG_ALLOW_OUT_OF_ORDER"] = "1"
    else:
        ini = applied_then_parallel / "yoyo.ini"
        ini.write_text(ini.read_text() + "[mig]\nallow_out_of_order = true\n")
    result = run_mig(args, cwd=applied_then_parallel, env=env)
    assert result.returncode == 0, result.stderr
    assert "c" in tables(db_url)
