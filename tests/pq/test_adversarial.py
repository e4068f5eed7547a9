"""Issue 10, PersistentQueue side: the deployments users really have (containers sharing a
pickup directory, two consumers, a live run, FIFOs and symlinks, foreign encodings)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from persistq import PersistentQueue, PersistqError
from persistq.errors import (
    JournalCorruptError,
    LiveRunError,
    MessageFormatError,
    NotRegularFileError,
)
from persistq.journal.naming import journal_file_name
from persistq.pickup import inspect
from persistq.pickup.compaction import remove_temporaries, write_whole
from persistq.processes import writer_token
from tests.cli.helpers import dead_pid, write_journal


def outstanding(directory: Path, **options: object) -> list[object]:
    return PersistentQueue("items", None, directory, **options).get_list_of_outstanding_work()  # type: ignore[arg-type]


# -- 4: two PID namespaces (both PID 1) share one pickup directory ----------------------


def require_unshare() -> str:
    """The unshare binary, if new PID namespaces may be made here; else skip."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare (Debian: apt-get install -y util-linux)")
    probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("unshare --pid --fork --mount-proc is not permitted here")
    return unshare


CONTAINER = """
import os, sys, time
from persistq import PersistentQueue
assert os.getpid() == 1, os.getpid()
directory, me, other, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
q = PersistentQueue("items", directory, use_queue=False)
q.put(f"{me}-0")
open(os.path.join(directory, me + ".ready"), "w").close()
deadline = time.monotonic() + 30
while not os.path.exists(os.path.join(directory, other + ".ready")):
    assert time.monotonic() < deadline, "the other container never started"
    time.sleep(0.01)
for i in range(1, n):
    q.put(f"{me}-{i}")
q.dispose()
"""


@pytest.mark.timeout(120)
def test_two_pid_namespaces_sharing_a_pickup_directory_lose_nothing(tmp_path: Path) -> None:
    unshare = require_unshare()
    directory = tmp_path / "pickup"
    directory.mkdir()
    n = 2000
    argv = [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c", CONTAINER]
    containers = [
        subprocess.Popen([*argv, str(directory), me, other, str(n)])
        for me, other in (("a", "b"), ("b", "a"))
    ]
    assert [c.wait(timeout=90) for c in containers] == [0, 0]
    found = outstanding(directory)
    assert sorted(found) == sorted(f"{me}-{i}" for me in "ab" for i in range(n))  # type: ignore[type-var]
    journals = sorted(p.name for p in directory.glob("items_requested_PID1*.tsv"))
    assert len(journals) == 2, journals  # one per writer, though both were PID 1


# -- 9: use_queue=False replays the journals to one consuming process -------------------


def _consume(q: PersistentQueue, started: object, go: object, results: object) -> None:
    try:
        first = q.get()
        started.set()  # type: ignore[attr-defined]
        go.wait(30)  # type: ignore[attr-defined]
        got = [first]
        for msg in q:
            got.append(msg)
        results.put(("ok", len(got)))  # type: ignore[attr-defined]
    except PersistqError as exc:
        started.set()  # type: ignore[attr-defined]
        results.put(("refused", str(exc)))  # type: ignore[attr-defined]


@pytest.mark.timeout(60)
def test_use_queue_false_refuses_a_second_consuming_process(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    q = PersistentQueue("items", tmp_path, use_queue=False, number_of_workers=2)
    for i in range(10):
        q.put(f"m{i}")
    q.close()
    results = ctx.Queue()
    first_started, second_started, go = ctx.Event(), ctx.Event(), ctx.Event()
    first = ctx.Process(target=_consume, args=(q, first_started, go, results))
    first.start()
    assert first_started.wait(30)
    second = ctx.Process(target=_consume, args=(q, second_started, go, results))
    second.start()
    assert second_started.wait(30)
    go.set()
    outcomes = sorted(results.get(timeout=30) for _ in range(2))
    for p in (first, second):
        p.join(30)
    assert outcomes[0] == ("ok", 10)  # every message once, to the first consumer
    verdict, message = outcomes[1]
    assert verdict == "refused"
    assert "use_queue=False" in message and "use use_queue=True" in message


# -- 10: recovery refuses while the run it would recover is live ------------------------


LIVE_RUN = """
import sys, time
from persistq import PersistentQueue
q = PersistentQueue("items", sys.argv[1], use_queue=False)
q.put("in flight")
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.timeout(60)
def test_requeue_refuses_while_the_previous_run_is_live(tmp_path: Path) -> None:
    live = subprocess.Popen(
        [sys.executable, "-c", LIVE_RUN, str(tmp_path / "run1")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout is not None and live.stdout.readline() == "ready\n"
        for current in (tmp_path / "run2", tmp_path / "run1"):  # elsewhere, and in place
            q = PersistentQueue("items", current, tmp_path / "run1", use_queue=False)
            with pytest.raises(LiveRunError, match=f"process {live.pid} of another run"):
                q.requeue_unprocessed_work()
        assert outstanding(tmp_path / "run1") == ["in flight"]  # nothing was taken
    finally:
        live.kill()
        live.wait()
    again = PersistentQueue("items", tmp_path / "run3", tmp_path / "run1", use_queue=False)
    assert again.requeue_unprocessed_work() == ["in flight"]


@pytest.mark.timeout(60)
def test_requeue_sees_a_live_run_of_another_pid_namespace_by_its_journal_lock(
    tmp_path: Path,
) -> None:
    unshare = require_unshare()
    live = subprocess.Popen(
        [
            unshare,
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
            sys.executable,
            "-c",
            LIVE_RUN,
            str(tmp_path / "run1"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline() == "ready\n"
        q = PersistentQueue("items", tmp_path / "run2", tmp_path / "run1", use_queue=False)
        with pytest.raises(LiveRunError, match="process 1 of another run"):
            q.requeue_unprocessed_work()
    finally:
        live.kill()  # unshare's child, PID 1 of the namespace, dies with it
        live.wait()
    deadline = time.monotonic() + 30
    while True:  # the kernel drops the dead writer's lock as its namespace ends
        again = PersistentQueue("items", tmp_path / "run3", tmp_path / "run1", use_queue=False)
        try:
            assert again.requeue_unprocessed_work() == ["in flight"]
            break
        except LiveRunError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


# -- 13: only regular files are opened ---------------------------------------------------


@pytest.mark.timeout(30)
def test_a_fifo_named_like_a_journal_is_refused_not_waited_on(tmp_path: Path) -> None:
    write_journal(str(tmp_path), "items", "requested", dead_pid(), [("a",)])
    fifo = tmp_path / "items_completed_PID7.tsv"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match=f"{fifo}: is a FIFO"):
        outstanding(tmp_path)
    assert outstanding(tmp_path, on_corrupt="skip") == ["a"]
    q = PersistentQueue("items", tmp_path, tmp_path, use_queue=False)
    with pytest.raises(NotRegularFileError, match="is a FIFO"):
        q.requeue_unprocessed_work()


def own_journal_names(prefix: str = "items") -> list[str]:
    """This process's requested journal, by its name and by its PyMPX name."""
    return [
        journal_file_name(prefix, "requested", os.getpid(), token=writer_token()),
        journal_file_name(prefix, "requested", os.getpid()),
    ]


@pytest.mark.timeout(30)
def test_put_refuses_a_journal_that_is_a_symlink_to_dev_zero(tmp_path: Path) -> None:
    for name in own_journal_names():
        os.symlink("/dev/zero", tmp_path / name)
    q = PersistentQueue("items", tmp_path, use_queue=False)
    with pytest.raises(NotRegularFileError, match="is a symbolic link"):
        q.put("x")


@pytest.mark.timeout(30)
def test_a_dangling_symlink_named_like_this_journal_creates_nothing_outside(
    tmp_path: Path,
) -> None:
    pickup = tmp_path / "pickup"
    pickup.mkdir()
    outside = tmp_path / "outside"
    for i, name in enumerate(own_journal_names()):
        os.symlink(outside / str(i), pickup / name)
    q = PersistentQueue("items", pickup, use_queue=False)
    with pytest.raises(NotRegularFileError, match="is a symbolic link"):
        q.put("x")
    assert not outside.exists()


# -- 18: foreign encodings and line ends of PyMPX journals -------------------------------


def test_a_latin1_pympx_journal_is_named_and_can_be_skipped(tmp_path: Path) -> None:
    journal = tmp_path / "items_requested_PID5.tsv"
    journal.write_bytes("café\nthé\n".encode("latin-1") + b"plain\n")
    with pytest.raises(
        JournalCorruptError, match=f"{journal}: corrupt journal record on line 1, 2"
    ):
        outstanding(tmp_path)
    assert outstanding(tmp_path, on_corrupt="skip") == ["plain"]


def test_a_pympx_journal_with_cr_line_ends_is_read(tmp_path: Path) -> None:
    (tmp_path / "items_requested_PID5.tsv").write_bytes(b"a\rb\tx\rc\r")
    (tmp_path / "items_completed_PID6.tsv").write_bytes(b"a\r\nc\r\n")
    assert outstanding(tmp_path) == [("b", "x")]


# -- 19: a lone surrogate is a MessageFormatError ---------------------------------------


@pytest.mark.parametrize("message", ["bad \ud800 name", ("ok", "\udcff")])
def test_a_lone_surrogate_is_a_message_format_error(tmp_path: Path, message: object) -> None:
    q = PersistentQueue("items", tmp_path)
    with pytest.raises(MessageFormatError, match="surrogate"):
        q.put(message)
    assert q.empty()
    q.dispose()
    assert outstanding(tmp_path) == []


# -- 20: temporaries of killed compactions are cleaned on the next start ------------------


def test_part_files_of_killed_compactions_are_removed_at_the_next_start(tmp_path: Path) -> None:
    gone = dead_pid()
    left = tmp_path / (
        journal_file_name("items", "requested", gone, token=writer_token(gone), requeued=True)
        + ".part"
    )
    left.write_bytes(b"\0" * (1 << 20))
    pympx_era = tmp_path / f"items_requested_PID{gone}_requeued.tsv.part"
    pympx_era.write_bytes(b"")
    mine = tmp_path / (own_journal_names()[0][: -len(".tsv")] + "_requeued.tsv.part")
    mine.write_bytes(b"")  # this process may still be writing it
    other = tmp_path / "other_requested_PID1_requeued.tsv.part"
    other.write_bytes(b"")  # another prefix's
    PersistentQueue("items", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])


def test_a_part_file_being_published_is_not_taken_for_a_dead_runs(tmp_path: Path) -> None:
    """A .part of a writer in another PID namespace (its PID means nothing here) is kept
    while its lock is held, from writing until it is published, and removed after."""
    name = journal_file_name("items", "requested", 1, token="0badc0de-1", requeued=True)
    held = write_whole(str(tmp_path / (name + ".part")), [b"a"], "flush")
    try:
        assert remove_temporaries(str(tmp_path), "items", "flush") == []
    finally:
        os.close(held)
    assert remove_temporaries(str(tmp_path), "items", "flush") == [name + ".part"]


@pytest.mark.timeout(60)
def test_a_pympx_journal_whose_pid_was_reused_since_is_not_a_live_run(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        journal = tmp_path / f"items_requested_PID{sleeper.pid}.tsv"
        journal.write_text("a\n")  # PyMPX: no writer token, no lock; only the PID
        (writer,) = inspect(tmp_path).prefix("items").writers
        assert writer.liveness == "alive"  # written since that process started: maybe its
        an_hour_ago = time.time() - 3600
        os.utime(journal, (an_hour_ago, an_hour_ago))  # last written before it started
        (writer,) = inspect(tmp_path).prefix("items").writers
        assert writer.liveness == "dead"
        q = PersistentQueue("items", tmp_path / "run2", tmp_path, use_queue=False)
        assert q.requeue_unprocessed_work() == ["a"]  # a PyMPX PID never refuses recovery
    finally:
        sleeper.kill()
        sleeper.wait()


def test_recovering_a_run_killed_before_it_wrote_anything_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Killed while writing its recovery pointer: only an empty temporary is left, and
    # nothing says which run it was recovering. Nothing to requeue, but say why.
    killed = tmp_path / "run3"
    killed.mkdir()
    (killed / ".items_recovering_from.json@host@12@34@0123456789ab.pqtmp").write_text("")
    q = PersistentQueue("items", str(tmp_path / "run4"), str(killed))
    assert q.requeue_unprocessed_work() == []
    assert f"{killed} holds no journal or recovery pointer of prefix 'items'" in caplog.text
    assert "recover from that one instead" in caplog.text
    q.close()
