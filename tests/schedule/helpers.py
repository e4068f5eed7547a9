"""Shared helpers of the schedule tests: a fake clock's instants and trigger counting."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def minutes(n: float) -> dt.datetime:
    """The instant ``n`` minutes after T0."""
    return T0 + dt.timedelta(minutes=n)


def triggers(queue: Path, *subfolders: str) -> list[str]:
    """The trigger names in ``queue`` and its ``subfolders`` (e.g. done), sorted, with
    repeats (a name in two places is listed twice)."""
    names = []
    for folder in (queue, *(queue / s for s in subfolders)):
        if folder.is_dir():
            names += [n for n in os.listdir(folder) if n.endswith(".trigger")]
    return sorted(names)


def slot_of(path: str | Path) -> str:
    """The slot a trigger file says, read with json only."""
    with open(path, encoding="utf-8") as f:
        return str(json.load(f)["slot"])
