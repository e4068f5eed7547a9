"""The appender: durability levels, group commit, and appending after a crash."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from persistq.errors import JournalClosedError, PersistqError
from persistq.journal import storage as writer_module
from persistq.journal.codec import HEADER, encode_record
from persistq.journal.reader import read_records
from persistq.journal.writer import PAGE, RESERVE_CHUNK, JournalWriter
from tests.powerloss import record_syncs


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_record_reaches_the_file_before_append_returns(tmp_path: Path, durability: str) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", durability)  # type: ignore[arg-type]
    writer.append(["a\tb", "c"])
    assert read_records(tmp_path / "j.tsv") == [("a\tb", "c")]
    writer.close()


@pytest.mark.parametrize("durability", ["none", "flush", "fsync"])
def test_records_are_readable_while_the_journal_is_open(tmp_path: Path, durability: str) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", durability)  # type: ignore[arg-type]
    for i in range(3):
        writer.append([f"r{i}"])
    assert read_records(tmp_path / "j.tsv") == [("r0",), ("r1",), ("r2",)]
    writer.close()
    assert read_records(tmp_path / "j.tsv") == [("r0",), ("r1",), ("r2",)]
    assert (tmp_path / "j.tsv").read_bytes().endswith(b"\n")  # trimmed when closed


def test_a_mapped_journal_grows_past_its_first_chunk(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", "flush")
    records = [(f"{i:06d}" + "x" * 200,) for i in range(2 * RESERVE_CHUNK // 200)]
    for record in records:
        writer.append(record)
    writer.close()
    assert read_records(tmp_path / "j.tsv") == records


def test_threads_appending_through_the_line_appender_lose_no_record(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", "flush")
    append = writer.line_appender()
    per_thread = RESERVE_CHUNK // 64  # together, past the first chunk: growth mid-race

    def run(t: int) -> None:
        for i in range(per_thread):
            append(encode_record([f"{t}-{i:06d}-" + "y" * 40]))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    writer.close()
    expected = {(f"{t}-{i:06d}-" + "y" * 40,) for t in range(4) for i in range(per_thread)}
    records = read_records(tmp_path / "j.tsv")
    assert len(records) == len(expected) and set(records) == expected
    with pytest.raises(JournalClosedError, match="j.tsv"):
        append(encode_record(["late"]))


def test_bad_durability_is_named() -> None:
    with pytest.raises(ValueError, match="'sometimes'"):
        JournalWriter("x.tsv", "sometimes")  # type: ignore[arg-type]


def test_append_after_close_raises_naming_the_file(tmp_path: Path) -> None:
    writer = JournalWriter(tmp_path / "j.tsv")
    writer.close()
    with pytest.raises(PersistqError, match="j.tsv"):
        writer.append(["a"])


def test_fsync_syncs_the_file_and_the_directory_on_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = record_syncs(monkeypatch)
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    assert str(tmp_path) in synced
    synced.clear()
    writer.append(["a"])
    assert synced == [str(tmp_path / "j.tsv")]
    writer.close()


def test_flush_never_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    monkeypatch.setattr(writer_module, "sync_data", calls.append)
    writer = JournalWriter(tmp_path / "j.tsv", "flush")
    for i in range(10):
        writer.append([str(i)])
    writer.close()
    assert calls == []


def test_threads_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync
    calls: list[int] = []

    def slow_fsync(fd: int) -> None:
        calls.append(fd)
        threading.Event().wait(0.005)  # a disk that takes 5 ms per flush
        real_fsync(fd)

    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    monkeypatch.setattr(writer_module, "sync_data", slow_fsync)
    threads, per_thread = 8, 25

    def work(t: int) -> None:
        for i in range(per_thread):
            writer.append([f"{t}-{i}"])

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=30)
    writer.close()
    records = read_records(tmp_path / "j.tsv")
    assert sorted(records) == sorted(
        (f"{t}-{i}",) for t in range(threads) for i in range(per_thread)
    )
    assert len(calls) < threads * per_thread / 2


def test_appends_to_an_existing_journal_after_cutting_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "j.tsv"
    path.write_bytes(HEADER + encode_record(["one"]) + encode_record(["two"])[:5])
    writer = JournalWriter(path)
    writer.append(["three"])
    writer.close()
    assert read_records(path) == [("one",), ("three",)]


def test_a_torn_header_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "j.tsv"
    path.write_bytes(HEADER[:4])
    JournalWriter(path).close()
    assert path.read_bytes() == HEADER


def test_refuses_to_append_to_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "pympx_requested_PID1.tsv"
    path.write_bytes(b"a plain line\n")
    with pytest.raises(PersistqError, match="pympx_requested_PID1.tsv"):
        JournalWriter(path)
    assert path.read_bytes() == b"a plain line\n"


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_forked_child_cannot_append_and_closing_its_copy_leaves_the_journal_alone(
    tmp_path: Path, durability: str
) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", durability)  # type: ignore[arg-type]
    writer.append(["before the fork"])
    ready, go = os.pipe()
    refused, report = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.read(ready, 1)  # the parent appends first, then the child tries, then closes
        try:
            writer.append(["from the child"])
            os.write(report, b"appended")
        except PersistqError as exc:
            os.write(report, b"refused" if "j.tsv" in str(exc) else b"unnamed")
        writer.close()
        os._exit(0)
    writer.append(["after the fork"])
    os.write(go, b"x")
    os.waitpid(pid, 0)
    assert os.read(refused, 100) == b"refused"
    writer.append(["after the child closed"])
    writer.close()
    assert read_records(tmp_path / "j.tsv") == [
        ("before the fork",),
        ("after the fork",),
        ("after the child closed",),
    ]


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_full_disk_fails_the_append_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: str
) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", durability)  # type: ignore[arg-type]
    writer.append(["before"])

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "posix_fallocate", no_space)
        with pytest.raises(OSError, match=r"j\.tsv.*No space left") as info:
            writer.append(["x" * (2 * RESERVE_CHUNK)])
    assert info.value.errno == errno.ENOSPC
    writer.append(["after"])  # nothing was written: the journal is still good
    writer.close()
    assert read_records(tmp_path / "j.tsv") == [("before",), ("after",)]


@pytest.mark.parametrize("failing", ["pwrite", "sync"])
def test_after_a_failed_write_or_sync_the_journal_takes_no_more_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    writer.append(["before"])

    def io_error(*args: object) -> int:
        raise OSError(errno.EIO, "Input/output error")

    with monkeypatch.context() as patch:
        if failing == "pwrite":
            patch.setattr(os, "pwrite", io_error)
        else:
            patch.setattr(writer_module, "sync_data", io_error)
        with pytest.raises(OSError, match=r"j\.tsv.*Input/output error") as info:
            writer.append(["lost"])
    assert info.value.errno == errno.EIO
    # A failed fsync may have dropped the page it was syncing: appending more would
    # count on records the disk may not hold.
    with pytest.raises(PersistqError, match=r"j\.tsv.*takes no more records"):
        writer.append(["after"])
    writer.close()
    assert read_records(tmp_path / "j.tsv")[0] == ("before",)


def test_fsync_never_leaves_unsynced_data_in_two_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A power cut may keep a later page and lose an earlier one; so each sync covers
    # data of one page only, and what a cut can lose lies in the last page written.
    path = tmp_path / "j.tsv"
    writer = JournalWriter(path, "fsync")
    synced_end = [len(path.read_bytes().rstrip(b"\0"))]
    spans: list[tuple[int, int]] = []
    real_sync = writer_module.sync_data

    def spy(fd: int) -> None:
        end = len(path.read_bytes().rstrip(b"\0"))
        spans.append((synced_end[0], end))
        synced_end[0] = end
        real_sync(fd)

    monkeypatch.setattr(writer_module, "sync_data", spy)
    writer.append(["x" * (3 * PAGE)])  # one record over four pages
    writer.append_many([[f"{i:04d}" + "y" * 100] for i in range(100)])
    for start, end in spans:
        assert start // PAGE == (end - 1) // PAGE, (start, end)
    assert len(spans) >= 4 + 100 * 106 // PAGE
    writer.close()
    assert len(read_records(path)) == 101


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_space_is_reserved_ahead_and_trimmed_on_close(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "j.tsv"
    writer = JournalWriter(path, durability)  # type: ignore[arg-type]
    writer.append(["a"])
    assert path.stat().st_size == RESERVE_CHUNK
    assert os.stat(path).st_blocks * 512 >= RESERVE_CHUNK  # allocated, not a hole
    writer.close()
    assert path.read_bytes() == HEADER + encode_record(["a"])


def test_close_waits_for_appends_in_flight_and_stops_the_sync_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_sync = writer_module.sync_data

    def slow_sync(fd: int) -> None:
        threading.Event().wait(0.002)
        real_sync(fd)

    monkeypatch.setattr(writer_module, "sync_data", slow_sync)
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    pool = append_from_threads(writer)
    threading.Event().wait(0.01)
    appended = len(read_records(tmp_path / "j.tsv"))
    for th in pool:
        th.join(timeout=30)
    writer.close()
    assert appended < 80  # closed while appends were still running
    assert len(read_records(tmp_path / "j.tsv")) == 80
    assert not [t for t in threading.enumerate() if t.name.startswith("persistq sync")]


def append_from_threads(writer: JournalWriter) -> list[threading.Thread]:
    """Start 4 threads that append 20 records each; return them."""

    def work(t: int) -> None:
        for i in range(20):
            writer.append([f"{t}-{i}"])

    pool = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in pool:
        th.start()
    return pool


def _slow_syncs(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.002) -> None:
    real_sync = writer_module.sync_data

    def slow_sync(fd: int) -> None:
        threading.Event().wait(seconds)
        real_sync(fd)

    monkeypatch.setattr(writer_module, "sync_data", slow_sync)


def test_close_refuses_new_appends_rather_than_wait_for_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_syncs(monkeypatch)
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    stop = threading.Event()
    refused: list[Exception] = []

    def keep_appending(t: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                writer.append([f"{t}-{i}"])
            except JournalClosedError as exc:
                refused.append(exc)
                return
            i += 1

    pool = [threading.Thread(target=keep_appending, args=(t,)) for t in range(4)]
    for th in pool:
        th.start()
    threading.Event().wait(0.05)
    closer = threading.Thread(target=writer.close)
    closer.start()
    closer.join(timeout=5)
    stop.set()
    for th in pool:
        th.join(timeout=5)
    assert not closer.is_alive(), "close() waited for appends that kept coming"
    assert len(refused) == 4
    assert "j.tsv" in str(refused[0])
    read_records(tmp_path / "j.tsv")  # whole


def test_an_interrupted_sync_fails_the_waiting_appends_instead_of_hanging_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    follower_waits = threading.Event()
    real_sync = writer_module.sync_data

    def interrupted_once(fd: int) -> None:
        if threading.current_thread() is threading.main_thread():
            follower_waits.wait(5)
            threading.Event().wait(0.05)  # the follower is in the open batch by now
            raise KeyboardInterrupt
        real_sync(fd)

    monkeypatch.setattr(writer_module, "sync_data", interrupted_once)
    outcome: list[BaseException | None] = []

    def follower() -> None:
        follower_waits.set()
        try:
            writer.append(["follower"])
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=follower)
    with pytest.raises(KeyboardInterrupt):
        threading.Timer(0.01, thread.start).start()
        writer.append(["lead"])
    thread.join(timeout=5)
    assert not thread.is_alive(), "the follower was left waiting"
    # Its record came after the interrupted sync, in a batch of its own: synced, or
    # failed naming the journal if the interruption broke it; never hung.
    assert outcome[0] is None or "j.tsv" in str(outcome[0])
    closer = threading.Thread(target=writer.close)
    closer.start()
    closer.join(timeout=5)
    assert not closer.is_alive()


def test_appends_go_on_without_a_flusher_thread_when_none_can_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_syncs(monkeypatch)
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    real_start = threading.Thread.start

    def no_sync_thread(self: threading.Thread) -> None:
        if self.name.startswith("persistq sync"):
            raise RuntimeError("can't start new thread")
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", no_sync_thread)
    pool = append_from_threads(writer)
    for th in pool:
        th.join(timeout=10)
    assert not any(th.is_alive() for th in pool)
    writer.close()
    assert len(read_records(tmp_path / "j.tsv")) == 80


def test_the_sync_thread_ends_when_appends_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_syncs(monkeypatch)
    writer = JournalWriter(tmp_path / "j.tsv", "fsync")
    pool = [threading.Thread(target=lambda t=t: writer.append([str(t)])) for t in range(8)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(timeout=5)
    for _ in range(100):
        if not [t for t in threading.enumerate() if t.name.startswith("persistq sync")]:
            break
        threading.Event().wait(0.01)
    assert not [t for t in threading.enumerate() if t.name.startswith("persistq sync")]
    writer.close()


def test_a_journal_whose_first_page_was_lost_is_not_emptied(tmp_path: Path) -> None:
    # A power cut can zero a flush journal's first page and keep later ones: appending
    # to it again must not throw those records away.
    path = tmp_path / "j.tsv"
    path.write_bytes(b"\x00" * PAGE + encode_record(["kept"]))
    with pytest.raises(PersistqError, match=r"j\.tsv.*header is damaged"):
        JournalWriter(path)
    assert path.read_bytes().endswith(encode_record(["kept"]))
    path.write_bytes(HEADER[:5] + b"\x00" * 100)  # torn while the header was written
    JournalWriter(path).close()
    assert path.read_bytes() == HEADER
