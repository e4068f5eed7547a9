"""DONE and FAILED: control messages that no user message can equal."""

from __future__ import annotations

from typing import Final, final


@final
class Sentinel:
    """A named singleton that keeps its identity through pickling and copying."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"persistq.{self._name}"

    def __reduce__(self) -> str:
        # Pickled as a reference to the module-level name, so unpickling in any
        # process yields the very same object.
        return self._name

    def __copy__(self) -> Sentinel:
        return self

    def __deepcopy__(self, memo: object) -> Sentinel:
        return self


DONE: Final = Sentinel("DONE")
"""Sent by a producer's ``close()``: no more work will come."""

FAILED: Final = Sentinel("FAILED")
"""Sent by a producer's ``fail()``: upstream failed; consumers should stop."""


def is_control(obj: object) -> bool:
    """True for DONE and FAILED, whatever else ``obj`` compares equal to."""
    return obj is DONE or obj is FAILED
