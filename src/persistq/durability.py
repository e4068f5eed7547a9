"""Durability levels shared by journals and folder queues, and the fsync helpers."""

from __future__ import annotations

import os
from typing import Literal, TypeAlias, get_args

Durability: TypeAlias = Literal["none", "flush", "fsync"]
"""``none``: no promise; ``flush``: reaches the OS before returning (survives a killed
process); ``fsync``: on stable storage before returning (survives power loss)."""

DURABILITIES: tuple[Durability, ...] = get_args(Durability)


def check_durability(value: object) -> Durability:
    """Return ``value`` as a Durability, or raise ValueError naming it."""
    for level in DURABILITIES:
        if value == level:
            return level
    raise ValueError(f"durability must be one of {', '.join(DURABILITIES)}; got {value!r}")


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Make the entries of directory ``path`` (creations, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        raise OSError(exc.errno, f"could not sync directory ({exc.strerror})", path) from exc
    finally:
        os.close(fd)


def make_directory(path: str | os.PathLike[str], durability: Durability) -> None:
    """Create directory ``path`` and its missing parents, as ``os.makedirs`` does; with
    ``fsync``, the new entries are made durable too (each in its parent)."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current) and os.path.dirname(current) != current:
        missing.append(current)
        current = os.path.dirname(current)
    os.makedirs(path, exist_ok=True)
    if durability == "fsync":
        for created in reversed(missing):
            fsync_directory(os.path.dirname(created))
