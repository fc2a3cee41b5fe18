"""What a migration changes, read from the migration itself: the schema, or only rows.

``mig baseline`` proves a database holds what the migrations build by comparing schemas; a
migration that only changes rows (a backfill, a fix-up of values, reference data) builds no
schema, so no comparison can tell whether its change was ever made. Such a migration is a *data
migration*: it has a data step (:func:`mig.data.data_step`), or its SQL changes rows (INSERT,
UPDATE, DELETE, MERGE, COPY, TRUNCATE, REFRESH MATERIALIZED VIEW, a data-modifying WITH) and
has no statement that may change the schema.
"""

from __future__ import annotations

import re

from ..reports import ReportingStep
from ..yoyo import steps as yoyo_steps
from .scripts import Script
from .sqltext import Statement, statements

# The first words of a statement that changes rows (and nothing of the schema).
_ROWS = re.compile(r"^(INSERT|UPDATE|DELETE|MERGE|COPY|TRUNCATE|REFRESH\s+MATERIALIZED)\b")
# A WITH query that writes: one of its parts is a data-modifying statement.
_WRITING_WITH = re.compile(r"^WITH\b.*\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|MERGE\s+INTO)\b")
# Statements that change neither the schema nor rows (reads, settings, maintenance).
_NEUTRAL = re.compile(
    r"^(SELECT|VALUES|TABLE|WITH|SET|RESET|SHOW|EXPLAIN|ANALY[SZ]E|VACUUM|LOCK|NOTIFY|LISTEN|"
    r"UNLISTEN|DISCARD|CHECKPOINT|SAVEPOINT|RELEASE|REINDEX|CLUSTER)\b")


def statement_kind(statement: Statement) -> str:
    """``"rows"``, ``"neutral"`` or ``"schema"`` for one SQL statement, from its first words.

    Anything not known to leave the schema alone counts as ``"schema"``: a ``DO`` block or a
    ``CALL`` may run DDL.
    """
    words = statement.words
    if _ROWS.match(words) or _WRITING_WITH.match(words):
        return "rows"
    if _NEUTRAL.match(words):
        return "neutral"
    return "schema"


def is_data_migration(script: Script) -> bool:
    """Whether ``script`` changes rows rather than the schema: it has a data step, or its SQL
    changes rows without any statement that may change the schema.

    A Python step other than a data step may do anything, so it counts as a schema change.
    """
    if script.is_sql:
        texts = [script.text]
    else:
        actions = [yoyo_steps.action(inner, "apply")
                   for _, inner in yoyo_steps.flatten(script.steps)]
        if any(isinstance(action, ReportingStep) for action in actions):
            return True
        if any(action is not None and not isinstance(action, str) for action in actions):
            return False
        texts = [action for action in actions if isinstance(action, str)]
    kinds = {statement_kind(part) for text in texts for part in statements(text)}
    return "rows" in kinds and "schema" not in kinds
