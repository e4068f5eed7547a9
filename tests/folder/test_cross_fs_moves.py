"""Moves across file systems (put from another disk, task_done into another disk) killed
at every crash point: a restart finishes or rolls back each, so the file is in exactly
one place -- never lost, never both done and queued (issue 10 #6, #7, #20)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from queue import Empty

import pytest

import persistq
from persistq import ReadableFolderQueue, WritableFolderQueue
from persistq.folder import moves
from persistq.folder.moves import Step, decide
from persistq.folder.names import MOVE_SUFFIX, TEMP_SUFFIX, Owner, wip_name
from persistq.folder.tempnames import move_record_name, temp_name
from tests.crashpoints import crash_points, python_argv, require_strace

pytestmark = pytest.mark.timeout(300)

MOVE_SYSCALLS = ("rename", "renameat2", "link", "unlink", "fsync", "fdatasync", "write")
PAYLOAD = "row\t1\n" * 2000


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A directory on another file system than ``tmp_path``: a tmpfs mounted here (root,
    as in CI), else /dev/shm where it is another file system."""
    disk = tmp_path / "other"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode == 0:
        try:
            yield disk
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=True)
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip(f"no second file system: cannot mount a tmpfs ({mounted.stderr.strip()})")
    scratch = shm / f"persistq-{os.getpid()}-{tmp_path.name}"
    scratch.mkdir()
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def child_env() -> dict[str, str]:
    src = str(Path(persistq.__file__).parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, *sys.path])}


def reset_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()


def dead_owner() -> Owner:
    """An owner on this host whose process has exited."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    return Owner(os.uname().nodename, dead.pid, 0)


def leftovers(*folders: Path) -> list[str]:
    return [
        n
        for folder in folders
        for n in os.listdir(folder)
        if n.endswith((TEMP_SUFFIX, MOVE_SUFFIX))
    ]


def test_decide_finishes_only_a_published_copy() -> None:
    assert decide("copying", None) is Step.ROLL_BACK
    assert decide("copying", 1) is Step.ROLL_BACK
    assert decide("ready", 1) is Step.ROLL_BACK
    assert decide("ready", None) is Step.FINISH
    assert decide("ready", 2) is Step.FINISH  # linked under its final name, not yet unlinked


def test_put_from_another_file_system_survives_every_crash_point(
    tmp_path: Path, other_fs: Path
) -> None:
    require_strace()
    queue, incoming = tmp_path / "queue", other_fs / "incoming"
    source = incoming / "a.tsv"

    def prepare() -> None:
        reset_dir(queue)
        reset_dir(incoming)
        source.write_text(PAYLOAD)

    code = (
        "from persistq import WritableFolderQueue\n"
        f"WritableFolderQueue({str(queue)!r}).put({str(source)!r})\n"
    )
    points = 0
    for point in crash_points(python_argv(code), MOVE_SYSCALLS, prepare=prepare, env=child_env()):
        points += 1
        w = WritableFolderQueue(queue)  # a restarted producer
        queued = (queue / "a.tsv").exists()
        assert queued != source.exists(), f"{point}: queued {queued}, source {source.exists()}"
        assert leftovers(queue, incoming) == [], point
        if not queued:
            w.put(source)  # it re-puts what is still in its folder
        assert (queue / "a.tsv").read_text() == PAYLOAD, point
        assert not source.exists()
    assert points >= 8


def test_task_done_into_another_file_system_survives_every_crash_point(
    tmp_path: Path, other_fs: Path
) -> None:
    require_strace()
    queue, done = tmp_path / "queue", other_fs / "done"

    def prepare() -> None:
        reset_dir(queue)
        reset_dir(done)
        (queue / "a.tsv").write_text(PAYLOAD)

    code = (
        "from persistq import ReadableFolderQueue\n"
        f"r = ReadableFolderQueue({str(queue)!r}, task_done_directory={str(done)!r}, "
        "poll_interval=0.05)\n"
        "r.task_done(r.get(timeout=5000))\n"
    )
    points = 0
    for point in crash_points(python_argv(code), MOVE_SYSCALLS, prepare=prepare, env=child_env()):
        points += 1
        r = ReadableFolderQueue(queue, task_done_directory=done, poll_interval=0.05)
        r.recover_abandoned()  # a restarted reader takes back the dead one's claim
        in_done = sorted(n for n in os.listdir(done) if not n.startswith("."))
        in_queue = sorted(n for n in os.listdir(queue) if not n.startswith("."))
        assert in_done in ([], ["a.tsv"]), point
        assert in_queue == ([] if in_done else ["a.tsv"]), f"{point}: {in_queue} {in_done}"
        assert leftovers(queue, done) == [], point
        if not in_done:
            wip = r.get(timeout=1000)
            assert isinstance(wip, str)
            r.task_done(wip)
        r.dispose()
        assert sorted(os.listdir(done)) == ["a.tsv"], point
        assert (done / "a.tsv").read_text() == PAYLOAD
    assert points >= 8


def test_a_live_movers_record_and_copy_are_left_alone(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    live = Owner(os.uname().nodename, os.getppid(), 0)
    record = queue / move_record_name(live, "0123456789ab")
    record.write_text(json.dumps({"state": "ready", "src": "x", "tmp": "y", "src_id": []}))
    copy = queue / temp_name("a.tsv", live, "0123456789ab")
    copy.write_text("half")
    assert moves.finish_moves(str(queue), "flush") == 0
    assert record.exists() and copy.exists()


def test_temporary_files_of_dead_owners_are_removed_at_start(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    owner = dead_owner()
    copy = queue / temp_name("a.tsv", owner, "0123456789ab")
    copy.write_text("half a copy")
    foreign = queue / ".a.tsv.1234.pqtmp"  # no owner in its name: not ours to judge
    foreign.write_text("?")
    WritableFolderQueue(queue)
    assert not copy.exists()
    assert foreign.exists()


def test_a_fifo_or_symlink_named_like_a_dead_owners_record_is_left_alone(tmp_path: Path) -> None:
    queue = tmp_path / "queue"
    queue.mkdir()
    owner = dead_owner()
    fifo = queue / move_record_name(owner, "0123456789ab")
    os.mkfifo(fifo)
    link = queue / move_record_name(owner, "ba9876543210")
    link.symlink_to("/dev/zero")
    WritableFolderQueue(queue)  # neither blocks nor follows
    assert fifo.exists() and link.is_symlink()


def test_a_running_reader_takes_back_no_claim_whose_move_was_published(
    tmp_path: Path, other_fs: Path
) -> None:
    queue, done = tmp_path / "queue", other_fs / "done"
    reader = ReadableFolderQueue(queue, task_done_directory=done, poll_interval=0.05)
    # Another consumer, killed after publishing a.tsv into done/ but before unlinking
    # its claim: what the crash points show, laid out while this reader runs.
    owner = dead_owner()
    wip = queue / wip_name("a.tsv", owner, 1)
    wip.write_text(PAYLOAD)
    (done / "a.tsv").write_text(PAYLOAD)
    st = os.stat(wip)
    record = queue / move_record_name(owner, "0123456789ab")
    intent = {
        "state": "ready",
        "src": str(wip),
        "tmp": str(done / temp_name("a.tsv", owner, "0123456789ab")),
        "src_id": [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns],
    }
    record.write_text(json.dumps(intent))
    assert reader.recover_abandoned() == []
    assert os.listdir(queue) == [] or all(n.startswith(".") for n in os.listdir(queue))
    assert sorted(os.listdir(done)) == ["a.tsv"]
    reader.dispose()


def test_a_reader_takes_up_dead_owners_leftovers_at_its_first_get_not_when_made(
    tmp_path: Path,
) -> None:
    """Constructing a reader changes nothing in the folder (as documented); its first
    get finishes what dead owners left, before it claims anything."""
    queue = tmp_path / "queue"
    queue.mkdir()
    copy = queue / temp_name("a.tsv", dead_owner(), "0123456789ab")
    copy.write_text("half a copy")
    reader = ReadableFolderQueue(queue)
    assert copy.exists()
    with pytest.raises(Empty):
        reader.get(timeout=50)
    assert not copy.exists()
