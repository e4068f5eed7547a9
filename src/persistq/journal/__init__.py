"""Journals: append-only files of checksummed records, one per process and kind."""

from persistq.journal.codec import HEADER, RecordError, decode_record, encode_record
from persistq.journal.naming import JournalName, journal_file_name, parse_journal_name
from persistq.journal.reader import OnCorrupt, iter_records, read_records
from persistq.journal.writer import JournalWriter

__all__ = [
    "HEADER",
    "JournalName",
    "JournalWriter",
    "OnCorrupt",
    "RecordError",
    "decode_record",
    "encode_record",
    "iter_records",
    "journal_file_name",
    "parse_journal_name",
    "read_records",
]
