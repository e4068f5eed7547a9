"""Outstanding work: what was requested and not completed, as a multiset in order.

Pure logic, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

CHUNK = 1 << 16
"""Requested items looked at together when no item was completed twice."""


def outstanding(requested: Iterable[K], completed: Iterable[K]) -> Iterator[K]:
    """Yield each requested item not matched by a completion, in requested order.

    Duplicates count: an item requested twice and completed once is yielded once
    (its later occurrence; the first is matched). ``completed`` is read in full
    first, so ``requested`` may be a stream of any length.
    """
    done = list(completed)
    pending = set(done)
    if len(pending) == len(done):  # the common case: each completion is distinct
        del done
        return _outstanding_distinct(iter(requested), pending)
    return _outstanding_counted(requested, Counter(done))


def _outstanding_distinct(requested: Iterator[K], pending: set[K]) -> Iterator[K]:
    """``outstanding`` when each item was completed at most once: a chunk at a time,
    with set operations, as long as no chunk requests a completed item twice."""
    while chunk := list(islice(requested, CHUNK)):
        left = [item for item in chunk if item not in pending]
        before = len(pending)
        pending.difference_update(chunk)
        if before - len(pending) == len(chunk) - len(left):
            yield from left
            continue
        # A completed item requested twice in this chunk: only its first is matched.
        pending.update(set(chunk).difference(left))
        for item in chunk:
            if item in pending:
                pending.discard(item)
            else:
                yield item


def _outstanding_counted(requested: Iterable[K], remaining: Counter[K]) -> Iterator[K]:
    get = remaining.get
    for item in requested:
        count = get(item)
        if count:
            remaining[item] = count - 1
        else:
            yield item
