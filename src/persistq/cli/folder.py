"""Reading a folder queue as the commands see it: its entries by kind, the message
extension it uses, and the owners of its claims."""

from __future__ import annotations

import os
from collections.abc import Iterable

import attrs

from persistq.cli.common import CliError, confirm
from persistq.folder.admin import FolderAdmin, owner_state
from persistq.folder.manifest import list_files
from persistq.folder.names import (
    HEARTBEAT_SUFFIX,
    TEMP_SUFFIX,
    Kind,
    classify,
    marker_kind,
    normalize_extension,
    parse_queued,
    parse_wip,
)

__all__ = [
    "DONE_FOLDER",
    "FAILED_FOLDER",
    "SIDE_FILES",
    "Entry",
    "extension_of",
    "infer_extension",
    "is_retry",
    "list_entries",
    "owner_state",
    "refuse_prefix",
    "take_back_claims",
    "wips",
]

DONE_FOLDER = "done"
FAILED_FOLDER = "failed"
SIDE_FILES = (".reason.json", ".output")
"""Files that ``failed/`` holds beside a failed message."""


def infer_extension(files: Iterable[str]) -> str | None:
    """The one message extension among the file names of a queue folder; None when no
    message or claim is there; CliError when they disagree."""
    found: set[str] = set()
    for name in files:
        wip = parse_wip(name)
        if wip is None and (
            name.startswith(".")
            or name.endswith((TEMP_SUFFIX, HEARTBEAT_SUFFIX))
            or marker_kind(name) is not None
        ):
            continue
        ext = os.path.splitext(name if wip is None else wip.original)[1]
        if ext:
            found.add(ext)
    if len(found) > 1:
        raise CliError(
            f"files with extensions {', '.join(sorted(found))}: cannot tell which are the "
            "queue's messages; pass --extension"
        )
    return found.pop() if found else None


def extension_of(path: str, given: str | None) -> str:
    """``--extension`` normalised, or the one that the files of ``path`` use (``.tsv``,
    the library default, for an empty folder)."""
    if given is not None:
        try:
            return normalize_extension(given)
        except ValueError as exc:
            raise CliError(f"--extension: {exc}") from None
    try:
        ext = infer_extension(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))
    except CliError as exc:
        raise CliError(f"{path}: {exc}") from None
    return ext or ".tsv"


def take_back_claims(admin: FolderAdmin, *, everything: bool, yes: bool) -> list[str]:
    """Give back the claims of dead owners; with ``everything``, of live (and remote)
    owners too, after asking (``yes``: without asking). Return the queued paths."""
    live = sorted(
        {f"{c.wip.owner.host}:{c.wip.owner.pid}" for c in admin.claims() if c.state != "dead"}
    )
    if everything and live:
        confirm(
            f"{admin.path}: take back claims of processes that may still run "
            f"({', '.join(live)})? Only if nothing is running",
            yes=yes,
        )
    return admin.take_back(live=everything)


def refuse_prefix(path: str, prefix: str | None) -> None:
    """CliError if ``--prefix`` was given for folder queue ``path`` (it names journals)."""
    if prefix is not None:
        raise CliError(
            f"{path}: --prefix {prefix!r} names journals of a pickup directory, and this is "
            "a folder queue (no journals here); drop --prefix"
        )


@attrs.frozen
class Entry:
    """A file of a queue folder and the time it last changed state (its ctime: a claim
    is a rename, which sets it)."""

    name: str
    changed: float


def list_entries(path: str) -> list[Entry]:
    """The files of folder ``path`` (not subfolders), sorted; [] if it does not exist."""
    return sorted((Entry(name, st.st_ctime) for name, st in list_files(path)), key=lambda e: e.name)


def wips(path: str, extension: str) -> list[str]:
    """The names of the claimed (wip) files of queue folder ``path``."""
    return [n for n in sorted(os.listdir(path)) if classify(n, extension) is Kind.WIP]


def is_retry(name: str, extension: str) -> bool:
    """Whether message ``name`` waits for its second or later attempt."""
    return parse_queued(name, extension)[1] > 1
