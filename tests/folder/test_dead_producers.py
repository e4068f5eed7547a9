"""A producer gone without close() has failed (contract "Safe defaults", issue 12 #2), and
liveness never answers "dead" for a process it cannot see (issue 10 #8)."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

from persistq import FAILED, ReadableFolderQueue, UpstreamFailureError, WritableFolderQueue
from persistq.folder import owner as owner_module
from persistq.folder.markers import write_marker
from persistq.folder.names import Owner, heartbeat_name
from persistq.folder.owner import current_owner, is_alive

pytestmark = pytest.mark.timeout(60)
FORK: Any = multiprocessing.get_context("fork")


def put_and_exit(queue: str, staging: str) -> None:
    w = WritableFolderQueue(queue)
    path = os.path.join(staging, "only.tsv")
    with open(path, "w") as f:
        f.write("x")
    w.put(path)
    os._exit(0)  # gone without close()


def test_a_producer_that_exited_without_close_fails_the_readers(tmp_path: Path) -> None:
    qdir, staging = tmp_path / "q", tmp_path / "staging"
    staging.mkdir()
    child = FORK.Process(target=put_and_exit, args=(str(qdir), str(staging)))
    child.start()
    child.join(10)
    r = ReadableFolderQueue(qdir)
    assert r.get(timeout=10_000) is FAILED
    with pytest.raises(UpstreamFailureError, match=rf"gone without close\(\).*PID {child.pid}"):
        next(iter(ReadableFolderQueue(qdir)))
    assert (qdir / "only.tsv").exists()  # the message is left for a rerun


def test_a_producer_elsewhere_is_judged_by_its_heartbeat(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    qdir.mkdir()
    remote = Owner("elsewhere.example", 4242, 1)
    write_marker(str(qdir), "remote-producer", "helo", remote, "none")
    beat = qdir / heartbeat_name(remote)
    beat.write_text("")
    r = ReadableFolderQueue(qdir, lease_seconds=60)
    with pytest.raises(Empty):
        r.get(timeout=100)  # its heartbeat is fresh: it is alive
    old = time.time() - 120
    os.utime(beat, (old, old))
    assert ReadableFolderQueue(qdir, lease_seconds=60).get(timeout=10_000) is FAILED
    with pytest.raises(Empty):  # without a lease, a producer elsewhere is never judged
        ReadableFolderQueue(qdir).get(timeout=100)


def test_producers_with_a_lease_keep_a_heartbeat_until_close(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    w = WritableFolderQueue(qdir, lease_seconds=0.3)
    beat = qdir / heartbeat_name(current_owner())
    first = beat.stat().st_mtime_ns
    deadline = time.monotonic() + 10
    while beat.stat().st_mtime_ns == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert beat.stat().st_mtime_ns != first
    w.close()
    assert not beat.exists()


def test_a_pid_hidden_from_proc_is_not_judged_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    # As under /proc mounted hidepid=2: no /proc/<pid>, but the process exists (EPERM).
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    hidden = Owner(current_owner().host, child.pid, 12345)

    def no_permission(pid: int, sig: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(owner_module, "process_start", lambda pid: None)
    monkeypatch.setattr(os, "kill", no_permission)
    assert is_alive(hidden)


NAMESPACE_CLAIMER = """
import sys, time
from persistq import ReadableFolderQueue
r = ReadableFolderQueue(sys.argv[1])
print(r.get(timeout=10_000), flush=True)
time.sleep(60)
"""

NAMESPACE_RECOVERER = """
import sys
from persistq import ReadableFolderQueue
print(ReadableFolderQueue(sys.argv[1]).recover_abandoned(), flush=True)
"""


def in_new_pid_namespace(code: str, *args: str) -> list[str]:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux: apt-get install util-linux)")
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --pid (CI runs as root)")
    return ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code, *args]


def test_claims_across_pid_namespaces_of_one_host_are_left_alone(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    qdir.mkdir()
    (qdir / "theirs.tsv").write_text("x")
    (qdir / "mine.tsv").write_text("x")
    argv = in_new_pid_namespace(NAMESPACE_CLAIMER, str(qdir))
    claimer = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert claimer.stdout is not None
        theirs = claimer.stdout.readline().strip()
        assert os.path.basename(theirs).startswith(("mine.tsv@", "theirs.tsv@")), theirs
        r = ReadableFolderQueue(qdir)
        assert r.recover_abandoned() == []  # a live claim of another PID namespace
        mine = r.get(timeout=5000)
        assert isinstance(mine, str)
        inside = subprocess.run(
            in_new_pid_namespace(NAMESPACE_RECOVERER, str(qdir)),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert inside.stdout.strip() == "[]"  # nor is this process's claim taken
        assert os.path.exists(mine)
        assert os.path.exists(os.path.join(qdir, os.path.basename(theirs)))
        r.task_done(mine)
    finally:
        claimer.kill()
        claimer.wait(10)
