"""Names of a package loaded on first use: ``import mig`` (and every ``mig`` command) stays
cheap, yet ``mig.apply`` and ``mig.testing.make_database`` work as plain attributes.

A package keeps one table, ``_WHERE`` (name -> the submodule holding it), and derives from it
its ``__getattr__``, ``__dir__`` and ``__all__`` (:func:`exports`, :func:`public`). Its
``TYPE_CHECKING`` imports, which type checkers read, must name the same modules and names:
``tests/test_public_api.py`` compares them with the table.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def public(where: Mapping[str, str], *eager: str) -> list[str]:
    """A package's ``__all__``: the names it imports as it is imported (``eager``), then
    those of its table ``where``, sorted."""
    return [*eager, *sorted(where)]


def exports(package: str, where: Mapping[str, str], names: Sequence[str] | None = None
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: name ``n`` of ``where`` is
    read from the submodule ``where[n]`` when first asked for; ``dir()`` lists ``names``
    (default: :func:`public` of ``where``)."""
    names = public(where) if names is None else names

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
