"""Data migrations: change rows, not schema, in batches that are resumable and observable.

Used from a yoyo Python migration::

    from mig.data import data_step

    __depends__ = {"20260208_120000_system_config_and_audit_logs"}
    __transactional__ = False  # a commit per batch

    def lowercase_emails(batch):
        batch.execute("UPDATE users SET email = lower(email) WHERE {range} AND {where}")

    steps = [data_step(lowercase_emails, table="users", where="email <> lower(email)")]

The pattern, the guarantees and the contract a function must keep are in
``docs/data-migrations.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from ..yoyo import steps as yoyo_steps
from .checkpoint import TABLE as CHECKPOINT_TABLE
from .step import Backward, Batch, DataStep, Irreversible

__all__ = ["CHECKPOINT_TABLE", "Batch", "DataStep", "data_step"]


def data_step(
    forward: Callable[[Batch], object],
    backward: Callable[[Batch], object] | None = None,
    *,
    table: str,
    where: str | None = None,
    backward_where: str | None = None,
    key: Iterable[str] | None = None,
    name: str | None = None,
    batch_size: int = DataStep.batch_size,
    pause: float = DataStep.pause,
    lock_timeout: str | None = None,
    attempts: int = DataStep.attempts,
    retry_wait: float = DataStep.retry_wait,
    progress_every: float = DataStep.progress_every,
) -> object:
    """Add a data step to the migration being loaded (call it at the top level of the file).

    ``forward(batch)`` is called once per batch of ``batch_size`` rows of ``table``, in key
    order; it changes the batch's rows with ``batch.execute("... WHERE {range} AND {where}")``.
    In a non-transactional migration every batch commits with its checkpoint; in a
    transactional one the batches run inside the migration's transaction.

    :param backward: undoes ``forward``, batch by batch, on rollback. Without one the step is
        irreversible: ``mig rollback`` refuses the migration unless forced.
    :param table: the table walked (``"users"``, ``"billing.invoices"``).
    :param where: SQL condition of the rows to change (e.g. ``"email <> lower(email)"``):
        ``{where}`` in a batch statement stands for it, and ``mig apply --dry-run`` counts the
        rows it matches. Write it so that a changed row no longer matches.
    :param backward_where: the same for ``backward``.
    :param key: columns of a unique index over NOT NULL columns to walk by (default: the
        primary key).
    :param name: the step's name in its checkpoint (default: the function's name); unique
        within the migration.
    :param batch_size: rows per batch (the rows a batch changes and locks are at most these).
    :param pause: seconds to sleep after each committed batch, to leave the server room.
    :param lock_timeout: PostgreSQL ``lock_timeout`` of each batch (default: the migration's).
    :param attempts: tries of a batch that could not get its locks before the step gives up.
    :param retry_wait: seconds before the second try; each further try waits that much longer.
    :param progress_every: seconds between progress lines when stderr is not a terminal.
    :returns: yoyo's step (a list entry for ``steps = [...]``).
    :raises TypeError: at import, for a misused parameter.
    """
    collector = _collector()
    step = DataStep(
        forward=forward, backward=backward, migration_id=collector.migration.id, table=table,
        name=name or "", where=where, backward_where=backward_where,
        key=tuple(key) if key else None, batch_size=batch_size, pause=pause,
        lock_timeout=lock_timeout, attempts=attempts, retry_wait=retry_wait,
        progress_every=progress_every)
    _claim_name(collector, step.name)
    rollback = Backward(step) if backward is not None else Irreversible(step)
    return collector.add_step(step, rollback)


def _claim_name(collector: Any, step_name: str) -> None:
    """Take ``step_name`` for a step of the migration. :raises TypeError: another has it."""
    names = collector.__dict__.setdefault("_mig_data_step_names", set())
    if step_name in names:
        raise TypeError(f"two data steps of this migration are named {step_name!r}: give one"
                        " of them name='...'")
    names.add(step_name)


def _collector() -> Any:  # yoyo's StepCollector (yoyo has no type hints)
    """yoyo's step collector of the migration file being imported (found as yoyo finds it)."""
    found = yoyo_steps.collector(sys._getframe(2))
    if found is not None:
        return found
    raise TypeError("data_step() adds a step to a migration: call it at the top level of a"
                    " migration file, as yoyo's step() is called")
