"""What a migration's steps do, as a dry run and a failed run show them: a step's SQL, or a
Python callable's name and docstring."""

from __future__ import annotations

from typing import Any

from ..yoyo import steps as yoyo_steps


def statement_text(step: yoyo_steps.Step) -> str | None:
    """The SQL of a yoyo step, or ``None`` for a Python callable."""
    apply = yoyo_steps.action(yoyo_steps.unwrap(step), "apply")
    return apply if isinstance(apply, str) else None


def describe_step(step: yoyo_steps.Wrapper, conn: Any = None) -> str:
    """What a step does, for dry runs: its SQL, or a Python callable's name and docstring.

    A callable with a ``describe(conn)`` attribute adds a line of its own (a data step counts
    the rows it would touch); ``conn`` is a read-only connection, or None.
    """
    return "\n".join(_describe_leaf(inner, conn) for _, inner in yoyo_steps.flatten([step]))


def _describe_leaf(inner: yoyo_steps.Step, conn: Any) -> str:
    """What one step (not a group) does, as :func:`describe_step` shows it."""
    apply = yoyo_steps.action(inner, "apply")
    if isinstance(apply, str):
        return apply.strip().rstrip(";") + ";"
    if apply is None:
        return "-- (no apply action)"
    name = getattr(apply, "__qualname__", repr(apply))
    doc = (getattr(apply, "__doc__", None) or "").strip()
    lines = [f"-- python: {name}"] + [f"--   {line}" for line in doc.splitlines()]
    describe = getattr(apply, "describe", None)
    if callable(describe):
        lines.append(f"--   {describe(conn)}")
    return "\n".join(lines)
