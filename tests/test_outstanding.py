"""Outstanding work is a multiset difference that keeps requested order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterator
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistq import outstanding as outstanding_module
from persistq.outstanding import outstanding

K = TypeVar("K", bound=Hashable)


def reference(requested: list[K], completed: list[K]) -> list[K]:
    """The definition: walk the requests, each matched by an unused completion."""
    remaining = Counter(completed)
    left: list[K] = []
    for item in requested:
        if remaining[item]:
            remaining[item] -= 1
        else:
            left.append(item)
    return left


@pytest.fixture(autouse=True)
def small_chunks() -> Iterator[None]:
    # Chunks of 3 make the examples below cross chunk boundaries.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outstanding_module, "CHUNK", 3)
        yield


def test_duplicates_count() -> None:
    assert list(outstanding(["a", "b", "a", "c", "a"], ["a", "c"])) == ["b", "a", "a"]


def test_completions_of_unrequested_work_are_ignored() -> None:
    assert list(outstanding(["a"], ["z", "a", "a"])) == []


def test_a_completed_item_requested_twice_in_one_chunk_is_outstanding_once() -> None:
    assert list(outstanding(["x", "a", "a", "b", "c", "b"], ["a", "b"])) == ["x", "a", "c", "b"]


@given(st.lists(st.sampled_from("abcdefgh")), st.lists(st.sampled_from("abcdefghij")))
def test_is_the_multiset_difference_in_order(requested: list[str], completed: list[str]) -> None:
    result = list(outstanding(requested, completed))
    assert result == reference(requested, completed)
    assert Counter(result) == Counter(requested) - Counter(completed)


@given(st.lists(st.integers(0, 40)), st.sets(st.integers(0, 40)))
def test_distinct_completions_agree_with_the_definition(
    requested: list[int], completed: set[int]
) -> None:
    # Completions all distinct: the chunked set path, whatever the requests repeat.
    assert list(outstanding(requested, sorted(completed))) == reference(
        requested, sorted(completed)
    )
