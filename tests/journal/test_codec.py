"""The record codec: exact round trips, checksums that catch damage, PyMPX lines."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistq.journal.codec import (
    RecordError,
    decode_payload,
    decode_payloads,
    decode_record,
    encode_payload,
    encode_record,
    encode_text_record,
    escape_field,
    plain_payload,
    unescape_field,
)

AWKWARD = ["", "plain", "tab\there", "new\nline", "back\\slash", "cr\rlf\r\n", "\\t", "ünï☃", "\\"]


@pytest.mark.parametrize("field", AWKWARD)
def test_a_field_round_trips(field: str) -> None:
    assert unescape_field(escape_field(field)) == field
    assert decode_record(encode_record([field])) == (field,)


def test_fields_round_trip_together() -> None:
    assert decode_record(encode_record(AWKWARD)) == tuple(AWKWARD)


def test_a_record_is_one_line() -> None:
    line = encode_record(AWKWARD)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1


@given(st.lists(st.text(), min_size=1))
def test_any_list_of_fields_round_trips(fields: list[str]) -> None:
    line = encode_record(fields)
    assert line.count(b"\n") == 1
    assert decode_record(line) == tuple(fields)


@given(st.lists(st.lists(st.text(), min_size=1)))
def test_payloads_decode_together_as_they_do_one_by_one(records: list[list[str]]) -> None:
    payloads = [encode_payload(fields) for fields in records]
    assert decode_payloads(payloads) == [tuple(fields) for fields in records]


def test_a_payload_that_is_not_utf8_is_named_when_decoded_with_others() -> None:
    with pytest.raises(RecordError, match="not UTF-8"):
        decode_payloads([b"good", b"bad \xff", b"good"])


@given(st.lists(st.text(), min_size=1), st.data())
def test_any_single_bit_flip_is_detected(fields: list[str], data: st.DataObject) -> None:
    line = bytearray(encode_record(fields)[:-1])
    position = data.draw(st.integers(0, len(line) - 1))
    line[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(RecordError):
        decode_record(bytes(line))


@given(st.lists(st.text(), min_size=1), st.data())
def test_a_truncated_record_is_detected(fields: list[str], data: st.DataObject) -> None:
    line = encode_record(fields)
    cut = data.draw(st.integers(0, len(line) - 2))
    with pytest.raises(RecordError):
        decode_record(line[:cut])


def test_an_empty_record_is_refused() -> None:
    with pytest.raises(RecordError):
        encode_record([])


@pytest.mark.parametrize("bad", ["a\\", "a\\x", "tab\tinside"])
def test_malformed_escapes_are_refused(bad: str) -> None:
    with pytest.raises(RecordError):
        unescape_field(bad)


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        (b"file.csv\n", ("file.csv",)),
        (b"a\tb\t3\n", ("a", "b", "3")),
        (b"windows\r\n", ("windows",)),
        (b"  spaces kept  \n", ("  spaces kept  ",)),
        (b"\n", ("",)),
    ],
)
def test_plain_pympx_lines_split_on_tabs(line: bytes, fields: tuple[str, ...]) -> None:
    assert decode_payload(plain_payload(line)) == fields


# -- escapes: the fast paths agree with the definition ----------------------------------

ESCAPY = st.text(alphabet="\\tnrx\t\n\r\u00e9\u2603")
"""Text dense in backslashes, escape letters and the characters escaped."""
VALID_ESCAPED = re.compile(r"(?:[^\\\t\n\r]|\\[\\tnr])*")
"""What ``escape_field`` can produce: no raw tab/LF/CR, every backslash one escape."""


@given(ESCAPY)
def test_escaping_is_the_four_escapes_and_nothing_else(field: str) -> None:
    escaped = escape_field(field)
    assert VALID_ESCAPED.fullmatch(escaped)
    expected = "".join(
        {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(c, c) for c in field
    )
    assert escaped == expected


@given(st.one_of(ESCAPY, st.text()))
def test_unescape_reads_exactly_what_escape_can_write(text: str) -> None:
    if VALID_ESCAPED.fullmatch(text):
        assert escape_field(unescape_field(text)) == text
    else:
        with pytest.raises(RecordError):
            unescape_field(text)


@pytest.mark.parametrize(
    ("bad", "offset"), [("a\\", "1"), ("a\\x", "1"), ("\\\\\\", "2"), ("\\t\\q", "2")]
)
def test_a_malformed_escape_is_named_by_its_offset(bad: str, offset: str) -> None:
    with pytest.raises(RecordError, match=f"bad escape at offset {offset} "):
        unescape_field(bad)


@pytest.mark.parametrize("raw", ["a\tb\\\\", "cr\r\\t", "lf\n"])
def test_an_unescaped_control_character_is_refused_even_beside_escapes(raw: str) -> None:
    with pytest.raises(RecordError, match="unescaped control character"):
        unescape_field(raw)


ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()))
"""Any code points, lone surrogates included."""


@given(st.one_of(ESCAPY, ANY_TEXT))
def test_a_text_record_is_the_record_of_one_field(text: str) -> None:
    try:
        expected = encode_record([text])
    except RecordError:
        with pytest.raises(RecordError, match="surrogate"):
            encode_text_record(text)
        return
    assert encode_text_record(text) == expected
    assert decode_record(expected) == (text,)


@pytest.mark.parametrize("text", ["lone \ud800", "\udcff", "tab\there \udfff"])
def test_a_lone_surrogate_is_a_record_error(text: str) -> None:
    with pytest.raises(RecordError, match="surrogate"):
        encode_text_record(text)
    with pytest.raises(RecordError, match="surrogate"):
        encode_record(["ok", text])
