"""What producers and consumers of a folder queue share: the folder, its names, recovery."""

from __future__ import annotations

import logging
import os

from persistq.durability import Durability, check_durability
from persistq.folder.finishing import give_back, parse_claim
from persistq.folder.names import (
    RESERVED_SUFFIXES,
    Kind,
    Owner,
    Wip,
    classify,
    normalize_extension,
    parse_queued,
    wip_name,
)
from persistq.folder.owner import current_owner

log = logging.getLogger(__name__)


class FolderQueueBase:
    """A folder used as a queue: the folder is created if missing; its listing is the state."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        *,
        durability: Durability = "flush",
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.message_extension = normalize_extension(message_extension)
        self.task_done_directory = (
            None if task_done_directory is None else os.path.abspath(os.fspath(task_done_directory))
        )
        self.durability: Durability = check_durability(durability)
        _make_folder(self.path, "queue folder")
        if self.task_done_directory is not None:
            _make_folder(self.task_done_directory, "task_done_directory")
            check_apart(self.path, self.task_done_directory, "task_done_directory")

    @property
    def owner(self) -> Owner:
        """This process's identity as written into wip names (recomputed after a fork)."""
        return current_owner()

    def wip_filename(self, msg: str | os.PathLike[str]) -> str:
        """The path of the work-in-progress file this process claims message ``msg`` as."""
        original, attempt = parse_queued(os.path.basename(msg), self.message_extension)
        return os.path.join(self.path, wip_name(original, self.owner, attempt))

    def original_filename_from_wip(self, msg: str | os.PathLike[str]) -> str:
        """The path in the queue folder of the message whose wip name is ``msg``.

        Exact for any owner, whatever its PID length; ValueError names a non-wip name.
        """
        return os.path.join(self.path, self._parse_wip(msg).original)

    def _parse_wip(self, msg: str | os.PathLike[str]) -> Wip:
        return parse_claim(msg, self.message_extension)

    def _names(self, kind: Kind) -> list[str]:
        return self._names_of(kind)[kind]

    def _names_of(self, *kinds: Kind) -> dict[Kind, list[str]]:
        """The names of each of ``kinds`` in the queue folder, from one listing."""
        ext, names = self.message_extension, os.listdir(self.path)
        found: dict[Kind, list[str]] = {kind: [] for kind in kinds}
        if Kind.MESSAGE not in kinds and Kind.FOREIGN not in kinds:
            # Of a backlog of messages, classify only the few names of the queue's own.
            names = [n for n in names if n.endswith(RESERVED_SUFFIXES) or n.startswith(".")]
        for name in names:
            listed = found.get(classify(name, ext))
            if listed is not None:
                listed.append(name)
        return found

    def give_back(self, wip_path: str | os.PathLike[str]) -> str | None:
        """Give a claimed file back to the queue, unfinished, as the same attempt.

        Returns its queued path, or None if the claim is gone or its queued name is
        taken (the claim then stays, and a warning says so). The one way to undo a
        claim: readers, ``reset`` and the command line all use it.
        """
        return give_back(
            self.path, wip_path, extension=self.message_extension, durability=self.durability
        )

    def _restore(self, name: str) -> str | None:
        return self.give_back(name)


def _make_folder(path: str, what: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{what} {path!r} exists and is not a directory") from None


def check_apart(queue: str, directory: str, what: str) -> None:
    """Raise ValueError naming ``directory`` if it is queue folder ``queue`` itself (its
    files would be handed out again for ever)."""
    if os.path.samefile(queue, directory):
        raise ValueError(
            f"{what} {directory!r} is the queue folder itself: finished files would be "
            "queued again for ever; use another folder (e.g. a 'done' subfolder)"
        )
