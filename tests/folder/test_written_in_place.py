"""By default a reader never claims a file a process of its host still has open for
writing (issue 12 #3): Linux leases tell, and the close-write event ends the wait."""

from __future__ import annotations

import errno
import fcntl
import os
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


def test_where_every_lease_is_refused_files_are_still_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An NFSv4 client without a delegation answers EAGAIN to every lease: that must
    # not look like a writer that never closes.
    real_fcntl = fcntl.fcntl

    def refuse_leases(fd: int, cmd: int, arg: int = 0) -> Any:
        if cmd == fcntl.F_SETLEASE:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return real_fcntl(fd, cmd, arg)

    monkeypatch.setattr(fcntl, "fcntl", refuse_leases)
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir)
    (qdir / "a.tsv").write_text("a")
    r = ReadableFolderQueue(qdir)
    assert isinstance(r.get(timeout=5000), str)
    assert [n for n in os.listdir(qdir) if "lease-probe" in n] == []
    w.close()
    r.dispose()
