"""Outstanding work is a multiset difference that keeps requested order."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from persistq.outstanding import outstanding


def test_duplicates_count() -> None:
    assert list(outstanding(["a", "b", "a", "c", "a"], ["a", "c"])) == ["b", "a", "a"]


def test_completions_of_unrequested_work_are_ignored() -> None:
    assert list(outstanding(["a"], ["z", "a", "a"])) == []


@given(st.lists(st.sampled_from("abcde")), st.lists(st.sampled_from("abcdef")))
def test_is_the_multiset_difference_in_order(requested: list[str], completed: list[str]) -> None:
    result = list(outstanding(requested, completed))
    assert Counter(result) == Counter(requested) - Counter(completed)
    it = iter(requested)
    assert all(item in it for item in result)  # a subsequence of requested
