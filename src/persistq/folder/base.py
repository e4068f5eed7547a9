"""What producers and consumers of a folder queue share: the folder, its names, recovery."""

from __future__ import annotations

import logging
import os

from persistq.durability import Durability, check_durability
from persistq.folder.files import publish, release, sync_dirs
from persistq.folder.names import (
    Kind,
    Owner,
    Wip,
    check_base_name,
    classify,
    normalize_extension,
    parse_queued,
    parse_wip,
    queued_name,
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

    @property
    def owner(self) -> Owner:
        """This process's identity as written into wip names (recomputed after a fork)."""
        return current_owner()

    def wip_filename(self, msg: str | os.PathLike[str]) -> str:
        """The path of the work-in-progress file this process claims message ``msg`` as."""
        name = check_base_name(os.path.basename(os.fspath(msg)))
        original, attempt = parse_queued(name, self.message_extension)
        return os.path.join(self.path, wip_name(original, self.owner, attempt))

    def original_filename_from_wip(self, msg: str | os.PathLike[str]) -> str:
        """The path in the queue folder of the message whose wip name is ``msg``.

        Exact for any owner, whatever its PID length; ValueError names a non-wip name.
        """
        return os.path.join(self.path, self._parse_wip(msg).original)

    def _parse_wip(self, msg: str | os.PathLike[str]) -> Wip:
        name = os.path.basename(os.fspath(msg))
        wip = parse_wip(name)
        if wip is None or not wip.original.endswith(self.message_extension):
            raise ValueError(f"not a work-in-progress file of this queue: {os.fspath(msg)!r}")
        return wip

    def _names(self, kind: Kind) -> list[str]:
        ext = self.message_extension
        return [n for n in os.listdir(self.path) if classify(n, ext) is kind]

    def _restore(self, name: str) -> str | None:
        """Rename wip file ``name`` back to its queued name; its path, or None if it cannot be."""
        wip = self._parse_wip(name)
        src = os.path.join(self.path, name)
        dst = os.path.join(
            self.path, queued_name(wip.original, wip.attempt, self.message_extension)
        )
        try:
            publish(src, dst)
        except FileNotFoundError:
            return None
        except FileExistsError:
            if os.path.lexists(src):
                log.warning("cannot restore %s: %s exists; left in place", src, dst)
            return None
        release(src)
        sync_dirs(self.durability, self.path)
        log.info("restored %s to %s", src, dst)
        return dst


def _make_folder(path: str, what: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{what} {path!r} exists and is not a directory") from None
