"""Dependencies first, otherwise the given order: the one topological sort (migrations by their
``depends``, seed tables by their references), on the standard library's :mod:`graphlib`."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from graphlib import CycleError, TopologicalSorter
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Cycle(Exception):
    """Some items need each other. ``items`` is the cycle, each item needing the next, from the
    item given first, which it ends with again (``a, b, a``: a needs b, b needs a)."""

    def __init__(self, items: list) -> None:
        super().__init__(items)
        self.items = items


def stable_order(items: Sequence[T], key: Callable[[T], K],
                 needs: Callable[[T], Iterable[K]]) -> list[T]:
    """``items`` with what each needs before it; among those ready, the earliest given first.

    Needs that are not among ``items`` are ignored.
    :raises Cycle: the needs form a cycle.
    """
    by_key = {key(item): item for item in items}
    position = {k: index for index, k in enumerate(by_key)}
    sorter: TopologicalSorter[K] = TopologicalSorter()
    for k, item in by_key.items():
        sorter.add(k, *(n for n in needs(item) if n in by_key and n != k))
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = list(reversed(exc.args[1][1:]))  # graphlib lists each node before its needer
        start = cycle.index(min(cycle, key=position.__getitem__))
        cycle = cycle[start:] + cycle[:start]
        raise Cycle([by_key[k] for k in [*cycle, cycle[0]]]) from None
    ordered: list[T] = []
    ready: set[K] = set()
    while sorter.is_active():
        ready.update(sorter.get_ready())
        first = min(ready, key=position.__getitem__)
        ready.remove(first)
        ordered.append(by_key[first])
        sorter.done(first)
    return ordered
