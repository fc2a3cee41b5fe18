"""The ``mig`` command line: a thin shell over :mod:`mig.commands`.

Commands parse options, resolve one :class:`~mig.config.Settings`, call one verb and print its
report. Errors are turned into a message and an exit code here, in :func:`main`, and nowhere
else; every message, click's usage errors included, is redacted on its way out.
"""

from __future__ import annotations

import io
import json
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
    "new": "authoring",
    "redo": "migrate",
    "repair": "migrate",
    "config": "migrate",
    "db": "db",
    "verify": "verification",
    "schema": "schema",
    "wait": "deploy",
    "seed": "seeding",
    "lint": "check",
    "hash": "check",
    "diff": "drift",
    "init": "adopt",
    "baseline": "adopt",
    "foreign": "adopt",
    "import": "imports",
    "squash": "squashing",
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


def _json_requested(words: list[str]) -> bool:
    """Whether the command line asks for ``--json`` (before a ``--``, which ends the options)."""
    return "--json" in (words[: words.index("--")] if "--" in words else words)


def _details(exc: BaseException) -> dict[str, object]:
    """The data an error carries besides its message and hint (which migration, file, line,
    which problems), for the JSON form of an error; a report it carries (``report``: what a
    failed ``mig verify`` did) is left to :func:`_error_json`."""
    return {name: value for name, value in vars(exc).items()
            if name not in ("message", "hint", "report") and not name.startswith("_")
            and value not in (None, [], {})}


def _jsonable(value: object) -> object:
    """What ``json`` cannot write itself: a record by its JSON form, anything else as text."""
    to_json = getattr(value, "to_json", None)
    return to_json() if callable(to_json) else str(value)


def _error_json(run: Run, exc: BaseException, message: str, hint: str | None,
                exit_code: int) -> None:
    """An error as one JSON object on stdout, for a ``--json`` caller that reads stdout only
    (the text goes to stderr as well): ``error`` (the text stderr shows), ``type``,
    ``message``, ``hint``, ``exit_code``, the data the error carries as ``details``, and the
    fields of a report it carries (a failed ``mig verify``'s); passwords masked."""
    report_json = getattr(getattr(exc, "report", None), "to_json", None)
    data: dict[str, object] = dict(report_json()) if callable(report_json) else {}
    data.update({"error": message + (f"\n  hint: {hint}" if hint else ""),
                 "type": type(exc).__name__, "message": message, "hint": hint,
                 "exit_code": exit_code})
    details = _details(exc) if isinstance(exc, MigError) else {}
    if details:
        data["details"] = details
    text = json.dumps(data, indent=2, default=_jsonable)
    click.echo(redact(text, *_secrets(run), *(json.dumps(s)[1:-1] for s in _secrets(run))))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mig`` console script."""
    # yoyo logs import failures with a traceback; mig reports them itself, briefly.
    logging.getLogger("yoyo").addHandler(logging.NullHandler())
    logging.getLogger("yoyo").propagate = False
    # one run's, even when called in-process
    words = sys.argv[1:] if argv is None else list(argv)
    run = Run(secrets=_guessed_secrets(words))
    as_json = _json_requested(words)
    if argv is None:
        _hide_passwords_from_the_process_list(sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="mig", standalone_mode=False, obj=run)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        if as_json:
            _error_json(run, click.exceptions.Abort(), "aborted", None, EXIT_FAILURE)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:  # a usage error quotes the words it cannot place
        shown = io.StringIO()
        exc.show(file=shown)
        click.echo(redact(shown.getvalue(), *_secrets(run)), err=True, nl=False)
        if as_json:
            _error_json(run, exc, exc.format_message(), None, exc.exit_code)
        sys.exit(exc.exit_code)
    except MigError as exc:
        click.echo(redact(f"error: {exc}", *_secrets(run)), err=True)
        if run.traceback:
            click.echo(redact(traceback.format_exc(), *_secrets(run)), err=True)
        if as_json:
            _error_json(run, exc, exc.message, exc.hint, exc.exit_code)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected library error: short unless asked
        text = redact(" ".join(str(exc).split()), *_secrets(run))
        if run.traceback:
            click.echo(redact(traceback.format_exc(), *_secrets(run)), err=True)
        else:
            click.echo(f"error: unexpected {type(exc).__name__}: {text}\n"
                       "  (run again with --traceback for details)", err=True)
        if as_json:
            _error_json(run, exc, f"unexpected {type(exc).__name__}: {text}",
                        "run again with --traceback for details", EXIT_FAILURE)
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["cli", "main"]
