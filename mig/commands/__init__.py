"""The public verbs. The CLI, the pytest plugin and users' own code all call these.

Each verb takes resolved :class:`~mig.config.Settings` and returns a result object (see
:mod:`mig.reports`); progress lines go to the optional ``report`` callable. Errors are
:class:`~mig.errors.MigError` subclasses. The verbs live in one module per area; this package
re-exports every one of them, so ``from mig import commands; commands.apply(...)`` is the way to
call them. A verb's module is imported on first use, which keeps ``mig apply`` from importing
what ``mig diff`` needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import exports, public

if TYPE_CHECKING:
    from .adopt import baseline, foreign_histories, init
    from .authoring import new_from
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
    from .squashing import squash
    from .state import current, migration_ids, status
    from .verification import verify

# Which module of this package holds which verb: the one table of the verbs; __all__ and the
# lazy attributes come from it, and the TYPE_CHECKING imports above must agree with it.
_WHERE = {
    "apply": "migrate",
    "rollback": "migrate",
    "status": "state",
    "current": "state",
    "migration_ids": "state",
    "history": "events",
    "new": "migrate",
    "new_from": "authoring",
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
    "squash": "squashing",
}

__all__ = public(_WHERE)

__getattr__, __dir__ = exports(__name__, _WHERE)
