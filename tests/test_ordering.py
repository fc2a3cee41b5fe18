"""mig.ordering: dependencies first, otherwise the order given; a cycle named from its start."""

from __future__ import annotations

import pytest

from mig.ordering import Cycle, stable_order


def order(needs: dict[str, str]) -> list[str]:
    return stable_order(list(needs), lambda k: k, lambda k: needs[k].split())


def test_the_given_order_holds_where_nothing_is_needed():
    assert order({"c": "", "a": "", "b": ""}) == ["c", "a", "b"]


def test_what_is_needed_comes_first_and_ties_keep_the_given_order():
    assert order({"a": "c", "b": "", "c": "", "d": "a"}) == ["b", "c", "a", "d"]
    assert order({"a": "a x"}) == ["a"]  # itself and unknown names are ignored


def test_a_cycle_is_named_from_the_earliest_item():
    with pytest.raises(Cycle) as caught:
        order({"x": "", "a": "b", "b": "c", "c": "a"})
    assert caught.value.items == ["a", "b", "c", "a"]
