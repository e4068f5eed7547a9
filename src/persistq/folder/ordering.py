"""Which message names a reader claims, and in which order."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from persistq.folder.names import parse_queued

log = logging.getLogger(__name__)

SortingFunction = Callable[[str], Any]

_complained: set[tuple[str, str]] = set()
"""(kind of complaint, name) already logged by this process: each is logged once."""


def _once(kind: str, name: str) -> bool:
    key = (kind, name)
    if key in _complained:
        return False
    _complained.add(key)
    return True


def sort_key(
    sorting_function: SortingFunction | None, name: str, extension: str
) -> tuple[Any, ...]:
    """The key a message ``name`` sorts by: ``sorting_function`` of its original name
    (default: that name). A file the function fails on sorts after every other, and the
    failure is logged once; a None key sorts as ""."""
    original = parse_queued(name, extension)[0]
    if sorting_function is None:
        return (0, original, name)
    try:
        key = sorting_function(original)
    except Exception:
        if _once("sort", name):
            log.warning("sorting_function failed on %r; sorting it last", original, exc_info=True)
        return (1, name)
    return (0, "" if key is None else key, name)


def claimable(name: str, extension: str) -> bool:
    """Whether message ``name`` can be claimed: a retry name must number an attempt
    (``x.retry0.tsv`` cannot; it is left alone, with a warning once)."""
    if parse_queued(name, extension)[1] >= 1:
        return True
    if _once("attempt", name):
        log.warning(
            "not claiming %s: a retried message is named <name>.retryN%s with N >= 1; "
            "rename it to be processed",
            name,
            extension,
        )
    return False
