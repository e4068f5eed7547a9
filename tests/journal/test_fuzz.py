"""Random damage to a journal: reading keeps every intact record or names the file.

The damage is bounded (a few edits of a few dozen bytes in a journal of a dozen
records or more): a journal damaged beyond recognition, header and every record gone,
cannot be told from a plain PyMPX journal, which persistq must also read.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from persistq.errors import JournalCorruptError
from persistq.journal.codec import HEADER, encode_record
from persistq.journal.reader import read_records

fields = st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=3)


@st.composite
def damaged_journal(draw: st.DrawFn) -> tuple[list[tuple[str, ...]], bytes, bytes]:
    records = [tuple(r) for r in draw(st.lists(fields, min_size=12, max_size=30))]
    original = HEADER + b"".join(encode_record(r) for r in records)
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "zeros"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 24))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=24))
        elif kind == "truncate":
            del data[len(data) - draw(st.integers(1, 24)) :]
        else:
            data.extend(b"\x00" * draw(st.integers(1, 64)))
    return records, original, bytes(data)


def intact(records: list[tuple[str, ...]], data: bytes) -> Counter[tuple[str, ...]]:
    """Records whose whole line still stands, with its line ends, in ``data``."""
    found: Counter[tuple[str, ...]] = Counter()
    for record in set(records):
        found[record] = data.count(b"\n" + encode_record(record))
    return found


@settings(max_examples=300, deadline=None)
@given(damaged_journal())
def test_damage_keeps_every_intact_record_or_names_the_file(
    case: tuple[list[tuple[str, ...]], bytes, bytes],
) -> None:
    records, _, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items_requested_PID1.tsv"
        path.write_bytes(data)
        kept = read_records(path, on_corrupt="skip")
        assert set(kept) <= set(records), "a record was invented from damage"
        assert Counter(kept) >= intact(records, data), "an intact record was lost"
        try:
            strict = read_records(path)
        except JournalCorruptError as exc:
            assert exc.path == str(path)
            assert exc.line_numbers
        else:
            assert strict == kept
