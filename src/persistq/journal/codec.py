"""The journal record codec: lists of text fields to checksummed lines and back.

Pure functions, no I/O. A persistq journal starts with ``HEADER``; every record
after it is one line::

    <crc32 of payload, 8 lowercase hex digits> TAB <payload> LF

where the payload is the fields, each escaped (backslash, tab, LF, CR), joined by
tabs. A journal without the header is a plain PyMPX journal: each line is the
fields joined by tabs, unescaped and unchecked.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Final

from persistq.errors import RecordError

__all__ = [
    "HEADER",
    "RecordError",
    "checked_payloads",
    "decode_payload",
    "decode_payloads",
    "decode_record",
    "decode_text_record",
    "encode_payload",
    "encode_record",
    "encode_text_record",
    "escape_field",
    "frame_payload",
    "plain_payload",
    "record_payload",
    "unescape_field",
]

HEADER: Final = b"#persistq-journal 1\n"
"""First line of every journal persistq writes."""

_UNESCAPES: Final = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_CRC_WIDTH: Final = 8
_FRAME: Final = _CRC_WIDTH + 1  # the checksum and its tab, before the payload
_crc32: Final = zlib.crc32


def escape_field(field: str) -> str:
    """Return ``field`` with backslash, tab, LF and CR escaped (a scan in C per
    character escaped, a replace only for those present: about 0.1 µs for a file name)."""
    if "\\" in field:
        field = field.replace("\\", "\\\\")
    if "\t" in field:
        field = field.replace("\t", "\\t")
    if "\n" in field:
        field = field.replace("\n", "\\n")
    if "\r" in field:
        field = field.replace("\r", "\\r")
    return field


def unescape_field(text: str) -> str:
    """Invert :func:`escape_field`; raise RecordError on a malformed escape or an
    unescaped tab, LF or CR."""
    if "\t" in text or "\n" in text or "\r" in text:
        raise RecordError(f"unescaped control character in field {text!r}")
    return _unescape(text) if "\\" in text else text


def _unescape(text: str) -> str:
    """Undo the escapes of ``text`` (no raw tab, LF or CR in it) with a few scans in C,
    no loop per character: cut at each escaped backslash (the leftmost pair of
    backslashes always is one), undo the other escapes in each piece and join the
    pieces with backslashes; a backslash left in a piece starts no valid escape."""
    if "\\\\" not in text:
        return _unescape_piece(text, text)
    return "\\".join([_unescape_piece(piece, text) for piece in text.split("\\\\")])


def _unescape_piece(piece: str, text: str) -> str:
    if "\\t" in piece:
        piece = piece.replace("\\t", "\t")
    if "\\n" in piece:
        piece = piece.replace("\\n", "\n")
    if "\\r" in piece:
        piece = piece.replace("\\r", "\r")
    if "\\" in piece:
        raise RecordError(f"bad escape at offset {_bad_escape(text)} in field {text!r}")
    return piece


def _bad_escape(text: str) -> int:
    """The offset of the first malformed escape in ``text`` (for the error message)."""
    i = text.find("\\")
    while i >= 0 and text[i + 1 : i + 2] in _UNESCAPES:
        i = text.find("\\", i + 2)
    return i


def encode_payload(fields: Sequence[str]) -> bytes:
    """Return the payload of a record: the fields escaped and joined by tabs.

    Equal field lists have equal payloads, so payloads can stand for messages."""
    if not fields:
        raise RecordError("a record needs at least one field")
    text = escape_field(fields[0]) if len(fields) == 1 else "\t".join(map(escape_field, fields))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _not_utf8(exc) from None


def _not_utf8(exc: UnicodeEncodeError) -> RecordError:
    return RecordError(
        f"field text {exc.object[exc.start : exc.end]!r} cannot be written as UTF-8 "
        f"({exc.reason}: a lone surrogate?)"
    )


def frame_payload(payload: bytes) -> bytes:
    """Return the journal line (with its checksum and trailing LF) for a payload."""
    return b"%08x\t%s\n" % (zlib.crc32(payload), payload)


def encode_record(fields: Sequence[str]) -> bytes:
    """Return the journal line (with its trailing LF) for a non-empty list of fields."""
    return frame_payload(encode_payload(fields))


def encode_text_record(text: str) -> bytes:
    """Return ``encode_record([text])`` in one step: the journal line of a one-field
    record (the per-message path of a str message)."""
    try:
        payload = escape_field(text).encode()  # UTF-8
    except UnicodeEncodeError as exc:
        raise _not_utf8(exc) from None
    return b"%08x\t%s\n" % (_crc32(payload), payload)


def decode_text_record(line: bytes) -> str:
    """Return the ``text`` that ``encode_text_record(text)`` made ``line`` of, without
    checking its checksum: for a line that never left memory (a message carried from
    ``put`` to its consumer as its journal line)."""
    text = line[_FRAME:-1].decode("utf-8")
    return _unescape(text) if "\\" in text else text


def checked_payloads(lines: Sequence[bytes]) -> list[bytes]:
    """The payloads of those ``lines`` (without LF) whose checksum matches, in order
    (the reader's per-record path: one comprehension, no call per line)."""
    crc32 = zlib.crc32
    return [p for line in lines if b"%08x\t" % crc32(p := line[_FRAME:]) == line[:_FRAME]]


def record_payload(line: bytes) -> bytes:
    """Return the payload of one checksummed line (with or without its LF)."""
    if line[-1:] == b"\n":
        line = line[:-1]
    payload = line[_FRAME:]
    if line[_CRC_WIDTH : _CRC_WIDTH + 1] != b"\t":
        raise RecordError("record is too short or lacks its checksum")
    if b"%08x" % zlib.crc32(payload) != line[:_CRC_WIDTH]:
        raise RecordError("record checksum does not match its payload")
    return payload


def plain_payload(line: bytes) -> bytes:
    """Return the payload that one plain PyMPX line (with or without its line end) means."""
    if line[-1:] == b"\n":
        line = line[:-1]
    if line[-1:] == b"\r":
        line = line[:-1]
    if b"\x00" in line and not line.strip(b"\x00"):
        raise RecordError("line is zero fill, not a record")
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"line is not UTF-8 (Latin-1?): {exc}") from None
    if b"\\" in line or b"\r" in line:
        line = line.replace(b"\\", b"\\\\").replace(b"\r", b"\\r")
    return line


def decode_payload(payload: bytes) -> tuple[str, ...]:
    """Return the fields of a payload (see :func:`encode_payload`)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"record is not UTF-8: {exc}") from None
    if "\\" in text or "\r" in text or "\n" in text:
        return tuple([unescape_field(f) for f in text.split("\t")])
    return tuple(text.split("\t"))


def decode_payloads(payloads: Sequence[bytes]) -> list[tuple[str, ...]]:
    """Return the fields of each payload, as :func:`decode_payload` does; payloads with
    no tab and nothing escaped (one plain field each, the common case) are decoded
    together."""
    if payloads:
        joined = b"\n".join(payloads)
        if b"\t" not in joined and b"\\" not in joined and b"\r" not in joined:
            try:
                return [(text,) for text in joined.decode("utf-8").split("\n")]
            except UnicodeDecodeError:
                pass  # one by one, so that the error names the payload
    return list(map(decode_payload, payloads))


def decode_record(line: bytes) -> tuple[str, ...]:
    """Return the fields of one checksummed line (with or without its LF)."""
    return decode_payload(record_payload(line))
