"""What the file names of a pickup directory say, before any journal is read.

Per prefix a pickup directory may hold: journals (see ``journal.naming``); the
recovery pointer ``<prefix>_recovering_from.json`` (written by a run that recovers
another directory, before it journals that work again); ``<prefix>_recovered_by.json``
(written into the recovered directory once a later run journalled its work);
``<prefix>_compaction.json`` (the commit record of a compaction, naming the journal it
publishes and those it supersedes); and ``.part`` temporaries of journals being
written whole. Everything here is a pure function of names, except the JSON reads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

import attrs

from persistq.errors import PersistqError
from persistq.folder.tempnames import temp_final
from persistq.journal.naming import JournalKind, JournalName, parse_journal_name
from persistq.journal.opening import open_regular

PART = ".part"
"""Suffix of a journal written whole under a temporary name, then linked in."""

_KIND_AT = re.compile(r"_(?:requested|completed)_PID")
_SIDE_FILE = re.compile(r"(.+)_(recovering_from|recovered_by|compaction)\.json\Z", re.DOTALL)


def pointer_file_name(prefix: str) -> str:
    """Name of the file in which a recovering run names the directory it recovers."""
    return f"{prefix}_recovering_from.json"


def recovered_by_file_name(prefix: str) -> str:
    """Name of the file in which a recovered directory names the run that took its work."""
    return f"{prefix}_recovered_by.json"


def compaction_file_name(prefix: str) -> str:
    """Name of the file that commits a compaction of ``prefix``'s journals."""
    return f"{prefix}_compaction.json"


def split_journal_name(name: str) -> tuple[str, JournalName] | None:
    """The prefix and meaning of journal file ``name`` (None if it is none). A prefix may
    itself hold ``_requested_PID``: the longest prefix that parses wins."""
    for match in reversed(list(_KIND_AT.finditer(name))):
        prefix = name[: match.start()]
        parsed = parse_journal_name(name, prefix) if prefix else None
        if parsed is not None:
            return prefix, parsed
    return None


def prefix_of(name: str) -> str | None:
    """The prefix that file ``name`` belongs to, if it is a file of a pickup directory."""
    side = _SIDE_FILE.match(name)
    if side is not None:
        return side.group(1)
    journal = split_journal_name(name[: -len(PART)] if name.endswith(PART) else name)
    return None if journal is None else journal[0]


def prefixes(names: Iterable[str]) -> list[str]:
    """The prefixes that the files ``names`` of a directory belong to, sorted."""
    return sorted({p for p in map(prefix_of, names) if p is not None})


def free_name(directory: str, name: str, separator: str = "") -> str:
    """``name``, or ``<stem><separator><n><ext>`` for the first n >= 2 that is free in
    ``directory`` (neither it nor its ``.part`` temporary exists)."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while os.path.lexists(os.path.join(directory, candidate)) or os.path.lexists(
        os.path.join(directory, candidate + PART)
    ):
        n += 1
        candidate = f"{stem}{separator}{n}{ext}"
    return candidate


def read_json(path: str, what: str) -> dict[str, Any] | None:
    """The JSON object at ``path``, None if there is no file; PersistqError if corrupt."""
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        with open(fd, encoding="utf-8") as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PersistqError(
            f"{path}: corrupt {what}: {exc}; remove it only if you know which run wrote it"
        ) from exc
    if not isinstance(data, dict):
        raise PersistqError(f"{path}: corrupt {what}: not a JSON object")
    return data


def read_directory_field(path: str, what: str, key: str) -> str | None:
    """The directory named by ``key`` in JSON file ``path`` (None without the file)."""
    data = read_json(path, what)
    if data is None:
        return None
    value = data.get(key)
    if not isinstance(value, str):
        raise PersistqError(f"{path}: corrupt {what}: no {key}")
    return value


@attrs.frozen
class Compaction:
    """A committed compaction: ``temporary`` is linked as ``journal``, and the
    ``superseded`` journals no longer count, even before they are removed."""

    journal: str
    temporary: str
    superseded: frozenset[str]


def read_compaction(directory: str, prefix: str) -> Compaction | None:
    """The committed, unfinished compaction of ``prefix`` in ``directory``, if any."""
    path = os.path.join(directory, compaction_file_name(prefix))
    data = read_json(path, "compaction record")
    if data is None:
        return None
    journal, temporary, superseded = (data.get(k) for k in ("journal", "temporary", "superseded"))
    names = [journal, temporary, *(superseded if isinstance(superseded, list) else [None])]
    if not all(isinstance(n, str) and n == os.path.basename(n) and n != ".." for n in names):
        raise PersistqError(f"{path}: corrupt compaction record: bad file names {names!r}")
    return Compaction(str(journal), str(temporary), frozenset(str(n) for n in names[2:]))


@attrs.frozen
class JournalFile:
    """One journal that counts: its file name in the directory and what the name says."""

    name: str
    parsed: JournalName


def journal_files(
    names: Iterable[str], prefix: str, compaction: Compaction | None
) -> list[JournalFile]:
    """The journals of ``prefix`` among ``names`` that count, in reading order (requeued
    work first, then by writer): those a committed compaction supersedes are left out,
    and its journal counts even before it is linked."""
    listed = set(names)
    found = []
    for name in listed:
        if compaction is not None and name in compaction.superseded:
            continue
        parsed = parse_journal_name(name, prefix)
        if parsed is not None and split_journal_name(name) == (prefix, parsed):
            found.append(JournalFile(name, parsed))
    if compaction is not None and compaction.journal not in listed:
        parsed = parse_journal_name(compaction.journal, prefix)
        if parsed is not None:  # committed, not yet linked: read it under its temporary name
            found.append(JournalFile(compaction.temporary, parsed))
    return sorted(found, key=lambda j: (j.parsed.sort_key(), j.name))


def of_kind(journals: Iterable[JournalFile], kind: JournalKind) -> list[JournalFile]:
    """The journals of ``kind`` among ``journals``, in the same order."""
    return [j for j in journals if j.parsed.kind == kind]


def temporaries(names: Iterable[str], prefix: str, compaction: Compaction | None) -> list[str]:
    """The temporaries of ``prefix`` among ``names`` that no committed compaction needs:
    ``.part`` journals, and the ``.pqtmp`` files of its JSON side files, left by a killed
    compaction, requeue or recovery unless their writer still runs."""
    keep = compaction.temporary if compaction is not None else None
    side_files = {
        name(prefix) for name in (pointer_file_name, recovered_by_file_name, compaction_file_name)
    }
    return sorted(
        name
        for name in names
        if (
            name.endswith(PART)
            and name != keep
            and parse_journal_name(name[: -len(PART)], prefix) is not None
            and prefix_of(name) == prefix
        )
        or temp_final(name) in side_files
    )
