"""A reader with a lease answers DONE only once the claims of owners it cannot see (other
hosts, other PID namespaces) are finished by them or taken back after their lease, or
have been kept alive by their owner's heartbeat for a whole lease.

Otherwise a host killed while holding claims strands them: every survivor answers DONE
before its lease runs out, and nobody takes the claims back in that run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from queue import Empty

import pytest

from persistq import DONE, ReadableFolderQueue, WritableFolderQueue
from persistq.folder.names import Owner, heartbeat_name, wip_name

pytestmark = pytest.mark.timeout(30)
LEASE = 1.0


def claimed_elsewhere(qdir: Path, original: str) -> tuple[Path, Path]:
    """A claim of a process on another host with a fresh heartbeat; the producer closed."""
    qdir.mkdir(parents=True, exist_ok=True)
    owner = Owner("elsewhere.example", 7, 7)
    wip = qdir / wip_name(original, owner, 1)
    wip.write_text(original)
    beat = qdir / heartbeat_name(owner)
    beat.write_text("")
    WritableFolderQueue(qdir).close()
    return wip, beat


def test_done_waits_for_a_silent_owner_and_takes_its_claim_back(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    claimed_elsewhere(qdir, "x.tsv")
    r = ReadableFolderQueue(qdir, lease_seconds=LEASE)
    started = time.monotonic()
    got = r.get(timeout=10_000)
    assert isinstance(got, str), f"answered {got!r} while a claim elsewhere was in its lease"
    assert time.monotonic() - started >= LEASE * 0.9  # never before the lease ran out
    assert r.original_filename_from_wip(got) == str(qdir / "x.tsv")
    r.task_done(got)
    assert r.get(timeout=5000) is DONE


def test_done_comes_as_soon_as_the_owner_elsewhere_finishes(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    wip, beat = claimed_elsewhere(qdir, "x.tsv")
    finisher = threading.Timer(0.3, wip.unlink)  # the other host's task_done
    finisher.start()
    r = ReadableFolderQueue(qdir, lease_seconds=30)
    started = time.monotonic()
    assert r.get(timeout=10_000) is DONE
    assert time.monotonic() - started < 10
    assert beat.exists()
    finisher.join()


def test_done_waits_one_lease_at_most_for_an_owner_that_keeps_beating(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    wip, beat = claimed_elsewhere(qdir, "x.tsv")
    stop = threading.Event()

    def keep_beating() -> None:  # a live host that holds its claim, say while it waits too
        while not stop.wait(0.1):
            os.utime(beat)

    beating = threading.Thread(target=keep_beating)
    beating.start()
    try:
        r = ReadableFolderQueue(qdir, lease_seconds=LEASE)
        started = time.monotonic()
        assert r.get(timeout=10_000) is DONE
        assert LEASE * 0.9 <= time.monotonic() - started < LEASE * 4
        assert wip.exists()  # a live owner's claim is never taken
    finally:
        stop.set()
        beating.join()


def test_waiting_for_a_lease_still_ends_at_the_timeout(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    wip, _ = claimed_elsewhere(qdir, "x.tsv")
    r = ReadableFolderQueue(qdir, lease_seconds=30)
    started = time.monotonic()
    with pytest.raises(Empty):
        r.get(timeout=500)
    assert time.monotonic() - started < 5
    assert wip.exists()


def test_without_a_lease_done_does_not_wait_for_other_hosts(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    wip, _ = claimed_elsewhere(qdir, "x.tsv")
    assert ReadableFolderQueue(qdir).get(timeout=5000) is DONE  # nothing could take it back
    assert wip.exists()
