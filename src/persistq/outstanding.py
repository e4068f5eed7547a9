"""Outstanding work: what was requested and not completed, as a multiset in order.

Pure logic, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def outstanding(requested: Iterable[K], completed: Iterable[K]) -> Iterator[K]:
    """Yield each requested item not matched by a completion, in requested order.

    Duplicates count: an item requested twice and completed once is yielded once
    (its later occurrence; the first is matched). ``completed`` is read in full
    first, so ``requested`` may be a stream of any length.
    """
    remaining = Counter(completed)
    get = remaining.get
    for item in requested:
        count = get(item)
        if count:
            remaining[item] = count - 1
        else:
            yield item
