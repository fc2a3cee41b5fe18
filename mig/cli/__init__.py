"""The ``mig`` command line: a thin shell over :mod:`mig.commands`.

Commands parse options, resolve one :class:`~mig.config.Settings`, call one verb and print its
report. Errors are turned into a message and an exit code here, in :func:`main`, and nowhere
else; every message, click's usage errors included, is redacted on its way out.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import traceback

import click

from ..dsn import guess_secrets, redact
from ..errors import EXIT_FAILURE, MigError
from ._common import LazyGroup, Run, cli

# Which module registers which command; a module is imported only when its command runs.
LazyGroup.modules = {
    "apply": "migrate",
    "rollback": "migrate",
    "status": "state",
    "current": "state",
    "history": "events",
    "new": "migrate",
    "redo": "migrate",
    "repair": "migrate",
    "config": "migrate",
    "db": "db",
    "verify": "schema",
    "schema": "schema",
    "wait": "deploy",
    "seed": "seeding",
    "lint": "check",
    "hash": "check",
    "diff": "drift",
    "init": "adopt",
    "baseline": "adopt",
    "foreign": "adopt",
}


def _secrets(run: Run) -> list[str]:
    found = {*run.secrets, os.environ.get("PGPASSWORD") or ""} - {""}
    return sorted(found, key=len, reverse=True)  # a password masked whole before a part of it


def _guessed_secrets(words: list[str]) -> list[str]:
    """Passwords in the command line and the database variables, guessed before anything is
    parsed: click's usage errors quote the words they cannot place, whatever they hold."""
    texts = [*words, *(word.partition("=")[2] for word in words if word.startswith("-"))]
    texts += [os.environ.get(var, "") for var in ("MIG_DATABASE_URL", "DATABASE_URL")]
    return [secret for text in texts if text for secret in guess_secrets(text)]


def _hide_passwords_from_the_process_list(words: list[str]) -> None:
    """Rewrite this process's title (``/proc/PID/cmdline``, what ``ps`` shows every local
    user) without the passwords of its command line, where the platform allows it. It is
    visible until then (the interpreter's start): the environment or a password file stays
    the way to pass one (docs/security.md)."""
    secrets = sorted({s for w in words for s in guess_secrets(w)}
                     | {s for w in words if w.startswith("-")
                        for s in guess_secrets(w.partition("=")[2])}, key=len, reverse=True)
    if not secrets:
        return
    try:
        import setproctitle
    except ImportError:  # an installation without it: nothing to hide with
        return
    setproctitle.setproctitle(" ".join(["mig", *(redact(w, *secrets) for w in words)]))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mig`` console script."""
    # yoyo logs import failures with a traceback; mig reports them itself, briefly.
    logging.getLogger("yoyo").addHandler(logging.NullHandler())
    logging.getLogger("yoyo").propagate = False
    # one run's, even when called in-process
    run = Run(secrets=_guessed_secrets(sys.argv[1:] if argv is None else list(argv)))
    if argv is None:
        _hide_passwords_from_the_process_list(sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="mig", standalone_mode=False, obj=run)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:  # a usage error quotes the words it cannot place
        shown = io.StringIO()
        exc.show(file=shown)
        click.echo(redact(shown.getvalue(), *_secrets(run)), err=True, nl=False)
        sys.exit(exc.exit_code)
    except MigError as exc:
        click.echo(redact(f"error: {exc}", *_secrets(run)), err=True)
        if run.traceback:
            click.echo(redact(traceback.format_exc(), *_secrets(run)), err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected library error: short unless asked
        if run.traceback:
            click.echo(redact(traceback.format_exc(), *_secrets(run)), err=True)
        else:
            text = redact(" ".join(str(exc).split()), *_secrets(run))
            click.echo(f"error: unexpected {type(exc).__name__}: {text}\n"
                       "  (run again with --traceback for details)", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["cli", "main"]
