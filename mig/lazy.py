"""Names of a package loaded on first use: ``import mig`` (and every ``mig`` command) stays
cheap, yet ``mig.apply`` and ``mig.testing.make_database`` work as plain attributes."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def exports(package: str, where: Mapping[str, str],
            names: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``: name ``n`` of ``where`` is
    read from the submodule ``where[n]`` when first asked for; ``dir()`` lists ``names``."""

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
