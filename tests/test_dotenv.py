"""The project's .env: mig's variables read from it, below the real environment, named as the
source of the database, its passwords never shown; an application's own keys ignored."""

from __future__ import annotations

import json

import pytest

from mig.config import DOTENV, resolve
from tests.support import PASSWORD, PASSWORD_ROLE, TWO_MIGRATIONS, run_mig, tables, write_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path / "project", TWO_MIGRATIONS)


def _password_url(pg_server, db_url: str) -> str:
    dbname = db_url.rsplit("/", 1)[1]
    return f"postgresql://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:{pg_server.port}/{dbname}"


def test_the_database_of_dotenv_is_used_and_named_as_the_source(project, db_url, pg_server):
    url = _password_url(pg_server, db_url)
    (project / ".env").write_text(f"# the application's too\nSECRET_KEY=abc\n"
                                  f"MIG_DATABASE_URL='{url}'\nMIG_LOCK_WAIT=5\n")
    result = run_mig(["apply"], cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"database: postgresql://{PASSWORD_ROLE}:***@127.0.0.1:{pg_server.port}/"
        f"{db_url.rsplit('/', 1)[1]} (from .env)")
    assert {"a", "b"} <= tables(db_url)
    assert PASSWORD not in result.stdout + result.stderr
    status = run_mig(["status"], cwd=project)
    assert status.stdout.splitlines()[0].endswith(" (from .env)"), status.stderr
    assert PASSWORD not in status.stdout + status.stderr

    result = run_mig(["config"], cwd=project)
    assert result.returncode == 0, result.stderr
    shown = dict((line.split(None, 1) + [""])[:2] for line in result.stdout.splitlines())
    assert shown["database_source"] == ".env"
    assert shown["dotenv_file"] == str(project / ".env")
    assert shown["lock_wait"] == "5.0"
    assert PASSWORD not in result.stdout + result.stderr
    # an application's own key is none of mig's business: no warning about it
    assert "SECRET_KEY" not in result.stderr


def test_the_real_environment_wins_over_dotenv(project, db_url, pg_server):
    (project / ".env").write_text("MIG_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none\n"
                                  "MIG_LOCK_WAIT=5\n")
    result = run_mig(["apply"], cwd=project,
                     env={"MIG_DATABASE_URL": db_url, "MIG_LOCK_WAIT": "7"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].endswith("(from MIG_DATABASE_URL)")
    data = json.loads(run_mig(["config", "--json"], cwd=project,
                              env={"MIG_DATABASE_URL": db_url, "MIG_LOCK_WAIT": "7"}).stdout)
    assert data["database_source"] == "MIG_DATABASE_URL" and data["lock_wait"] == 7.0
    # --database wins over both
    result = run_mig(["current", "-d", db_url], cwd=project)
    assert result.returncode == 0 and result.stdout == "0002_b\n"


def test_dotenv_is_found_beside_yoyo_ini_and_warns_of_unknown_mig_variables(project, db_url):
    (project / ".env").write_text(f"DATABASE_URL={db_url}\nMIG_LOCK_WIAT=5\n")
    sub = project / "migrations"  # run from below the project folder
    result = run_mig(["config", "--json"], cwd=sub)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["database_source"] == DOTENV
    assert "unknown environment variable MIG_LOCK_WIAT (did you mean 'MIG_LOCK_WAIT'?)" \
        in result.stderr


def test_an_explicit_environment_reads_no_dotenv(project, monkeypatch):
    (project / ".env").write_text("MIG_DATABASE_URL=postgresql://u@h/db\n")
    assert resolve(project_dir=project, env={}).database is None
    monkeypatch.delenv("MIG_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = resolve(project_dir=project)
    assert settings.database_source == DOTENV and settings.dotenv_file == project / ".env"
