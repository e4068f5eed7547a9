"""A claimed group is finished or redone as a whole, never stranded (issue 10 #1): the
consumer is SIGKILLed at every rename and unlink of claiming and finishing a group,
with done/ on the queue's file system and on another one."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from persistq import ReadableGroupedFileFolderQueue, WritableFolderQueue
from persistq.folder.names import Kind, classify
from tests.crashpoints import crash_points, python_argv, require_strace

pytestmark = pytest.mark.timeout(300)
ITEMS = ["a", "b", "c"]
CONSUMER = """
import sys
from persistq import ReadableGroupedFileFolderQueue
r = ReadableGroupedFileFolderQueue(
    sys.argv[1], task_done_directory=sys.argv[2],
    grouping_function=lambda n: n.split("_")[0],
    item_function=lambda n: n.split("_")[1].removesuffix(".tsv"),
    list_of_items_in_group=["a", "b", "c"],
)
group = r.get(timeout=10_000)
for wip in group:
    r.task_done(wip)
"""


def reader(qdir: Path, done: Path) -> ReadableGroupedFileFolderQueue:
    return ReadableGroupedFileFolderQueue(
        qdir,
        task_done_directory=done,
        grouping_function=lambda n: n.split("_")[0],
        item_function=lambda n: n.split("_")[1].removesuffix(".tsv"),
        list_of_items_in_group=ITEMS,
    )


@pytest.fixture(params=["same-fs", "other-fs"])
def done_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    if request.param == "same-fs":
        yield tmp_path / "done"
        return
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on a file system other than the test's tmp_path")
    scratch = Path(tempfile.mkdtemp(dir=shm))
    yield scratch / "done"
    shutil.rmtree(scratch, ignore_errors=True)


def test_a_killed_group_consumer_never_strands_part_of_its_group(
    tmp_path: Path, done_dir: Path
) -> None:
    require_strace()
    qdir = tmp_path / "q"

    def prepare() -> None:
        shutil.rmtree(qdir, ignore_errors=True)
        shutil.rmtree(done_dir, ignore_errors=True)
        w = WritableFolderQueue(qdir)
        for item in ITEMS:
            (qdir / f"g1_{item}.tsv").write_text(item)
        w.close()

    argv = [*python_argv(CONSUMER), str(qdir), str(done_dir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    points = 0
    syscalls = ("rename", "renameat2", "unlink")
    for point in crash_points(argv, syscalls, prepare=prepare, env=env):
        points += 1
        r = reader(qdir, done_dir)
        for group in r:
            for wip in group:
                r.task_done(wip)
        left = [n for n in os.listdir(qdir) if classify(n, ".tsv") in (Kind.MESSAGE, Kind.WIP)]
        assert left == [], f"{point}: stranded {left}"
        done = sorted(os.listdir(done_dir)) if done_dir.exists() else []
        for item in ITEMS:
            assert any(n.startswith(f"g1_{item}") for n in done), f"{point}: {item} lost: {done}"
    assert points >= 4
