"""A str message is encoded once: it travels to its consumer as its journal line, and
task_done journals that line as it came (the codec's round trip makes it the same str)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import attrs
import pytest

from persistq import PersistentQueue
from persistq._transport import MAX_CARRIED
from persistq.journal import read_records
from persistq.messages import MessageCodec

AWKWARD = ["file_000001.tsv\t2026-11-01", "back\\slash\\t", "cr\rlf\n", "plain", "", "ünï☃"]


@attrs.frozen
class CountingCodec(MessageCodec):
    """A MessageCodec that counts the journal lines it encodes."""

    calls: list[object] = attrs.field(factory=list, eq=False)

    def record(self, message: object, *, check: bool = True) -> bytes:
        self.calls.append(message)
        return super().record(message, check=check)


def records(directory: Path, kind: str) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for path in sorted(directory.glob(f"*_{kind}_PID*.tsv")):
        found.extend(read_records(path))
    return found


def test_each_str_message_is_encoded_once_and_comes_back_identical(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    q.codec = codec = CountingCodec()
    for message in AWKWARD:
        q.put(message)
    q.close()
    got = []
    for message in q:
        assert type(message) is str
        got.append(message)
        q.task_done(message)
    assert got == AWKWARD
    assert codec.calls == AWKWARD  # at put only: task_done journalled the carried lines
    assert records(tmp_path, "completed") == records(tmp_path, "requested")
    assert records(tmp_path, "completed") == [(m,) for m in AWKWARD]


def test_task_done_of_an_equal_str_journals_the_same_record(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    q.put("a\tb")
    assert q.get(timeout=5) == "a\tb"
    q.task_done("".join(["a", "\t", "b"]))  # equal, not the object taken
    q.join()
    assert records(tmp_path, "completed") == [("a\tb",)]


def test_messages_taken_and_never_done_do_not_pile_up(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path, durability="none")
    n = 10_000
    for i in range(n):
        q.put(f"m{i}\t")
        q.get(timeout=5)
    assert len(q._lines) <= MAX_CARRIED
    for i in range(n):
        q.task_done(f"m{i}\t")
    assert records(tmp_path, "completed") == [(f"m{i}\t",) for i in range(n)]


@pytest.mark.parametrize(
    ("formatters", "converters", "message"),
    [((str,), (int,), 7), ((), (), ("a\tb", "c")), ((), (), ["x", "y"])],
)
def test_other_messages_travel_as_themselves(
    tmp_path: Path, formatters: Any, converters: Any, message: object
) -> None:
    q = PersistentQueue("jobs", tmp_path, formatter_list=formatters, converter_list=converters)
    q.put(message)
    got = q.get(timeout=5)
    assert got == message and type(got) is type(message)
    q.task_done(got)
    assert records(tmp_path, "completed") == records(tmp_path, "requested")


def _consume(q: PersistentQueue, out: Any) -> None:
    for message in q:
        q.task_done(message)
        out.put(message)


def test_consumer_processes_get_the_str_put(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    q = PersistentQueue("jobs", tmp_path, number_of_workers=2, mp_context=ctx)
    out = ctx.Queue()
    procs = [ctx.Process(target=_consume, args=(q, out)) for _ in range(2)]
    for p in procs:
        p.start()
    messages = [f"{m}{i}" for i in range(50) for m in AWKWARD]
    for message in messages:
        q.put(message)
    q.join()
    q.close()
    got = [out.get(timeout=30) for _ in messages]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(got) == sorted(messages)
    assert sorted(records(tmp_path, "completed")) == sorted((m,) for m in messages)


def test_a_bytes_message_with_a_formatter_comes_back_as_itself(tmp_path: Path) -> None:
    """Only a queue whose str messages travel as lines reads bytes as a line: a bytes
    message that a formatter writes as text is delivered as the bytes it was."""
    q = PersistentQueue(
        "blobs", tmp_path, formatter_list=[bytes.decode], converter_list=[str.encode]
    )
    q.put(b"raw bytes")
    got = q.get(timeout=5)
    assert got == b"raw bytes"
    q.task_done(got)
    q.dispose()
    assert records(tmp_path, "completed") == [("raw bytes",)]
