"""What makes a folder-queue ``status`` unhealthy beyond its claims: a folder that is
no queue at all, and producers that are gone without ``close()``."""

from __future__ import annotations

import os
from collections.abc import Callable

from persistq.cli.folder import DONE_FOLDER, FAILED_FOLDER
from persistq.cli.watch_trigger import STATE_FOLDER
from persistq.folder.markers import read_marker
from persistq.folder.names import Kind, Owner, classify, marker_name

QUEUE_FOLDERS = (DONE_FOLDER, FAILED_FOLDER, STATE_FOLDER)
"""Subfolders that only a queue folder has."""


def not_a_queue(path: str, extension: str, is_pickup: Callable[[list[str]], bool]) -> str | None:
    """Why folder ``path`` is no folder queue at all (empty, only foreign files, or the
    parent of pickup directories), or None if it is one. ``is_pickup`` says whether a
    listing is that of a pickup directory."""
    names = sorted(os.listdir(path))
    if any(classify(n, extension) is not Kind.FOREIGN for n in names) or any(
        os.path.isdir(os.path.join(path, d)) for d in QUEUE_FOLDERS
    ):
        return None
    pickups = [
        n
        for n in names
        if os.path.isdir(os.path.join(path, n)) and is_pickup(os.listdir(os.path.join(path, n)))
    ]
    if pickups:
        shown = ", ".join(pickups[:3]) + (" ..." if len(pickups) > 3 else "")
        return (
            f"{path} is not a queue: it is the parent of pickup directories ({shown}); "
            f"ask about one of them: persistq status {os.path.join(path, pickups[-1])}"
        )
    if not names:
        return f"{path} is empty: not a folder queue or a pickup directory (yet)"
    return (
        f"{path} is not a queue: none of its files is a *{extension} message, a claim or a "
        "producer marker (another extension? pass --extension)"
    )


def producer_owner(path: str, producer: str) -> Owner | None:
    """The process that wrote ``producer``'s helo marker in ``path``; None if the marker
    is gone or does not say. MarkerError names a corrupt marker."""
    try:
        data = read_marker(os.path.join(path, marker_name(producer, "helo")))
    except FileNotFoundError:
        return None
    host, pid, start = data.get("host"), data.get("pid"), data.get("process_start", 0)
    if not isinstance(host, str) or not isinstance(pid, int) or not isinstance(start, int):
        return None
    return Owner(host, pid, start)
