"""By default a reader never claims a file a process of its host still has open for
writing (issue 12 #3): Linux leases tell, and the close-write event ends the wait."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

from persistq import ReadableFolderQueue, WritableFolderQueue
from persistq.folder.writers import open_for_writing

pytestmark = pytest.mark.timeout(30)

WRITER = """
import sys, time
with open(sys.argv[1], "w") as f:
    f.write("part one\\n"); f.flush()
    print("writing", flush=True)
    sys.stdin.readline()
    f.write("part two\\n")
"""


@pytest.mark.parametrize("mode", [{}, {"poll_interval": 0.01}], ids=["events", "polling"])
def test_a_file_being_written_in_place_is_claimed_only_once_closed(
    tmp_path: Path, mode: dict[str, Any]
) -> None:
    qdir = tmp_path / "q"
    WritableFolderQueue(qdir)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(qdir / "slow.tsv")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdin is not None
    try:
        assert writer.stdout.readline() == "writing\n"
        r = ReadableFolderQueue(qdir, **mode)
        with pytest.raises(Empty):
            r.get(timeout=400)
        writer.stdin.write("go\n")
        writer.stdin.flush()
        got = r.get(timeout=10_000)
        assert isinstance(got, str)
        assert Path(got).read_text() == "part one\npart two\n"
        r.dispose()
    finally:
        writer.kill()
        writer.wait(10)


def test_open_for_writing_sees_writers_and_only_them(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    with open(path, "w") as f:
        f.write("x")
        f.flush()
        assert open_for_writing(str(path))
        with open(path) as reading:
            assert reading.read() == "x"
    assert not open_for_writing(str(path))
    assert not open_for_writing(str(tmp_path / "gone.tsv"))
