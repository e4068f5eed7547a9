"""Claiming a batch of message names (one file, or one group) all or none.

:func:`claim_batch` renames each name to this process's wip name and answers with a
value: :class:`Claimed` (the wip paths) or :class:`Missed` (what to index again and
what to try later). It never touches a reader's state; the reader applies the value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Container, Sequence

import attrs

from persistq.durability import Durability
from persistq.folder.files import ClaimOutcome, claim, sync_dirs

log = logging.getLogger(__name__)


@attrs.frozen
class Claimed:
    """Every name of the batch is claimed: ``wips`` are their wip paths, in order."""

    wips: tuple[str, ...]


@attrs.frozen
class Missed:
    """The batch is not claimed; nothing of it is held by this process.

    ``back``: names still (or again) in the folder, to index again; ``busy``: names
    whose wip name this process still holds (claimed twice before ``task_done``), to
    try again later; ``lost``: another process claimed a name of it first; ``refused``:
    names that are no regular file (a symlink, directory or FIFO), put back as they were.
    """

    back: tuple[str, ...] = ()
    busy: tuple[str, ...] = ()
    lost: bool = False
    refused: tuple[str, ...] = ()


def claim_batch(
    folder: str,
    names: Sequence[str],
    wip_of: Callable[[str], str],
    restore: Callable[[str], str | None],
    durability: Durability,
    proven: Container[str] = (),
) -> Claimed | Missed:
    """Claim ``names`` in this order, all or none: a partial claim is rolled back with
    ``restore`` (a wip base name to its queued path, or None). ``proven``: names just
    proven regular files (see :func:`persistq.folder.files.claim`)."""
    wips: list[str] = []
    for i, name in enumerate(names):
        wip = wip_of(name)
        try:
            won = claim(os.path.join(folder, name), wip, regular=name in proven)
        except FileExistsError:
            log.debug("not claiming %s yet: this process still holds %s", name, wip)
            return Missed(_roll_back(wips, restore) + tuple(names[i + 1 :]), (name,))
        if not won:
            back = _roll_back(wips, restore) + tuple(names[i + 1 :])
            if won is ClaimOutcome.REFUSED:
                return Missed(back, refused=(name,))
            return Missed(back, lost=True)
        wips.append(wip)
    sync_dirs(durability, folder)
    return Claimed(tuple(wips))


def _roll_back(wips: list[str], restore: Callable[[str], str | None]) -> tuple[str, ...]:
    restored = [restore(os.path.basename(wip)) for wip in wips]
    return tuple(os.path.basename(path) for path in restored if path is not None)
