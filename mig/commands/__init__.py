"""The public verbs. The CLI, the pytest plugin and users' own code all call these.

Each verb takes resolved :class:`~mig.config.Settings` and returns a result object (see
:mod:`mig.reports`); progress lines go to the optional ``report`` callable. Errors are
:class:`~mig.errors.MigError` subclasses. The verbs live in one module per area; this package
re-exports every one of them, so ``from mig import commands; commands.apply(...)`` is the way to
call them. A verb's module is imported on first use, which keeps ``mig apply`` from importing
what ``mig diff`` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .adopt import baseline, foreign_histories, init
    from .check import hash_history, lint
    from .db import (
        check_template,
        create_database,
        database_url,
        describe,
        embedded_state,
        prune_servers,
        remove_embedded,
        reset_embedded,
        start_embedded,
        stop_embedded,
        target,
    )
    from .deploy import require_head, wait
    from .drift import diff
    from .events import history
    from .imports import import_history
    from .migrate import apply, new, redo, repair, rollback
    from .schema import schema_diagram, schema_snapshot, schema_sql, update_diagram
    from .seeding import seed
    from .state import current, migration_ids, status
    from .verification import verify

# Which module of this package holds which verb.
_WHERE = {
    "apply": "migrate",
    "rollback": "migrate",
    "status": "state",
    "current": "state",
    "migration_ids": "state",
    "history": "events",
    "new": "migrate",
    "redo": "migrate",
    "repair": "migrate",
    "wait": "deploy",
    "require_head": "deploy",
    "seed": "seeding",
    "database_url": "db",
    "create_database": "db",
    "check_template": "db",
    "stop_embedded": "db",
    "start_embedded": "db",
    "embedded_state": "db",
    "reset_embedded": "db",
    "prune_servers": "db",
    "remove_embedded": "db",
    "target": "db",
    "describe": "db",
    "verify": "verification",
    "schema_snapshot": "schema",
    "schema_diagram": "schema",
    "schema_sql": "schema",
    "update_diagram": "schema",
    "lint": "check",
    "hash_history": "check",
    "diff": "drift",
    "init": "adopt",
    "baseline": "adopt",
    "foreign_histories": "adopt",
    "import_history": "imports",
}

__all__ = [
    "check_template",
    "create_database",
    "baseline",
    "foreign_histories",
    "init",
    "apply",
    "current",
    "database_url",
    "describe",
    "diff",
    "hash_history",
    "history",
    "import_history",
    "lint",
    "migration_ids",
    "new",
    "redo",
    "repair",
    "require_head",
    "rollback",
    "schema_diagram",
    "schema_snapshot",
    "schema_sql",
    "seed",
    "status",
    "stop_embedded",
    "start_embedded",
    "embedded_state",
    "reset_embedded",
    "prune_servers",
    "remove_embedded",
    "target",
    "update_diagram",
    "verify",
    "wait",
]


def __getattr__(name: str) -> object:  # names not imported above: an error for mypy
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
