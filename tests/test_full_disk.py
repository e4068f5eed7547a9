"""A real full disk: a small tmpfs, filled up under a working queue.

Mounting needs root (as in CI); elsewhere these tests are skipped, saying why.
"""

from __future__ import annotations

import errno
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from persistq import PersistentQueue, ReadableFolderQueue, WritableFolderQueue
from persistq.journal import read_records

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 4 MiB tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; return the file that holds them."""
    filler = disk / "filler"
    with open(filler, "ab", buffering=0) as f:
        while True:
            try:
                f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return filler


def item(i: int) -> str:
    return f"{i:05d}-" + "x" * 2000  # ~2 KB records: the first MiB fills after ~500


@pytest.mark.parametrize("durability", ["flush", "fsync"])
def test_a_full_disk_fails_put_and_task_done_cleanly(
    small_disk: Path, tmp_path: Path, durability: str
) -> None:
    run = small_disk / "run"
    q = PersistentQueue("jobs", run, use_queue=False, durability=durability)  # type: ignore[arg-type]
    q.put(item(0))
    q.task_done(item(0))
    filler = fill(small_disk)

    returned, i = [item(0)], 1
    with pytest.raises(OSError) as put_error:
        while True:
            q.put(item(i))
            returned.append(item(i))
            i += 1
    assert put_error.value.errno == errno.ENOSPC
    assert "jobs_requested_PID" in str(put_error.value)
    assert 100 < len(returned) < 2000  # it failed when the journal had to grow
    with pytest.raises(OSError) as done_error:  # done, then more, until it grows too
        for done in itertools.chain(returned[1:], map(item, itertools.count(10_000))):
            q.task_done(done)
    assert done_error.value.errno == errno.ENOSPC
    assert "jobs_completed_PID" in str(done_error.value)
    completed = [r[0] for path in run.glob("*_completed_*") for r in read_records(path)]

    filler.unlink()  # space again: the same journals take records again
    q.put(item(99_999))
    returned.append(item(99_999))
    q.dispose()
    recovered = PersistentQueue("jobs", tmp_path / "next", run).get_list_of_outstanding_work()
    assert recovered == [r for r in returned if r not in completed]  # not item(i): it failed


def test_a_full_disk_fails_a_folder_put_and_leaves_nothing_half_written(
    small_disk: Path, tmp_path: Path
) -> None:
    queue = small_disk / "queue"
    writer = WritableFolderQueue(str(queue), durability="fsync")
    big = tmp_path / "big.tsv"
    big.write_bytes(b"row\n" * (1 << 18))  # 1 MiB, on the roomy disk
    filler = fill(small_disk)
    with pytest.raises(OSError) as error:
        writer.put(big, copy=True)
    assert error.value.errno == errno.ENOSPC
    assert "big.tsv" in str(error.value)
    assert big.read_bytes() == b"row\n" * (1 << 18)
    assert not [p for p in queue.iterdir() if "big" in p.name]  # no temporary left
    filler.unlink()
    writer.put(big, copy=True)
    reader = ReadableFolderQueue(str(queue))
    wip = reader.get(timeout=5000)
    assert isinstance(wip, str)
    assert os.path.basename(reader.original_filename_from_wip(wip)) == "big.tsv"
    assert Path(wip).read_bytes() == big.read_bytes()
