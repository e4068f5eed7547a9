"""The tolerant journal reader: every good record, a torn tail ignored, corruption named."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from typing import Literal, TypeAlias

from persistq.errors import JournalCorruptError
from persistq.journal.codec import HEADER, RecordError, decode_plain_line, decode_record

log = logging.getLogger(__name__)

OnCorrupt: TypeAlias = Literal["raise", "skip"]
"""``raise``: a corrupt record raises JournalCorruptError naming every corrupt line;
``skip``: it is logged as a warning and the good records around it are kept."""


_SNIFF_LINES = 8  # lines looked at to tell a header-damaged journal from a PyMPX one


def _is_zero_fill(line: bytes) -> bool:
    # After a power cut a file may keep its new length but not its data: NUL bytes.
    return b"\x00" in line and not line.strip(b"\x00\n")


def iter_records(
    path: str | os.PathLike[str], *, on_corrupt: OnCorrupt = "raise"
) -> Iterator[tuple[str, ...]]:
    """Yield the fields of each complete record of the journal at ``path``, in order.

    A torn tail (a last line without its LF, or zero-filled lines at the end of the
    file) is ignored: no append that returned wrote it. Any other line that is not a
    valid record is handled as ``on_corrupt`` says; with ``raise`` nothing after the
    first corrupt line is yielded and the error names every corrupt line. Plain PyMPX
    journals (no header, no checksummed record among the first lines) are read line by
    line without checksums; a persistq journal whose header is damaged is not
    (a checksummed record among its first lines gives it away).
    """
    name = os.fspath(path)
    corrupt: list[int] = []
    with open(path, "rb") as f:
        first = f.readline()
        if first == HEADER:
            decode, lines, start = decode_record, iter(f), 2
        elif first and not first.endswith(b"\n") and HEADER.startswith(first):
            return  # torn while its header was being written: it holds nothing
        else:
            head = [first, *(f.readline() for _ in range(_SNIFF_LINES - 1))]
            lines, start = itertools.chain(head, f), 1
            # A damaged header must not turn checksummed records into plain lines.
            checked = first.startswith(HEADER[:9]) or any(_is_record(line) for line in head)
            decode = decode_record if checked else decode_plain_line
        for number, line in _complete_lines(name, lines, start):
            fields = None
            if line is not None:
                try:
                    fields = decode(line)
                except RecordError as exc:
                    log.debug("%s:%d: corrupt record: %s", name, number, exc)
            if fields is None:
                if on_corrupt == "raise":
                    corrupt.append(number)
                else:
                    log.warning("%s:%d: skipped a corrupt record", name, number)
            elif not corrupt:
                yield fields
    if corrupt:
        raise JournalCorruptError(name, corrupt)


def _is_record(line: bytes) -> bool:
    try:
        decode_record(line)
    except RecordError:
        return False
    return line.endswith(b"\n")


def _complete_lines(
    name: str, lines: Iterator[bytes], start: int
) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, line) for every line before the torn tail; a zero-filled
    line that has complete lines after it comes as (number, None): corrupt."""
    zero_fill: list[int] = []
    for number, line in enumerate(lines, start):
        if not line:
            break
        if not line.endswith(b"\n"):
            log.info("%s:%d: ignoring a torn last record", name, number)
            break
        if _is_zero_fill(line):
            zero_fill.append(number)
            continue
        for n in zero_fill:
            yield n, None
        zero_fill.clear()
        yield number, line
    if zero_fill:
        log.info("%s:%d: ignoring a zero-filled tail", name, zero_fill[0])


def read_records(
    path: str | os.PathLike[str], *, on_corrupt: OnCorrupt = "raise"
) -> list[tuple[str, ...]]:
    """Return every complete record of the journal at ``path`` (see :func:`iter_records`)."""
    return list(iter_records(path, on_corrupt=on_corrupt))
