"""The insides of a loaded migration's steps, and the step collector of a migration being
imported.

yoyo documents how a migration file is written (``step()``, ``group()``, ``__depends__``), not
the objects it makes of one. mig needs those objects' insides: a step's SQL or callable for
each direction (``MigrationStep._apply`` / ``._rollback``), the transaction wrapper around each
step and the groups inside it, and the collector a file's ``step()`` calls add to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

#: A yoyo step object: the ``MigrationStep`` holding one apply and one rollback action.
Step = Any
#: What ``steps = [...]`` of a loaded migration holds: a step (or a group of steps) inside
#: yoyo's transaction wrapper.
Wrapper = Any
#: A step's action in one direction: SQL text, a callable taking the connection, or nothing.
Action = str | Callable[..., Any] | None

_ATTRIBUTE = {"apply": "_apply", "rollback": "_rollback"}


def unwrap(wrapper: Wrapper) -> Step:
    """The step (or group) inside yoyo's transaction wrapper; anything else as it is."""
    return getattr(wrapper, "step", wrapper)


def flatten(steps: Iterable[Wrapper] | None) -> list[tuple[Wrapper, Step]]:
    """``(wrapper, step)`` of each step of a migration in the order they apply, the steps of
    a ``group()`` in its place (each with its own wrapper)."""
    pairs: list[tuple[Wrapper, Step]] = []
    for wrapper in steps or []:
        inner = unwrap(wrapper)
        if hasattr(inner, "steps"):  # a yoyo step group
            pairs += flatten(inner.steps)
        else:
            pairs.append((wrapper, inner))
    return pairs


def action(step: Step, direction: str) -> Action:
    """What ``step`` does in ``direction`` (``"apply"`` or ``"rollback"``): its SQL text, its
    callable, or None (a step without a rollback; a group, whose actions are its steps')."""
    return getattr(step, _ATTRIBUTE[direction], None)


def set_action(step: Step, direction: str, value: Action) -> None:
    """Replace what ``step`` does in ``direction`` (e.g. its SQL text, cleaned)."""
    setattr(step, _ATTRIBUTE[direction], value)


def pruned(steps: Iterable[Wrapper] | None, clean: Callable[[str], str | None]) -> list[Wrapper]:
    """``steps`` with each SQL action replaced by ``clean(sql)`` (None: no action), and the
    steps left with no action in either direction left out, inside groups too (a group left
    with no step goes as well). Callables are kept as they are."""
    kept: list[Wrapper] = []
    for wrapper in steps or []:
        inner = unwrap(wrapper)
        if hasattr(inner, "steps"):  # a yoyo step group
            inner.steps = pruned(inner.steps, clean)
            if inner.steps:
                kept.append(wrapper)
            continue
        for direction in _ATTRIBUTE:
            value = action(inner, direction)
            if isinstance(value, str):
                set_action(inner, direction, clean(value))
        if any(action(inner, direction) is not None for direction in _ATTRIBUTE):
            kept.append(wrapper)
    return kept


def ignores_errors(wrapper: Wrapper, direction: str) -> bool:
    """Whether the step was given ``ignore_errors`` covering ``direction``."""
    return getattr(wrapper, "ignore_errors", None) in (direction, "all")


def rollback_step(sql: str) -> Step:
    """A step that only rolls back, running ``sql``: what yoyo makes of a statement of a
    rollback file (a stored rollback stands in for a file that is gone)."""
    from yoyo.migrations import MigrationStep

    return MigrationStep(None, None, sql)


def collector(frame: FrameType | None) -> Any | None:
    """yoyo's step collector of the migration file being imported, found from ``frame``
    outwards as yoyo's own ``step()`` finds it; None outside a migration's import."""
    while frame is not None:
        found = frame.f_globals.get("__yoyo_collector__")
        if found is not None:
            return found
        frame = frame.f_back
    return None
