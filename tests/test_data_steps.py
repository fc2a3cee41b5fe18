"""Data steps on small tables: both transaction modes, keys, the batch contract, rollback,
dry-run counts and progress output, against a real server."""

from __future__ import annotations

import fcntl
import io
import os
import struct
import subprocess
import sys
import termios

import pytest

from mig import commands
from mig.config import resolve
from mig.data.progress import Progress
from mig.errors import BadMigrationFile, DataMigrationError, Refused
from tests.support import query, run_mig, write_project

TABLE = {
    "0001_items.sql": """
        CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, slug text,
                            n int NOT NULL DEFAULT 0);
        INSERT INTO items (id, name) SELECT g, 'Item ' || g FROM generate_series(1, 5000) g;
    """,
}


def _migration(body: str, *, transactional: bool = True, extra: str = "") -> str:
    return f"""
        from yoyo import step
        from mig.data import data_step
        __depends__ = {{"0001_items"}}
        __transactional__ = {transactional}

        def slugify(batch):
            batch.execute("UPDATE items SET slug = lower(replace(name, ' ', '-')), n = n + 1"
                          " WHERE {{range}} AND {{where}}")

        def unslug(batch):
            batch.execute("UPDATE items SET slug = NULL WHERE {{range}} AND {{where}}")
        {extra}
        steps = [{body}]
    """


def _project(tmp_path, body: str, **kwargs):
    write_project(tmp_path, {**TABLE, "0002_slugs.py": _migration(body, **kwargs)})
    return resolve(database=_url(tmp_path), project_dir=tmp_path, env={})


def _url(tmp_path) -> str:
    return (tmp_path / "url").read_text()


@pytest.fixture
def project(tmp_path, db_url):
    (tmp_path / "url").write_text(db_url)
    return tmp_path


def _checkpoints(url: str) -> list[tuple]:
    if query(url, "SELECT to_regclass('_mig_data_checkpoints')") == [(None,)]:
        return []
    return query(url, "SELECT step, direction, rows_done, rows_changed, batches,"
                      " finished_at IS NOT NULL FROM _mig_data_checkpoints ORDER BY 1, 2")


FORWARD = ('data_step(slugify, unslug, table="items", where="slug IS NULL",'
           ' backward_where="slug IS NOT NULL", batch_size=700)')


@pytest.mark.parametrize("transactional", [True, False])
def test_every_row_is_changed_once_in_either_mode(project, transactional):
    settings = _project(project, FORWARD, transactional=transactional)
    lines: list[str] = []
    commands.apply(settings, report=lines.append)
    url = _url(project)
    assert query(url, "SELECT count(*), min(n), max(n) FROM items WHERE slug = 'item-' || id") \
        == [(5000, 1, 1)]
    # 5000 rows in batches of 700: 8 batches, every row walked and changed
    assert _checkpoints(url) == [("slugify", "forward", 5000, 5000, 8, True)]
    mode = "in the migration's transaction" if transactional else "a commit per batch"
    assert any(mode in line for line in lines), lines
    assert any("slugify: done, 5,000 rows walked" in line and "5,000 rows changed" in line
               for line in lines), lines


def test_a_transactional_step_is_undone_with_its_migration(project):
    body = FORWARD + ', step("SELECT 1/0")'
    settings = _project(project, body)
    with pytest.raises(Exception, match="division by zero"):
        commands.apply(settings, to="0002_slugs")
    url = _url(project)
    assert query(url, "SELECT count(*) FROM items WHERE slug IS NOT NULL") == [(0,)]
    assert _checkpoints(url) == []


def test_a_failing_batch_names_itself_and_earlier_batches_stay(project):
    """Non-transactional: batches before the failing one are committed; a re-run resumes."""
    extra = """
        def strict(batch):
            batch.execute("UPDATE items SET n = n + 1, slug = CASE WHEN id = 2500"
                          " AND current_setting('test.fail', true) = 'on'"
                          " THEN (1 / (id - 2500))::text"
                          " ELSE 's' || id END WHERE {range}")
    """
    settings = _project(project, 'data_step(strict, table="items", batch_size=1000)',
                        transactional=False, extra=extra)
    url = _url(project)
    query(url, "ALTER DATABASE " + url.rsplit("/", 1)[1] + " SET test.fail = 'on'")
    with pytest.raises(DataMigrationError) as info:
        commands.apply(settings)
    err = info.value
    assert "0002_slugs: data step strict: batch 3 of items (keys after 2000) failed" in str(err)
    assert "division by zero" in str(err)
    assert (err.migration_id, err.step, err.last_key) == ("0002_slugs", "strict", ["2000"])
    assert query(url, "SELECT count(*) FROM items WHERE n = 1") == [(2000,)]
    query(url, "ALTER DATABASE " + url.rsplit("/", 1)[1] + " RESET test.fail")
    commands.apply(settings)
    assert query(url, "SELECT min(n), max(n), count(slug) FROM items") == [(1, 1, 5000)]
    assert _checkpoints(url) == [("strict", "forward", 5000, 5000, 5, True)]


def test_composite_and_text_keys_with_percent_signs(project):
    files = {
        "0001_pairs.sql": """
            CREATE TABLE pairs (org text NOT NULL, n int NOT NULL, v int, PRIMARY KEY (org, n));
            INSERT INTO pairs (org, n) SELECT o, g FROM unnest(ARRAY['a%b', 'a%s', 'b'])
                o, generate_series(1, 1000) g;
        """,
        "0002_fill.py": """
            from mig.data import data_step
            __depends__ = {"0001_pairs"}
            __transactional__ = False
            def fill(batch):
                batch.execute("UPDATE pairs SET v = n * %(k)s WHERE {range} AND {where}",
                              {"k": 2})
            steps = [data_step(fill, table="pairs", where="v IS NULL", batch_size=333)]
        """,
    }
    write_project(project, files)
    settings = resolve(database=_url(project), project_dir=project, env={})
    commands.apply(settings)
    assert query(_url(project), "SELECT count(*) FROM pairs WHERE v = n * 2") == [(3000,)]
    last = query(_url(project), "SELECT last_key FROM _mig_data_checkpoints")
    assert last == [(["b", "1000"],)]


def test_no_primary_key_is_refused_and_a_unique_not_null_key_is_accepted(project):
    files = {
        "0001_loose.sql": """
            CREATE TABLE loose (code text NOT NULL, alt text, v int);
            CREATE UNIQUE INDEX loose_code ON loose (code);
            CREATE UNIQUE INDEX loose_alt ON loose (alt);
            INSERT INTO loose (code, alt) SELECT 'c' || g, 'a' || g FROM generate_series(1, 50) g;
        """,
        "0002_fill.py": """
            import os
            from mig.data import data_step
            __depends__ = {"0001_loose"}
            def fill(batch):
                batch.execute("UPDATE loose SET v = 1 WHERE {range}")
            key = tuple(os.environ["TEST_KEY"].split(",")) if os.environ.get("TEST_KEY") else None
            steps = [data_step(fill, table="loose", key=key)]
        """,
    }
    write_project(project, files)
    url = _url(project)
    result = run_mig(["apply", "-d", url], cwd=project)
    assert result.returncode == 1
    assert "data step table loose has no primary key" in result.stderr
    assert "key=(...)" in result.stderr
    result = run_mig(["apply", "-d", url], cwd=project, env={"TEST_KEY": "alt"})
    assert "not the column list of a unique, non-partial index over NOT NULL" in result.stderr
    result = run_mig(["apply", "-d", url], cwd=project, env={"TEST_KEY": "code"})
    assert result.returncode == 0, result.stderr
    assert query(url, "SELECT count(*) FROM loose WHERE v = 1") == [(50,)]


def test_a_statement_outside_the_batch_range_is_refused(project):
    extra = """
        def everything(batch):
            batch.execute("UPDATE items SET n = n + 1")
    """
    settings = _project(project, 'data_step(everything, table="items")', extra=extra)
    with pytest.raises(DataMigrationError, match=r"does not mention \{range\}"):
        commands.apply(settings)
    assert query(_url(project), "SELECT max(n) FROM items") == [(0,)]


def test_a_statement_ignoring_the_step_condition_is_refused(project):
    extra = """
        def careless(batch):
            batch.execute("UPDATE items SET n = n + 1 WHERE {range}")
    """
    settings = _project(project, 'data_step(careless, table="items", where="slug IS NULL")',
                        extra=extra)
    with pytest.raises(DataMigrationError, match=r"\(slug IS NULL\) must limit .* \{where\}"):
        commands.apply(settings)
    assert query(_url(project), "SELECT max(n) FROM items") == [(0,)]


@pytest.mark.parametrize("body, message", [
    ('data_step(lambda: None, table="items", name="x")', "must take exactly one argument"),
    ('data_step(slugify, table="items"), data_step(slugify, table="items")',
     "two data steps of this migration are named 'slugify'"),
    ('data_step(slugify, table="items", batch_size=0)', "batch_size must be"),
    ('data_step(slugify, table="items", lock_timeout="soon")', "lock_timeout must be"),
])
def test_misuse_is_refused_when_the_file_is_read(project, body, message):
    settings = _project(project, body)
    with pytest.raises(BadMigrationFile, match=message) as info:
        commands.status(settings)
    assert "0002_slugs.py:" in str(info.value)  # the line in the migration file


@pytest.mark.parametrize("transactional", [True, False])
def test_backward_undoes_the_data_and_forgets_the_checkpoint(project, transactional):
    settings = _project(project, FORWARD, transactional=transactional)
    commands.apply(settings)
    commands.rollback(settings)
    url = _url(project)
    assert query(url, "SELECT count(slug) FROM items") == [(0,)]
    assert _checkpoints(url) == []
    commands.apply(settings)  # applies afresh
    assert query(url, "SELECT count(slug), max(n) FROM items") == [(5000, 2)]


@pytest.mark.parametrize("transactional", [True, False])
def test_a_failing_backward_batch_says_to_roll_back_again_and_resumes(project, transactional):
    extra = """
        def fill(batch):
            batch.execute("UPDATE items SET slug = 's' || id WHERE {range}")

        def strict_unfill(batch):
            batch.execute("UPDATE items SET n = n + 1, slug = CASE WHEN id = 2500"
                          " AND current_setting('test.fail', true) = 'on'"
                          " THEN (1 / (id - 2500))::text ELSE NULL END WHERE {range}")
    """
    step = 'data_step(fill, strict_unfill, table="items", batch_size=1000)'
    settings = _project(project, step, transactional=transactional, extra=extra)
    url = _url(project)
    commands.apply(settings)
    query(url, "ALTER DATABASE " + url.rsplit("/", 1)[1] + " SET test.fail = 'on'")
    with pytest.raises(DataMigrationError) as info:
        commands.rollback(settings)
    message = str(info.value)
    assert "data step fill (backward): batch 3 of items (keys after 2000) failed" in message
    assert "'mig apply'" not in message
    if transactional:
        assert "nothing of the migration was rolled back" in message
        assert "run 'mig rollback' again" in message
        assert query(url, "SELECT count(slug), max(n) FROM items") == [(5000, 0)]
    else:
        assert "run 'mig rollback' again: it resumes after key 2000" in message
        assert query(url, "SELECT count(slug), max(n) FROM items") == [(3000, 1)]
    assert commands.status(settings).pending == []
    query(url, "ALTER DATABASE " + url.rsplit("/", 1)[1] + " RESET test.fail")
    commands.rollback(settings)
    # each row undone exactly once, the interrupted run's batches not again
    assert query(url, "SELECT count(slug), min(n), max(n) FROM items") == [(0, 1, 1)]
    assert [p.id for p in commands.status(settings).pending] == ["0002_slugs"]
    assert _checkpoints(url) == []


def test_without_backward_rollback_is_refused_unless_forced(project):
    settings = _project(project, 'data_step(slugify, table="items", where="slug IS NULL")')
    commands.apply(settings)
    url = _url(project)
    with pytest.raises(Refused, match="irreversible data migration 0002_slugs") as info:
        commands.rollback(settings)
    assert "slugify" in str(info.value) and "--force" in info.value.hint
    result = run_mig(["rollback", "-d", url], cwd=project)
    assert result.returncode == 6  # refused: it cannot be undone (not a usage error)
    assert "irreversible data migration 0002_slugs" in result.stderr
    assert query(url, "SELECT count(*) FROM _yoyo_migration") == [(2,)]
    result = run_mig(["rollback", "-d", url, "--force"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "its data changes stay" in result.stderr
    # the data stays as the forward function left it; the checkpoint goes
    assert query(url, "SELECT count(slug) FROM items") == [(5000,)]
    assert _checkpoints(url) == []
    # applied again, the forward function finds nothing left to change (its where)
    commands.apply(settings)
    assert _checkpoints(url) == [("slugify", "forward", 5000, 0, 5, True)]
    commands.rollback(settings, force=True)


def test_dry_run_counts_the_rows_read_only(project):
    settings = _project(project, FORWARD)
    url = _url(project)
    # before 0001 is applied the table does not exist: nothing to count yet
    plan = commands.apply(settings, dry_run=True).migrations
    assert "items does not exist yet, rows not counted" in plan[1].sql
    commands.apply(settings, to="0001_items")
    query(url, "UPDATE items SET slug = 'x' WHERE id <= 1234")
    plan = commands.apply(settings, dry_run=True).migrations
    assert [p.id for p in plan] == ["0002_slugs"]
    assert "3,766 row(s) would be touched" in plan[0].sql
    result = run_mig(["apply", "-d", url, "--dry-run"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert "-- python: data step slugify on items" in result.stdout
    assert "batches of 700 rows of items where slug IS NULL: 3,766 row(s) would be touched" \
        in result.stdout
    assert query(url, "SELECT count(*) FROM items WHERE slug IS NULL") == [(3766,)]
    assert query(url, "SELECT to_regclass('_mig_data_checkpoints')") == [(None,)]


def test_dry_run_of_a_step_on_a_table_without_its_column_yet_says_so(project):
    files = {
        **TABLE,
        "0002_col.sql": "-- depends: 0001_items\nALTER TABLE items ADD COLUMN extra text;\n",
        "0003_fill.py": """
            from mig.data import data_step
            __depends__ = {"0002_col"}
            def fill(batch):
                batch.execute("UPDATE items SET extra = name WHERE {range} AND {where}")
            steps = [data_step(fill, table="items", where="extra IS NULL")]
        """,
    }
    write_project(project, files)
    settings = resolve(database=_url(project), project_dir=project, env={})
    commands.apply(settings, to="0001_items")
    text = commands.apply(settings, dry_run=True).migrations[1].sql
    assert "rows not counted" in text and 'column "extra" does not exist' in text


def test_progress_draws_a_bar_on_a_terminal_and_plain_lines_otherwise():
    now = [100.0]
    lines: list[str] = []
    plain = Progress("fill", total=10_000, report=lines.append, stream=io.StringIO(),
                     bar=False, every=5.0, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 1.0
        plain.advance(1000)
    assert lines == ["fill: 5,000/10,000 rows (50%), 1,000 rows/s, ETA 0:05",
                     "fill: 10,000/10,000 rows (100%), 1,000 rows/s, ETA 0:00"]
    # drawn on any stream when asked; resumed at 250 rows: the rate is this run's 250 rows
    # in 2 s, the time left the other 500 at that rate
    screen = io.StringIO()
    bar = Progress("fill", total=1000, done=250, report=lines.append, stream=screen, bar=True,
                   clock=lambda: now[0])
    now[0] += 2.0
    bar.advance(250)
    frame = "fill [############------------] 500/1,000 rows  125 rows/s  ETA 0:04"
    assert screen.getvalue() == "\r" + frame
    bar.note("fill: retrying")  # a line of its own where the bar was
    assert screen.getvalue() == "\r" + frame + "\r" + " " * len(frame) + "\r"
    now[0] += 2.0
    bar.advance(250)  # drawn again
    assert screen.getvalue().endswith("\rfill [##################------] 750/1,000 rows"
                                      "  125 rows/s  ETA 0:02")
    bar.finish("fill: done")
    assert screen.getvalue().endswith("\r" + " " * len(frame) + "\r")
    assert lines[-2:] == ["fill: retrying", "fill: done"]


def test_the_bar_is_cut_to_the_terminals_width():
    main, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    try:
        with os.fdopen(secondary, "w", closefd=False) as terminal:
            bar = Progress("fill", total=1000, report=[].append, stream=terminal)
            bar.advance(500)
            terminal.flush()
        drawn = os.read(main, 65536).decode()
    finally:
        os.close(secondary)
        os.close(main)
    assert drawn.startswith("\rfill [####") and len(drawn) == 1 + 40, drawn


def test_progress_lines_follow_the_run_report(project):
    """mig apply -q prints nothing of a data step; without it, the start and end lines."""
    settings = _project(project, FORWARD, transactional=False)
    url = _url(project)
    quiet = run_mig(["apply", "-d", url, "-q"], cwd=project)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    run_mig(["rollback", "-d", url], cwd=project)
    loud = run_mig(["apply", "-d", url], cwd=project)
    assert "0002_slugs slugify: starting; about 5,000 rows of items" in loud.stderr
    assert "slugify: done, 5,000 rows walked" in loud.stderr
    assert settings is not None


def _stderr_on_a_terminal(args: list[str], cwd) -> str:
    """What ``mig ARGS`` writes to stderr when stderr is a terminal (a pseudo-terminal)."""
    main, secondary = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIG_", "PG"))}
    try:
        proc = subprocess.run([sys.executable, "-m", "mig", *args], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=secondary, timeout=120)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(main)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks).decode()


def test_quiet_draws_no_bar_on_a_terminal(project):
    _project(project, FORWARD, transactional=False)
    url = _url(project)
    loud = _stderr_on_a_terminal(["apply", "-d", url], project)
    assert "\rslugify [" in loud and "rows/s" in loud  # the bar, drawn on the terminal
    run_mig(["rollback", "-d", url], cwd=project)
    assert _stderr_on_a_terminal(["apply", "-d", url, "-q"], project) == ""


def _slugify(batch):
    """Fills in the slugs."""


def test_a_data_step_is_a_frozen_record_checked_when_made():
    import dataclasses

    from mig.data import DataStep

    step = DataStep(forward=_slugify, migration_id="0002_slugs", table="items",
                    key=["id"], pause=1, lock_timeout="2s")
    assert (step.name, step.key, step.pause, step.batch_size, step.attempts) == (
        "_slugify", ("id",), 1.0, 1000, 5)
    assert step.__qualname__ == "data step _slugify on items"  # what a dry run names
    assert step.__doc__ == "Fills in the slugs."
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.batch_size = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        DataStep(_slugify, migration_id="0002_slugs", table="items")  # type: ignore[misc]
    assert dataclasses.replace(step, batch_size=10).batch_size == 10
    for bad, message in [({"batch_size": 0}, "batch_size must be"),
                         ({"attempts": 0}, "attempts must be"),
                         ({"lock_timeout": "soon"}, "lock_timeout must be"),
                         ({"progress_every": 0}, "progress_every > 0"),
                         ({"table": " "}, "needs table="),
                         ({"name": "no spaces"}, "is not usable"),
                         ({"forward": lambda: None}, "must take exactly one argument"),
                         ({"backward": "nope"}, "backward must be a function")]:
        with pytest.raises(TypeError, match=message):
            dataclasses.replace(step, **bad)
