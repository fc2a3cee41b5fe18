"""Two schema snapshots rendered as the SQL that takes one to the other, and back.

:func:`plan` is the generator's one entry point: the schema before (with its owner role and its
dependencies), the schema after (likewise), and it returns a :class:`Plan`: the statements that
take ``before`` to ``after`` in dependency order (``up``), those that take it back (``down``,
drops in the reverse order), each knowing whether it must run outside a transaction, plus the
destructive changes found and the warnings. Nothing here connects to a database: the snapshots
(:mod:`mig.engine.snapshot`) and the dependencies (:mod:`mig.engine.depends`) are read by the
caller; ``mig new --from`` and ``mig squash`` prove what it renders on a scratch database.

Statements are grouped in up to three migrations (:meth:`Plan.migrations`): enum values that
later statements use (added outside a transaction), the transactional body, and what is safe
under load only outside a transaction (``CREATE INDEX CONCURRENTLY``, ``VALIDATE CONSTRAINT``
of constraints added ``NOT VALID``, ``SET NOT NULL`` through a validated check).

Definitions come from the server's ``pg_get_*def`` functions, read with the search path set to
the object's own schema: each statement carries its schema, and the migration sets
``search_path`` to it (then ``pg_catalog``) before the statements of that schema.

The modules: ``model`` (the typed plan and its statements), ``quoting`` (SQL text: quoting,
names), ``definitions`` (tables and columns as the snapshot writes them), ``state`` (the
planner's state and shared helpers), one module per kind of object — ``schemas`` (schemas,
extensions, collations, types, sequences), ``tables`` (tables and columns), ``constraints``
(constraints and indexes), ``objects`` (views, functions, triggers, rules, statistics,
policies), ``privileges`` (comments, grants, default privileges) — ``safe`` (the safe forms for
tables in use), ``planner`` (the plan made and ordered) and ``files`` (a migration rendered).
"""

from .files import DESIGN_RULES, ROLLBACK_RULES, render, statements_text
from .model import AFTER, BEFORE, MAIN, CannotGenerate, Plan, PlannedMigration, Rename, Statement
from .planner import plan
from .privileges import roles
from .quoting import ident, literal

__all__ = [
    "AFTER",
    "BEFORE",
    "CannotGenerate",
    "DESIGN_RULES",
    "MAIN",
    "Plan",
    "PlannedMigration",
    "ROLLBACK_RULES",
    "Rename",
    "Statement",
    "ident",
    "literal",
    "plan",
    "render",
    "roles",
    "statements_text",
]
