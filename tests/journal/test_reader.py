"""The tolerant reader: a torn tail is ignored, corruption elsewhere is named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from persistq.errors import JournalCorruptError, PersistqError
from persistq.journal.codec import HEADER, encode_record
from persistq.journal.reader import read_records


def write(path: Path, *chunks: bytes) -> Path:
    path.write_bytes(b"".join(chunks))
    return path


def rec(*fields: str) -> bytes:
    return encode_record(fields)


def test_reads_records_in_order(tmp_path: Path) -> None:
    path = write(tmp_path / "j.tsv", HEADER, rec("a"), rec("b", "c"), rec(""))
    assert read_records(path) == [("a",), ("b", "c"), ("",)]


@pytest.mark.parametrize("cut", [1, 5, 9, 12])
def test_a_torn_last_line_is_ignored(tmp_path: Path, cut: int) -> None:
    torn = rec("third record")[:cut]
    path = write(tmp_path / "j.tsv", HEADER, rec("one"), rec("two"), torn)
    assert read_records(path) == [("one",), ("two",)]


def test_a_zero_filled_tail_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path / "j.tsv", HEADER, rec("one"), b"\x00" * 100)
    assert read_records(path) == [("one",)]
    path = write(tmp_path / "k.tsv", HEADER, rec("one"), b"\x00" * 10 + b"\n" + b"\x00" * 5)
    assert read_records(path) == [("one",)]


def test_reserved_zeros_are_not_reported_as_a_torn_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="persistq.journal.reader")
    read_records(write(tmp_path / "j.tsv", HEADER, rec("one"), b"\x00" * 4096))
    assert "torn" not in caplog.text
    read_records(write(tmp_path / "k.tsv", HEADER, rec("one"), rec("two")[:5] + b"\x00" * 99))
    assert "ignoring a torn last record of 5 bytes" in caplog.text


def test_a_torn_header_means_an_empty_journal(tmp_path: Path) -> None:
    assert read_records(write(tmp_path / "j.tsv", HEADER[:7])) == []
    assert read_records(write(tmp_path / "k.tsv")) == []


def test_corrupt_lines_are_named_by_file_and_line(tmp_path: Path) -> None:
    flipped = bytearray(rec("two"))
    flipped[10] ^= 0x01
    path = write(
        tmp_path / "j.tsv",
        HEADER,
        rec("one"),
        bytes(flipped),
        rec("three"),
        b"garbage\n",
        rec("five"),
    )
    with pytest.raises(JournalCorruptError) as info:
        read_records(path)
    assert info.value.path == str(path)
    assert info.value.line_numbers == (3, 5)
    assert str(path) in str(info.value)
    assert "line 3, 5" in str(info.value)
    assert isinstance(info.value, PersistqError)


def test_skip_keeps_every_good_record_around_corruption(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path / "j.tsv",
        HEADER,
        rec("one"),
        b"garbage\n",
        rec("three"),
        b"\x00\x00\n",
        rec("five"),
        rec("six")[:4],
    )
    with caplog.at_level(logging.WARNING):
        assert read_records(path, on_corrupt="skip") == [("one",), ("three",), ("five",)]
    assert f"{path}:3" in caplog.text
    assert f"{path}:5" in caplog.text


def test_a_complete_last_line_that_is_corrupt_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "j.tsv", HEADER, rec("one"), b"deadbeef\tnot it\n")
    with pytest.raises(JournalCorruptError) as info:
        read_records(path)
    assert info.value.line_numbers == (3,)


def test_plain_pympx_journals_are_read(tmp_path: Path) -> None:
    path = write(tmp_path / "j.tsv", b"first.csv\n", b"second.csv\t2\n", b"thi")
    assert read_records(path) == [("first.csv",), ("second.csv", "2")]


def test_a_missing_journal_raises_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_records(tmp_path / "nope.tsv")
