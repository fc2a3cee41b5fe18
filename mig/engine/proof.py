"""A generated migration proven both ways on a scratch database, before anything is written.

:func:`prove` applies the generated migrations on a scratch database that holds the history's
schema (built by a :class:`~mig.engine.scratch.ScratchEngine`, the way ``mig apply`` runs
migrations), compares the schema they leave with the one they must give (the same comparison
as ``mig diff``), rolls them back, and compares the schema the rollback leaves with the
history's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..disk.scripts import Script
from .comparison import Difference, OwnedSchema, differences, read_schema
from .scratch import ScratchEngine


@dataclass(frozen=True)
class Proof:
    """What differs after the apply (``up``: from the schema wanted) and after the rollback
    (``down``: from the history's schema); both empty when the migrations are proven."""

    up: tuple[Difference, ...]
    down: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        """Whether both ways give exactly the schema they must."""
        return not self.up and not self.down


def prove(engine: ScratchEngine, generated: list[Script], before: OwnedSchema,
          after: OwnedSchema, schemas: list[str] | None, *, reordered: Iterable[str] = ()
          ) -> Proof:
    """Apply ``generated`` in order on ``engine``'s database (which holds ``before``), compare
    with ``after``, roll them back in reverse order, compare with ``before``; ``schemas`` are
    those compared (None: every one).

    :param reordered: tables whose rollback adds a dropped column back at the end: their
        column order alone may differ after the rollback (a rollback cannot put a column back
        where it was).

    :raises StatementFailed: a generated statement fails (on apply or rollback).
    """
    ignore = engine.ignore
    for script in generated:
        engine.apply(script)
    applied = read_schema(engine.backend.connection, schemas, ignore)
    up = differences(after, applied)
    for script in reversed(generated):
        engine.rollback(script)
    back = read_schema(engine.backend.connection, schemas, ignore)
    moved = set(reordered)
    down = [d for d in differences(before, back)
            if not (d.kind == "table" and d.change == "changed" and d.name in moved
                    and _same_columns(d.expected, d.actual))]
    return Proof(tuple(up), tuple(down))


def _same_columns(was: str | None, now: str | None) -> bool:
    """Whether two table texts differ only in the order of their columns."""
    def parts(text: str | None) -> tuple[frozenset[str], str]:
        inside, _, rest = (text or "").removeprefix("(").partition(")")
        return frozenset(inside.split(", ")), rest
    return parts(was) == parts(now)
