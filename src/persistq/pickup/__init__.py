"""Pickup directories: the journals a PersistentQueue run leaves, and what they say.

``inspect(dir)`` is the one read model (used by recovery and by every ``persistq``
command); ``compact`` shrinks a prefix's journals to its outstanding work; the
``recovery`` module journals a previous run's outstanding work in a new run.
"""

from persistq.pickup.compaction import compact
from persistq.pickup.layout import (
    compaction_file_name,
    pointer_file_name,
    prefixes,
    recovered_by_file_name,
)
from persistq.pickup.report import PickupReport, PrefixReport, Writer, inspect

__all__ = [
    "PickupReport",
    "PrefixReport",
    "Writer",
    "compact",
    "compaction_file_name",
    "inspect",
    "pointer_file_name",
    "prefixes",
    "recovered_by_file_name",
]
