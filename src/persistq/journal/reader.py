"""The tolerant journal reader: every good record, a torn tail ignored, corruption named."""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO, Literal, TypeAlias

from persistq.errors import JournalCorruptError
from persistq.journal.codec import (
    HEADER,
    RecordError,
    checked_payloads,
    decode_payloads,
    plain_payload,
    record_payload,
)
from persistq.journal.opening import open_regular

log = logging.getLogger(__name__)

OnCorrupt: TypeAlias = Literal["raise", "skip"]
"""``raise``: a corrupt record raises JournalCorruptError naming every corrupt line;
``skip``: it is logged as a warning and the good records around it are kept."""

_SNIFF_LINES = 32  # lines looked at to tell a header-damaged journal from a PyMPX one
_BLOCK = 1 << 20


def iter_payload_blocks(
    path: str | os.PathLike[str],
    *,
    on_corrupt: OnCorrupt = "raise",
    skipped: list[int] | None = None,
) -> Iterator[list[bytes]]:
    """Yield, a block at a time, the payload (see ``codec.encode_payload``) of each
    complete record of the journal at ``path``, in order.

    A torn tail (a last line without its LF, or zero-filled lines at the end of the
    file) is ignored: no append that returned wrote it. Any other line that is not a
    valid record is handled as ``on_corrupt`` says; with ``raise`` nothing after the
    first corrupt line is yielded and the error names every corrupt line. Plain PyMPX
    journals (no header, no checksummed record among the first lines) are read line by
    line without checksums (a line that is not UTF-8 is corrupt; lines may end in LF,
    CR LF or CR alone); a persistq journal whose header is damaged is not. Only a
    regular file is opened (NotRegularFileError otherwise, never a hang on a FIFO).
    With ``skip``, the numbers of the skipped lines are added to ``skipped`` if given.
    """
    name = os.fspath(path)
    corrupt: list[int] = []
    zero_fill: list[int] = []  # held back: corrupt if good lines follow, torn tail if not
    with open(open_regular(name, os.O_RDONLY), "rb") as f:
        checked, number = _sniff(f)
        if checked is None:
            return
        payload_of = _checked_or_none if checked else _plain_or_none
        for lines in _blocks(name, f, b"\n" if checked else _line_end(f)):
            if checked:  # the common case, kept tight: every journal line passes here
                good = checked_payloads(lines)
            else:
                good = [p for p in map(payload_of, lines) if p is not None]
            if len(good) != len(lines) or zero_fill:
                good = _sift(name, lines, number, payload_of, zero_fill, corrupt, on_corrupt)
            number += len(lines)
            if not corrupt or on_corrupt == "skip":
                yield good
    if zero_fill:
        log.info("%s:%d: ignoring a zero-filled tail", name, zero_fill[0])
    if corrupt and on_corrupt == "raise":
        raise JournalCorruptError(name, corrupt)
    if skipped is not None:
        skipped.extend(corrupt)


def iter_records(
    path: str | os.PathLike[str], *, on_corrupt: OnCorrupt = "raise"
) -> Iterator[tuple[str, ...]]:
    """Yield the fields of each complete record of the journal at ``path``, in order
    (torn tails and corruption as :func:`iter_payload_blocks` says)."""
    for block in iter_payload_blocks(path, on_corrupt=on_corrupt):
        yield from decode_payloads(block)


def _sift(
    name: str,
    lines: list[bytes],
    number: int,
    payload_of: Callable[[bytes], bytes | None],
    zero_fill: list[int],
    corrupt: list[int],
    on_corrupt: OnCorrupt,
) -> list[bytes]:
    """The good payloads of a block that holds bad lines, reporting those."""
    good: list[bytes] = []
    for line in lines:
        number += 1
        payload = payload_of(line)
        if payload is not None:
            if zero_fill:
                _report(name, zero_fill, corrupt, on_corrupt)
            good.append(payload)
            continue
        zero_fill.append(number)
        if b"\x00" not in line or line.strip(b"\x00"):
            log.debug("%s:%d: corrupt record", name, number)
            _report(name, zero_fill, corrupt, on_corrupt)
    return good


def _checked_or_none(line: bytes) -> bytes | None:
    try:
        return record_payload(line)
    except RecordError:
        return None


def _plain_or_none(line: bytes) -> bytes | None:
    try:
        return plain_payload(line)
    except RecordError:
        return None


def _sniff(f: BinaryIO) -> tuple[bool | None, int]:
    """Position ``f`` at its first record; return whether its records are checksummed
    and the line number before that record (None when the journal holds nothing)."""
    first = f.readline()
    if first == HEADER:
        return True, 1
    if first and not first.endswith(b"\n") and HEADER.startswith(first):
        return None, 0  # torn while its header was being written: it holds nothing
    head = [first, *(f.readline() for _ in range(_SNIFF_LINES - 1))]
    f.seek(0)
    # A damaged header must not turn checksummed records into plain lines.
    return _looks_like_header(first) or any(_is_record(line) for line in head), 0


def _looks_like_header(line: bytes) -> bool:
    start = line[: len(HEADER) + 8]
    return difflib.SequenceMatcher(None, start, HEADER, autojunk=False).ratio() > 0.6


def _is_record(line: bytes) -> bool:
    try:
        record_payload(line)
    except RecordError:
        return False
    return line.endswith(b"\n")


def _line_end(f: BinaryIO) -> bytes:
    """The line end of a plain journal: CR where its first block holds CRs and no LF
    (an old Mac editor's file), else LF (CR LF lines lose their CR in ``plain_payload``)."""
    start = f.tell()
    head = f.read(_BLOCK)
    f.seek(start)
    return b"\r" if b"\r" in head and b"\n" not in head else b"\n"


def _blocks(name: str, f: BinaryIO, end: bytes) -> Iterator[list[bytes]]:
    """Yield the complete lines (without their ``end``) of ``f``, a block at a time; a
    last line without its line end is a torn record and is dropped."""
    rest = b""
    while block := f.read(_BLOCK):
        lines = (rest + block).split(end)
        rest = lines.pop()
        yield lines
    torn = rest.rstrip(b"\0")  # zeros alone are the space a mapped journal reserved
    if torn:
        log.info("%s: ignoring a torn last record of %d bytes", name, len(torn))


def _report(name: str, numbers: list[int], corrupt: list[int], on_corrupt: OnCorrupt) -> None:
    if on_corrupt == "skip":
        for n in numbers:
            log.warning("%s:%d: skipped a corrupt record", name, n)
    corrupt.extend(numbers)
    numbers.clear()


def read_records(
    path: str | os.PathLike[str], *, on_corrupt: OnCorrupt = "raise"
) -> list[tuple[str, ...]]:
    """Return every complete record of the journal at ``path`` (see :func:`iter_records`)."""
    return list(iter_records(path, on_corrupt=on_corrupt))
