"""Secrets never appear in output: every command, every way of giving a password, success or not.

The commands are enumerated from ``mig.cli.cli``, so a new command is covered without touching
this file. Each one runs in-process through ``mig.cli.main`` (the real entry point, with its
error conversion) while everything written to file descriptors 1 and 2 and every log record at
DEBUG level is captured; then the known secrets are searched for, as given and URL-encoded.
Scenarios include mistakes: a URL given where click does not expect it (its usage errors quote
the words), passwords not percent-encoded, a ``%`` not doubled in yoyo.ini.
"""

from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import click
import pytest

from mig.cli import cli, main
from mig.dsn import Dsn, redact
from mig.server import LocalServer
from tests.support import (
    PASSWORD,
    PASSWORD_ROLE,
    copy_shipped_project,
    create_database,
    drop_database,
    query,
)

WRONG_PASSWORD = "Wr0ng-Pa55word?"
SSL_PASSWORD = "Key-Pa55phrase#"  # sslpassword: the client key's passphrase
SEED_SECRET = "seed-S3cret-Hash"  # a seed !secret (the dev operator's password hash)
# Written into URLs as they are, not percent-encoded (libpq would read them wrongly) ...
SLASH_PASSWORD = "Sl4shed/Unenc0ded"
AT_PASSWORD = "At5igned@Unenc0ded"
# ... and percent-encoded into yoyo.ini without doubling the '%' (yoyo's interpolation)
PERCENT_PASSWORD = "%Perc3nt-Pa55"
SECRETS = (PASSWORD, WRONG_PASSWORD, SSL_PASSWORD, SEED_SECRET, SLASH_PASSWORD, AT_PASSWORD,
           PERCENT_PASSWORD)

# Arguments a command needs to do its work here (anything else it requires gets a dummy value).
EXTRA = {"wait": ["--timeout", "0"], "seed": ["--env", "dev"]}
# They build scratch databases: their output modes run in the first scenario only, and they
# are left out of the scenarios that differ from the first only in where the password comes
# from (see Scenario.slow).
SLOW = {"verify", "diff"}
FIRST, LAST = ("apply",), ("new", "rollback")  # apply first; what changes the history last


def _commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple]:
    ctx = click.Context(group)
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        elif command is not None:
            found.append(((*prefix, name), command))
    rank = {name: i for i, name in enumerate(FIRST)}
    rank.update({name: 100 + i for i, name in enumerate(LAST)})
    return sorted(found, key=lambda item: rank.get(item[0][0], 50))


def _invocations(path: tuple[str, ...], command: click.Command, *,
                 modes: bool = True) -> list[list[str]]:
    """The command with what it requires, then once more for each output mode it has."""
    base = [*path, *EXTRA.get(path[0], [])]
    for param in command.params:
        if param.required and isinstance(param, click.Argument):
            base.append("x")
        elif param.required and isinstance(param, click.Option):
            base += [param.opts[0], "1" if param.type in (click.INT, click.FLOAT) else "x"]
    flags = {opt for param in command.params for opt in getattr(param, "opts", [])}
    runs = [base]
    if modes or path[0] not in SLOW:
        runs += [[*base, mode] for mode in ("--json", "--dry-run", "-v") if mode in flags]
    return runs


@dataclass
class Scenario:
    name: str
    database: str | None = None  # a URL or libpq string; None: the fresh database's own URL
    env: dict[str, str] = field(default_factory=dict)
    argv_database: bool = False  # give the database with -d (on the command line) rather than env
    ini_database: bool = False  # write the database into yoyo.ini rather than the environment
    words: tuple[str, ...] = ()  # more command-line words, at the end ("{db}": the database)
    broken_migration: bool = False
    fails: bool = False
    # run the SLOW commands too; False where the password reaches the resolved settings as in
    # the first scenario (the SLOW commands then connect as apply and status, which still run)
    slow: bool = True


def _scenarios(port: int, tmp: Path) -> list[Scenario]:
    host = f"127.0.0.1:{port}"
    password_file = tmp / "password"
    password_file.write_text(PASSWORD + "\n")
    wrong_file = tmp / "wrong-password"
    wrong_file.write_text(WRONG_PASSWORD + "\n")
    pgpass = tmp / "pgpass"
    pgpass.write_text(f"127.0.0.1:{port}:*:{PASSWORD_ROLE}:{PASSWORD}\n")
    pgpass.chmod(0o600)
    url = f"postgresql://{PASSWORD_ROLE}:{quote(PASSWORD, safe='')}@{host}/{{db}}"
    bare = f"postgresql://{PASSWORD_ROLE}@{host}/{{db}}"
    percent = f"postgresql://{PASSWORD_ROLE}:{quote(PERCENT_PASSWORD, safe='')}@{host}/{{db}}"
    return [
        Scenario("url on the command line", url + f"?sslpassword={quote(SSL_PASSWORD)}",
                 argv_database=True),
        Scenario("libpq string", f"host=127.0.0.1 port={port} user={PASSWORD_ROLE} "
                 f"password='{PASSWORD}' dbname={{db}}"),
        Scenario("PGPASSWORD", bare, env={"PGPASSWORD": PASSWORD}, slow=False),
        Scenario("password file", bare, env={"MIG_DATABASE_PASSWORD_FILE": str(password_file)},
                 slow=False),
        Scenario(".pgpass", bare, env={"PGPASSFILE": str(pgpass)}, slow=False),
        Scenario("wrong password in the url", url.replace(quote(PASSWORD, safe=""),
                                                          quote(WRONG_PASSWORD, safe="")),
                 argv_database=True, fails=True),
        Scenario("wrong PGPASSWORD", bare, env={"PGPASSWORD": WRONG_PASSWORD}, fails=True),
        Scenario("wrong password file", bare,
                 env={"MIG_DATABASE_PASSWORD_FILE": str(wrong_file)}, fails=True),
        Scenario("unreachable", f"postgresql://{PASSWORD_ROLE}:{PASSWORD}@127.0.0.1:1/x",
                 fails=True),
        Scenario("malformed url", url + "?bogus=1", argv_database=True, fails=True),
        Scenario("production profile without TLS", url,
                 env={"MIG_PROFILE": "production"}, fails=True),
        Scenario("a migration that fails", url, broken_migration=True, fails=True),
        # click's usage errors quote the words they cannot place
        Scenario("url as a positional argument", url, words=(url,), fails=True),
        Scenario("url as a bad option value", url, words=("--lock-wait", url), fails=True),
        Scenario("unencoded / in the password",
                 f"postgresql://{PASSWORD_ROLE}:{SLASH_PASSWORD}@{host}/{{db}}",
                 argv_database=True, fails=True),
        Scenario("unencoded @ in the password",
                 f"postgresql://{PASSWORD_ROLE}:{AT_PASSWORD}@{host}/{{db}}", fails=True),
        Scenario("password in yoyo.ini", url.replace("%", "%%"), ini_database=True, slow=False),
        Scenario("% not doubled in yoyo.ini", percent, ini_database=True, fails=True),
    ]


def _project(root: Path, *, broken: bool, database: str | None = None) -> Path:
    copy_shipped_project(root)
    if database is not None:  # the shipped yoyo.ini ends in [DEFAULT]
        with (root / "yoyo.ini").open("a") as ini:
            ini.write(f"database = {database}\n")
    if broken:
        (root / "migrations" / "29990101_000000_broken.sql").write_text(
            "CREATE TABLE broken (id int REFERENCES nowhere (id));\n")
    return root


def _run(argv: list[str], capfd) -> tuple[int, str]:
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("yoyo"), logging.getLogger("mig")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(handler)
            lg.setLevel(level)
    captured = capfd.readouterr()
    return code, captured.out + captured.err + log.getvalue()


def _leaks(text: str) -> list[str]:
    found = []
    for secret in SECRETS:
        # a password libpq misreads is split where it has '/' or '@': each part is a leak too
        parts = {part for part in re.split("[/@]", secret) if len(part) >= 5} - {secret}
        for form in {secret, quote(secret, safe=""), quote(secret), *parts}:
            if form in text:
                found.append(form)
    return found


def test_redact_masks_each_form_of_a_secret():
    text = f"a {PASSWORD} b {quote(PASSWORD, safe='')} c"
    assert _leaks(redact(text, PASSWORD)) == []
    dsn = Dsn.parse(f"postgresql://u:{quote(PASSWORD, safe='')}@h/db?sslpassword={SSL_PASSWORD}")
    assert _leaks(dsn.masked + repr(dsn) + str(dsn)) == []
    assert dsn.masked == "postgresql://u:***@h/db?sslpassword=***"


_URL = f"postgresql://mig:{quote(PASSWORD, safe='')}@127.0.0.1:1/db"


@pytest.mark.parametrize("argv,env", [
    (["apply", _URL], {}),
    (["apply", "--lock-wait", _URL], {}),
    (["apply", f"--lock-wait={_URL}"], {}),
    (["apply", "--lock-timeout", _URL], {}),  # the deprecated spelling
    (["status", f"host=h password='{PASSWORD} x' dbname=db"], {}),
    (["apply", f"postgresql://mig:{AT_PASSWORD}@h/db"], {}),
    (["apply", "--lock-wait", f"postgresql://mig:{SLASH_PASSWORD}@h/db"], {}),
    # mig apply --lock-wait $DATABASE_URL: the shell put the variable's value there
    (["apply", "--lock-wait", "{DATABASE_URL}"], {"DATABASE_URL": _URL}),
    (["apply", "--lock-wait", "{MIG_DATABASE_URL}"],
     {"MIG_DATABASE_URL": f"host=h password={WRONG_PASSWORD}"}),
])
def test_usage_errors_hide_passwords_in_the_words_they_quote(argv, env, monkeypatch, capfd):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    code, output = _run([word.format(**env) for word in argv], capfd)
    assert code == 2 and "Error: " in output and "***" in output, output
    assert _leaks(output) == [], output


@pytest.mark.long
def test_no_command_shows_a_password(pg_server, tmp_path, monkeypatch, capfd):
    commands = _commands()
    names = {" ".join(path) for path, _ in commands}
    assert {"apply", "rollback", "status", "wait", "config", "db url"} <= names
    for var in list(os.environ):
        if var.startswith(("MIG_", "PG")) or var == "DATABASE_URL":
            monkeypatch.delenv(var)
    monkeypatch.setenv("MIG_DEV_OPERATOR_PASSWORD_HASH", SEED_SECRET)

    leaks: list[tuple[str, str, str]] = []
    ran = failed = 0
    for index, scenario in enumerate(_scenarios(pg_server.port, tmp_path)):
        dbname = create_database(pg_server)
        database = scenario.database.replace("{db}", dbname)
        words = [word.replace("{db}", dbname) for word in scenario.words]
        project = tmp_path / f"p{index}"
        try:
            _project(project, broken=scenario.broken_migration,
                     database=database if scenario.ini_database else None)
            codes: dict[tuple[str, ...], int] = {}
            with monkeypatch.context() as m:
                m.chdir(project)
                for var, value in scenario.env.items():
                    m.setenv(var, value)
                if not (scenario.argv_database or scenario.ini_database):
                    m.setenv("MIG_DATABASE_URL", database)
                # verify and diff build scratch databases: on the same server, with the same
                # password, rather than on an embedded server of the project's
                m.setenv("MIG_SCRATCH_SERVER", database)
                for path, command in commands:
                    if path[0] in SLOW and not scenario.slow:
                        continue
                    for argv in _invocations(path, command, modes=index == 0):
                        if scenario.argv_database:
                            argv = [*argv, "--database", database]
                        argv = [*argv, *words]
                        for extra in ([], ["--traceback"]) if scenario.fails else ([],):
                            code, output = _run([*argv, *extra], capfd)
                            codes.setdefault(path, code)
                            ran += 1
                            failed += code != 0
                            if _leaks(output):
                                leaks.append((scenario.name, " ".join(argv + extra), output))
            if scenario.fails:
                assert codes[("apply",)] != 0, scenario.name
            else:
                assert codes[("apply",)] == 0 and codes[("status",)] == 0, (scenario.name, codes)
            records = query(pg_server.url(dbname),
                            "SELECT coalesce(string_agg(t::text, ' '), '') FROM _mig_log t"
                            " UNION ALL SELECT coalesce(string_agg(t::text, ' '), '')"
                            " FROM _yoyo_log t") if not scenario.fails else []
            assert not any(_leaks(text) for (text,) in records), scenario.name
        finally:
            drop_database(pg_server, dbname)
            # a command may use the project's embedded server (a scratch database, say)
            if (project / ".mig" / "pgdata").exists():
                LocalServer(project / ".mig" / "pgdata").destroy()
    first = {name: (command, output) for name, command, output in reversed(leaks)}
    assert [(name, command) for name, command, _ in leaks] == [], first  # one per scenario
    # the scenarios did what they are for: many commands ran, and the failing ones failed
    assert ran > 100 and failed > 50, (ran, failed)
