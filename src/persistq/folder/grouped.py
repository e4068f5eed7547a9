"""The grouped reader: hands out one complete group of files at a time, claimed whole."""

from __future__ import annotations

import heapq
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Unpack

import attrs

from persistq.folder.names import Kind, Owner, parse_queued, parse_wip, queued_name
from persistq.folder.readable import FolderReader, ReaderOptions
from persistq.folder.recovery import Abandoned
from persistq.folder.view import FolderView
from persistq.sentinels import FAILED, Sentinel

log = logging.getLogger(__name__)

NameFunction = Callable[[str], Any]


def _identity(name: str) -> str:
    return name


class GroupIndex:
    """Message names by group key and item; pops complete groups in group-key order."""

    def __init__(self, group_of: Callable[[str], tuple[Any, str] | None], size: int) -> None:
        self._group_of = group_of
        self._size = size
        self._groups: dict[Any, dict[str, str]] = {}
        self._where: dict[str, tuple[Any, str]] = {}
        self._complete: list[Any] = []

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, name: object) -> bool:
        return name in self._where

    def add(self, name: str) -> bool:
        """Add ``name`` if it is an item of some group; True if it was new."""
        if name in self._where:
            return False
        place = self._group_of(name)
        if place is None:
            return False
        key, item = place
        group = self._groups.setdefault(key, {})
        if item in group:
            log.warning("%s and %s are the same item of group %r", group[item], name, key)
            return False
        group[item] = name
        self._where[name] = place
        if len(group) == self._size:
            heapq.heappush(self._complete, key)
        return True

    def discard(self, name: str) -> None:
        """Forget ``name``."""
        place = self._where.pop(name, None)
        if place is not None:
            key, item = place
            group = self._groups[key]
            del group[item]
            if not group:
                del self._groups[key]

    def replace(self, names: Iterable[str]) -> list[str]:
        """Make the index hold exactly ``names`` (those that are items); return the new ones."""
        wanted = set(names)
        for name in [n for n in self._where if n not in wanted]:
            self.discard(name)
        return [n for n in wanted if self.add(n)]

    def _is_complete(self, key: Any) -> bool:
        return len(self._groups.get(key, ())) == self._size

    def ready(self) -> bool:
        """Whether some group has every item."""
        while self._complete and not self._is_complete(self._complete[0]):
            heapq.heappop(self._complete)
        return bool(self._complete)

    def pop_batch(self) -> list[str] | None:
        """Remove and return the names of the first complete group, sorted; None if none."""
        if not self.ready():
            return None
        key = heapq.heappop(self._complete)
        names = sorted(self._groups.pop(key).values())
        for name in names:
            del self._where[name]
        return names

    def lost_race(self) -> None:
        """Another reader claimed the group just popped: the next complete group is tried."""

    def set_aside(self) -> bool:
        """Never: groups are not set aside."""
        return False

    def incomplete(self) -> list[Any]:
        """The keys of groups that lack items."""
        return [k for k in self._groups if not self._is_complete(k)]


@attrs.define
class _OpenGroup:
    """A group this process claimed: its wip paths, and which are resolved (True: failed)."""

    wips: tuple[str, ...]
    resolved: dict[str, bool] = attrs.field(factory=dict)


class ReadableGroupedFileFolderQueue(FolderReader):
    """Claims one complete group of files at a time: every item of
    ``list_of_items_in_group`` present for one ``grouping_function`` key.

    ``grouping_function`` and ``item_function`` receive a message's base file name.
    Files are claimed in sorted order, so two readers never split a group; a partly
    claimed group is rolled back. When every producer has closed, ``get`` returns DONE
    even if incomplete groups remain (they stay in the folder, and a warning names them).
    Keyword options as for :class:`FolderReader`.

    A claimed group is finished or redone as a whole: ``task_done`` of its files moves
    them only once every file of the group is done (or failed), so a consumer killed
    between those calls leaves the whole group claimed, and it is redone. A consumer
    killed while moving a finished group leaves part of it claimed; recovery finishes
    that part instead of queueing it alone.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message_extension: str = ".tsv",
        task_done_directory: str | os.PathLike[str] | None = None,
        grouping_function: NameFunction = _identity,
        item_function: NameFunction = _identity,
        list_of_items_in_group: Sequence[str] | None = None,
        **options: Unpack[ReaderOptions],
    ) -> None:
        items = frozenset(list_of_items_in_group or ())
        if not items:
            raise ValueError("list_of_items_in_group must name at least one item")
        self.grouping_function = grouping_function
        self.item_function = item_function
        self.list_of_items_in_group = sorted(items)
        super().__init__(
            path,
            message_extension,
            task_done_directory,
            **options,
        )
        self._open: dict[str, _OpenGroup] = {}
        """The groups this process claimed and has not finished, by wip path."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_open"] = {}  # claims belong to the process that made them
        return state

    def _group_of(self, name: str) -> tuple[Any, str] | None:
        original = parse_queued(name, self.message_extension)[0]
        try:
            key = self.grouping_function(original)
            item = self.item_function(original)
        except Exception:
            log.warning(
                "grouping or item function failed on %r; ignoring it", original, exc_info=True
            )
            return None
        if item not in self.list_of_items_in_group:
            return None
        return key, item

    def new_index(self) -> GroupIndex:
        """A fresh index of this reader's groups."""
        return GroupIndex(self._group_of, len(self.list_of_items_in_group))

    def finishing(self, view: FolderView) -> None:
        """Before DONE: warn of the incomplete groups left in the folder."""
        index = view.index
        if isinstance(index, GroupIndex) and len(index):
            log.warning("incomplete groups left in %s: %r", self.path, index.incomplete()[:20])

    def get(self, timeout: float | None = None) -> list[str] | Sentinel:
        """The wip paths of one complete group (claimed whole), DONE or FAILED.

        ``timeout`` in milliseconds; ``queue.Empty`` when it passes.
        """
        result = self._get(timeout)
        if isinstance(result, list):
            group = _OpenGroup(tuple(self._key(wip) for wip in result))
            for wip in group.wips:
                self._open[wip] = group
        return result

    def _key(self, wip_path: str | os.PathLike[str]) -> str:
        return os.path.join(self.path, os.path.basename(os.fspath(wip_path)))

    def task_done(self, wip_path: str | os.PathLike[str]) -> str | None:
        """Mark a file of a claimed group done. The group's files move (to
        ``task_done_directory``, or are deleted) when the last of them is done; returns
        this file's new path then, else None. A file not claimed as part of a group by
        this process is finished at once."""
        return self._resolve(self._key(wip_path), None)

    def task_failed(self, wip_path: str | os.PathLike[str], reason: str) -> str:
        """Give up on one file of a claimed group now (as :meth:`FolderReader.task_failed`);
        the group's done files move once every file of it is done or failed."""
        where = super().task_failed(wip_path, reason)
        self._resolve(self._key(wip_path), where)
        return where

    def _resolve(self, wip: str, failed_to: str | None) -> str | None:
        group = self._open.get(wip)
        if group is None:
            return super().task_done(wip) if failed_to is None else failed_to
        group.resolved[wip] = failed_to is not None
        if len(group.resolved) < len(group.wips):
            return None
        moved: str | None = None
        for member in group.wips:
            del self._open[member]
            if not group.resolved[member]:
                path = super().task_done(member)
                moved = path if member == wip else moved
        return moved

    def _settle(self, claims: list[Abandoned]) -> list[Abandoned]:
        """Finish the claims of a group whose dead owner holds only part of it while
        the rest is not queued (it died moving the finished group); the others go back
        to the queue (a group is claimed in order, so a claim cut short leaves the rest
        of the group queued)."""
        groups: dict[tuple[Owner, Any], list[Abandoned]] = defaultdict(list)
        back: list[Abandoned] = []
        for claim in claims:
            wip = parse_wip(claim.wip)
            assert wip is not None  # abandoned() only lists wip names
            queued = queued_name(wip.original, wip.attempt, self.message_extension)
            place = self._group_of(queued)
            if place is None:
                back.append(claim)
            else:
                groups[(claim.owner, place[0])].append(claim)
        size = len(self.list_of_items_in_group)
        waiting = {p[0] for n in self._names(Kind.MESSAGE) if (p := self._group_of(n))}
        for (_, key), members in groups.items():
            if len(members) >= size or key in waiting:  # whole, or killed while claiming
                back.extend(members)
                continue
            log.warning(
                "finishing %d file(s) of group %r in %s: %s while moving the done group",
                len(members),
                key,
                self.path,
                members[0].why,
            )
            for claim in members:
                claimed = os.path.join(self.path, claim.wip)
                try:
                    super().task_done(claimed)
                except FileNotFoundError:
                    if os.path.lexists(claimed):
                        raise
                    # another reader finished it first (both saw the dead owner's claims)
        return back

    def mark_all_work_done(self) -> None:
        """Claim and finish (``task_done``) every complete group until DONE."""
        for group in self:
            for wip in group:
                self.task_done(wip)

    def __iter__(self) -> ReadableGroupedFileFolderQueue:
        return self

    def __next__(self) -> list[str]:
        msg = self.get()
        if msg is FAILED:
            error = self._failure()
            self.dispose()
            raise error
        if isinstance(msg, list):
            return msg
        self.dispose()
        raise StopIteration
