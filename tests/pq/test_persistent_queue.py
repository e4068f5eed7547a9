"""PersistentQueue in one process: the queue API, journals, requeue and its edge cases."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import pytest

from persistq import DONE, FAILED, Empty, PersistentQueue, PersistqError, UpstreamFailureError
from persistq.errors import JournalCorruptError, MessageFormatError
from persistq.journal import HEADER, encode_record, read_records
from persistq.journal.naming import JournalKind, journal_file_name
from persistq.processes import writer_token
from tests.cli.helpers import dead_pid
from tests.powerloss import record_syncs


def own_journal(directory: Path, kind: JournalKind, prefix: str = "jobs") -> str:
    """The path of this process's ``kind`` journal (named after PID and writer token)."""
    name = journal_file_name(prefix, kind, os.getpid(), token=writer_token())
    return str(directory / name)


def journals(directory: Path, kind: str) -> list[tuple[str, ...]]:
    records: list[tuple[str, ...]] = []
    for path in sorted(directory.glob(f"*_{kind}_PID*.tsv")):
        records.extend(read_records(path))
    return records


def drain(q: PersistentQueue, complete: bool = True) -> list[object]:
    got = []
    for msg in q:
        got.append(msg)
        if complete:
            q.task_done(msg)
    return got


def test_the_queue_api_behaves_like_a_joinable_queue(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    assert q.empty()
    q.put("a")
    q.put_nowait("b")
    assert q.get(timeout=5) == "a"
    q.task_done("a")
    deadline = time.monotonic() + 5
    while q.empty() and time.monotonic() < deadline:  # the feeder thread delivers "b"
        time.sleep(0.01)
    assert q.qsize() == 1
    assert q.get_nowait() == "b"
    q.task_done("b")
    q.join()
    with pytest.raises(Empty):
        q.get_nowait()
    assert Empty is queue.Empty


def test_put_and_task_done_are_journalled_per_process(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    q.put("x")
    q.task_done(q.get(timeout=5))
    assert q.put_file is not None and q.put_file.path == own_journal(tmp_path, "requested")
    assert q.done_file is not None and q.done_file.path == own_journal(tmp_path, "completed")
    assert journals(tmp_path, "requested") == [("x",)]
    assert journals(tmp_path, "completed") == [("x",)]


def test_a_message_that_cannot_be_journalled_is_not_enqueued(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path, formatter_list=[str], converter_list=[int])
    with pytest.raises(MessageFormatError, match="'seven'"):
        q.put("seven")
    with pytest.raises(Empty):
        q.get(timeout=0.2)
    assert journals(tmp_path, "requested") == []


def test_close_sends_done_to_every_worker_and_done_never_blocks_join(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path, number_of_workers=3)
    q.put("a")
    q.close()
    assert drain(q) == ["a"]
    assert q.get(timeout=5) is DONE
    assert q.get(timeout=5) is DONE
    q.join()


def test_fail_raises_upstream_failure_in_iteration(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    q.put("a")
    q.fail()
    it = iter(q)
    assert next(it) == "a"
    with pytest.raises(UpstreamFailureError):
        next(it)
    assert issubclass(UpstreamFailureError, PersistqError)


@pytest.mark.parametrize("message", [0, -1, ""])
def test_falsy_messages_are_ordinary_work(tmp_path: Path, message: object) -> None:
    q = PersistentQueue("jobs", tmp_path, formatter_list=[str], converter_list=[type(message)])
    q.put(message)
    q.close()
    assert drain(q) == [message]


def test_requeue_puts_back_requested_minus_completed_counting_duplicates(tmp_path: Path) -> None:
    run1, run2 = tmp_path / "run1", tmp_path / "run2"
    q = PersistentQueue("jobs", run1)
    for msg in ["a", "b", "a", "c", "a", "d"]:
        q.put(msg)
    for msg in ["a", "c"]:
        q.task_done(msg)
    q.dispose()

    q2 = PersistentQueue("jobs", run2, run1, number_of_workers=1)
    assert q2.get_list_of_outstanding_work() == ["b", "a", "a", "d"]
    assert q2.empty()
    assert q2.requeue_unprocessed_work() == ["b", "a", "a", "d"]
    assert journals(run2, "requested") == [("b",), ("a",), ("a",), ("d",)]
    assert list((run2).glob("*_requeued.tsv"))
    q2.put("a")  # already requeued twice: not enqueued again
    q2.put("a")
    q2.put("a")  # a third one is new work
    q2.put("e")
    q2.close()
    assert drain(q2) == ["b", "a", "a", "d", "a", "e"]


def test_requeue_keeps_typed_fields(tmp_path: Path) -> None:
    run1 = tmp_path / "run1"
    fmt, conv = [str, str], [int, str]
    q = PersistentQueue("jobs", run1, formatter_list=fmt, converter_list=conv)
    q.put((1, "tab\there"))
    q.put((2, "new\nline"))
    q.task_done((2, "new\nline"))
    q.dispose()
    q2 = PersistentQueue("jobs", tmp_path / "run2", run1, formatter_list=fmt, converter_list=conv)
    assert q2.requeue_unprocessed_work() == [(1, "tab\there")]


def test_requeue_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run1").mkdir()
    q = PersistentQueue("jobs", tmp_path / "run2", tmp_path / "run1")
    assert q.requeue_unprocessed_work() == []
    with pytest.raises(PersistqError, match="already"):
        q.requeue_unprocessed_work()


def test_no_previous_dir_means_nothing_to_requeue(tmp_path: Path) -> None:
    assert PersistentQueue("jobs", tmp_path).requeue_unprocessed_work() == []
    assert list(tmp_path.iterdir()) == []  # and nothing journalled


def test_a_missing_previous_pickup_dir_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-run"
    with pytest.raises(PersistqError, match="no-such-run"):
        PersistentQueue("jobs", tmp_path / "run2", missing)


@pytest.mark.parametrize("prefix", ["a/b", "", ".."])
def test_a_prefix_that_is_not_a_file_name_is_refused(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError, match="pickup_file_prefix"):
        PersistentQueue(prefix, tmp_path)


def test_a_crash_during_recovery_is_recovered_by_the_next_run(tmp_path: Path) -> None:
    run1, run2, run3 = (tmp_path / f"run{i}" for i in (1, 2, 3))
    q = PersistentQueue("jobs", run1)
    for msg in ["a", "b", "c"]:
        q.put(msg)
    q.task_done("a")
    q.dispose()
    PersistentQueue("jobs", run2, run1).put("new")  # died before it requeued anything
    q3 = PersistentQueue("jobs", run3, run2)
    assert q3.get_list_of_outstanding_work() == ["b", "c", "new"]


def test_after_recovery_the_recovered_run_is_not_followed(tmp_path: Path) -> None:
    run1, run2, run3 = (tmp_path / f"run{i}" for i in (1, 2, 3))
    q = PersistentQueue("jobs", run1)
    for msg in ["a", "b", "c"]:
        q.put(msg)
    q.dispose()
    q2 = PersistentQueue("jobs", run2, run1)
    q2.requeue_unprocessed_work()
    q2.task_done(q2.get(timeout=5))
    q2.dispose()
    assert PersistentQueue("jobs", run3, run2).get_list_of_outstanding_work() == ["b", "c"]


def test_same_directory_recovery_must_come_first(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    q.put("a")
    q.put("b")
    q.task_done("a")
    q.dispose()
    q2 = PersistentQueue("jobs", tmp_path, tmp_path)
    assert q2.requeue_unprocessed_work() == ["b"]
    q2.task_done(q2.get(timeout=5))
    q2.dispose()
    assert PersistentQueue("jobs", tmp_path, tmp_path).get_list_of_outstanding_work() == []
    q3 = PersistentQueue("jobs", tmp_path, tmp_path)
    q3.put("c")
    with pytest.raises(PersistqError, match="before any put"):
        q3.requeue_unprocessed_work()


def test_a_corrupt_journal_line_is_named_and_can_be_skipped(tmp_path: Path) -> None:
    run1 = tmp_path / "run1"
    run1.mkdir()
    (run1 / "jobs_requested_PID7.tsv").write_bytes(
        HEADER + encode_record(["a"]) + b"junk\n" + encode_record(["c"]) + encode_record(["d"])[:3]
    )
    with pytest.raises(JournalCorruptError, match=r"jobs_requested_PID7.tsv.*line 3"):
        PersistentQueue("jobs", tmp_path / "r2", run1).get_list_of_outstanding_work()
    skipping = PersistentQueue("jobs", tmp_path / "r3", run1, on_corrupt="skip")
    assert skipping.get_list_of_outstanding_work() == ["a", "c"]


def test_journals_left_by_a_pympx_run_resume(tmp_path: Path) -> None:
    run1 = tmp_path / "pympx_run"
    run1.mkdir()
    # PIDs of processes that have exited (a fixed PID may be a live process here)
    producer, other, consumer = sorted(dead_pid() for _ in range(3))
    (run1 / f"loads_requested_PID{other}.tsv").write_text("f1.csv\t1\nf2.csv\t2\nf3.csv\t3\nf4.c")
    (run1 / f"loads_requested_PID{producer}.tsv").write_text("g1.csv\t9\n")
    (run1 / f"loads_completed_PID{consumer}.tsv").write_text("f2.csv\t2\n")
    q = PersistentQueue(
        "loads", tmp_path / "run2", run1, formatter_list=[str, str], converter_list=[str, int]
    )
    assert q.requeue_unprocessed_work() == [("g1.csv", 9), ("f1.csv", 1), ("f3.csv", 3)]


def test_use_queue_false_reads_the_current_runs_journals(tmp_path: Path) -> None:
    producer = PersistentQueue("jobs", tmp_path, use_queue=False, number_of_workers=1)
    for msg in ["a", "b"]:
        producer.put(msg)
    producer.close()
    consumer = PersistentQueue("jobs", tmp_path, use_queue=False)
    assert drain(consumer) == ["a", "b"]
    with pytest.raises(Empty):
        consumer.get()


def test_mark_all_work_done_completes_everything_left(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    for msg in ["a", "b"]:
        q.put(msg)
    q.close()
    q.mark_all_work_done()
    q.join()
    assert journals(tmp_path, "completed") == [("a",), ("b",)]


def test_task_done_of_a_control_message_does_nothing(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path)
    q.close()
    assert q.get(timeout=5) is DONE
    q.task_done(DONE)
    q.task_done(FAILED)
    q.join()
    assert journals(tmp_path, "completed") == []


def test_no_pickup_dir_means_no_journal(tmp_path: Path) -> None:
    q = PersistentQueue()
    q.put("a")
    assert q.put_file is None
    assert q.get(timeout=5) == "a"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_dispose_while_threads_put_loses_no_returned_put(tmp_path: Path, durability: str) -> None:
    # dispose() closes this process's journals; puts racing it reopen them. Two
    # writers on one file at once used to overwrite each other's records.
    q = PersistentQueue("jobs", tmp_path, use_queue=False, durability=durability)  # type: ignore[arg-type]
    returned: list[str] = []
    stop = threading.Event()

    def produce(t: int) -> None:
        i = 0
        while not stop.is_set():
            q.put(f"t{t}-{i}")
            returned.append(f"t{t}-{i}")
            i += 1

    def dispose_often() -> None:
        while not stop.is_set():
            time.sleep(0.002)
            q.dispose()

    pool = [threading.Thread(target=produce, args=(t,)) for t in range(3)]
    pool.append(threading.Thread(target=dispose_often))
    for th in pool:
        th.start()
    time.sleep(1.0)
    stop.set()
    for th in pool:
        th.join(timeout=30)
    q.dispose()
    journalled = [r[0] for path in tmp_path.glob("jobs_requested_*") for r in read_records(path)]
    assert sorted(journalled) == sorted(returned)


def test_put_after_put_file_was_closed_opens_it_again(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path, use_queue=False)
    q.put("a")
    assert q.put_file is not None
    q.put_file.close()
    q.put("b")
    q.dispose()
    assert [r[0] for r in read_records(own_journal(tmp_path, "requested"))] == [
        "a",
        "b",
    ]


def test_fsync_makes_a_new_pickup_directory_durable_in_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = record_syncs(monkeypatch)
    PersistentQueue("jobs", tmp_path / "runs" / "run1", durability="fsync")
    assert str(tmp_path) in synced  # where runs/ was created
    assert str(tmp_path / "runs") in synced  # where run1/ was created


def test_put_file_and_done_file_behave_as_pympx_open_files(tmp_path: Path) -> None:
    q = PersistentQueue("jobs", tmp_path, use_queue=False)
    q.put("a")
    for journal, kind in ((q.put_file, "requested"), (q.done_file, "completed")):
        assert journal is not None
        assert journal.name == own_journal(tmp_path, kind)  # type: ignore[arg-type]
        assert not journal.closed
        assert os.fstat(journal.fileno()).st_ino == os.stat(journal.name).st_ino
        journal.flush()
    put_file = q.put_file
    assert put_file is not None
    q.dispose()
    assert put_file.closed
    with pytest.raises(ValueError, match="closed"):
        put_file.fileno()
    assert PersistentQueue("jobs").put_file is None  # no pickup directory, no journal


def test_as_a_context_manager_a_producer_closes_or_fails(tmp_path: Path) -> None:
    with PersistentQueue("jobs", tmp_path / "ok", number_of_workers=2) as q:
        q.put("a")
    assert [q.get(timeout=5), q.get(timeout=5), q.get(timeout=5)] == ["a", DONE, DONE]
    failing = PersistentQueue("jobs", tmp_path / "bad")
    with pytest.raises(RuntimeError), failing:
        failing.put("b")
        raise RuntimeError("the producer broke")
    assert [failing.get(timeout=5), failing.get(timeout=5)] == ["b", FAILED]
