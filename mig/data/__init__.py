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

import inspect
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ..config import DURATION
from ..yoyo import steps as yoyo_steps
from .checkpoint import TABLE as CHECKPOINT_TABLE
from .step import Backward, Batch, DataStep, Irreversible

__all__ = ["CHECKPOINT_TABLE", "Batch", "DataStep", "data_step"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")


def data_step(
    forward: Callable[[Batch], object],
    backward: Callable[[Batch], object] | None = None,
    *,
    table: str,
    where: str | None = None,
    backward_where: str | None = None,
    key: Iterable[str] | None = None,
    name: str | None = None,
    batch_size: int = 1000,
    pause: float = 0.0,
    lock_timeout: str | None = None,
    attempts: int = 5,
    retry_wait: float = 0.5,
    progress_every: float = 5.0,
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
    _check_function(forward, "forward")
    if backward is not None:
        _check_function(backward, "backward")
    step_name = _unique_name(collector, name or str(getattr(forward, "__name__", "")))
    _check_options(table=table, batch_size=batch_size, attempts=attempts, pause=pause,
                   retry_wait=retry_wait, progress_every=progress_every,
                   lock_timeout=lock_timeout)
    step = DataStep(
        forward, backward, migration_id=collector.migration.id, name=step_name, table=table,
        where=where, backward_where=backward_where, key=tuple(key) if key else None,
        batch_size=batch_size, pause=float(pause),
        lock_timeout=str(lock_timeout) if lock_timeout is not None else None,
        attempts=attempts, retry_wait=float(retry_wait), progress_every=float(progress_every))
    rollback = Backward(step) if backward is not None else Irreversible(step)
    return collector.add_step(step, rollback)


def _unique_name(collector: Any, step_name: str) -> str:
    """``step_name``, checked usable and not yet taken by another step of the migration."""
    if not _NAME.match(step_name):
        raise TypeError(f"data step name {step_name!r} is not usable: give name='...' (letters,"
                        " digits, _ . -; a lambda has no name of its own)")
    names = collector.__dict__.setdefault("_mig_data_step_names", set())
    if step_name in names:
        raise TypeError(f"two data steps of this migration are named {step_name!r}: give one"
                        " of them name='...'")
    names.add(step_name)
    return step_name


def _check_options(*, table: object, batch_size: object, attempts: object, pause: float,
                   retry_wait: float, progress_every: float, lock_timeout: object) -> None:
    """A :class:`TypeError` naming the first option given a value it cannot take."""
    if not isinstance(table, str) or not table.strip():
        raise TypeError("data_step() needs table='...': the table the batches walk")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise TypeError(f"batch_size must be a whole number of rows >= 1, got {batch_size!r}")
    if not isinstance(attempts, int) or attempts < 1:
        raise TypeError(f"attempts must be a whole number >= 1, got {attempts!r}")
    if pause < 0 or retry_wait < 0 or progress_every <= 0:
        raise TypeError("pause and retry_wait must be >= 0 seconds, progress_every > 0")
    if lock_timeout is not None and not DURATION.match(str(lock_timeout)):
        raise TypeError(f"lock_timeout must be a duration like '2s' or '500ms', got"
                        f" {lock_timeout!r}")


def _collector() -> Any:  # yoyo's StepCollector (yoyo has no type hints)
    """yoyo's step collector of the migration file being imported (found as yoyo finds it)."""
    found = yoyo_steps.collector(sys._getframe(2))
    if found is not None:
        return found
    raise TypeError("data_step() adds a step to a migration: call it at the top level of a"
                    " migration file, as yoyo's step() is called")


def _check_function(function: object, role: str) -> None:
    if not callable(function):
        raise TypeError(f"data_step() {role} must be a function taking the batch, got"
                        f" {function!r}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin: nothing to check
        return
    try:
        signature.bind(object())
    except TypeError:
        label = getattr(function, "__qualname__", repr(function))
        raise TypeError(
            f"data_step() {role} {label} must take exactly one argument, the batch (with its"
            f" key range): def {getattr(function, '__name__', role)}(batch): ..."
        ) from None
