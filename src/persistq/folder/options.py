"""The keyword options of folder readers, checked once."""

from __future__ import annotations

import os
from typing import TypedDict

from persistq.durability import Durability
from persistq.folder.waking import OBSERVER_CHOICES, ObserverChoice


class ReaderOptions(TypedDict, total=False):
    """The keyword options every reader takes (see ``FolderReader``)."""

    durability: Durability
    poll_interval: float | None
    observer: ObserverChoice
    stable_after: float | None
    max_attempts: int
    lease_seconds: float | None
    failed_directory: str | os.PathLike[str] | None
    retry_delay: float | None
    max_retry_delay: float | None


def check_options(
    observer: str,
    max_attempts: int,
    **seconds: float | None,
) -> None:
    """Raise ValueError naming the first bad option: an unknown observer, fewer than
    one attempt, or a time (``seconds``) that is not a positive number."""
    if observer not in OBSERVER_CHOICES:
        raise ValueError(f"observer must be one of {OBSERVER_CHOICES}; got {observer!r}")
    for option, value in seconds.items():
        if value is not None and not value > 0:
            raise ValueError(f"{option} must be a positive number of seconds; got {value!r}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1; got {max_attempts!r}")
