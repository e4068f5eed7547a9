"""Recovery of abandoned claims: dead owners on this host, leases for other hosts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from persistq import ReadableFolderQueue
from persistq.folder.markers import write_marker
from persistq.folder.names import Owner, heartbeat_name, wip_name
from persistq.folder.owner import current_owner, is_alive
from persistq.processes import process_start

pytestmark = pytest.mark.timeout(30)


def dead_owner() -> Owner:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = process_start(child.pid)
    child.wait()
    return Owner(current_owner().host, child.pid, start or 0)


def live_owner() -> Owner:
    pid = os.getppid()
    return Owner(current_owner().host, pid, process_start(pid) or 0)


def claimed(qdir: Path, original: str, owner: Owner) -> Path:
    qdir.mkdir(parents=True, exist_ok=True)
    path = qdir / wip_name(original, owner, 1)
    path.write_text(original)
    return path


def test_owner_identity_and_liveness() -> None:
    me = current_owner()
    assert me.pid == os.getpid()
    assert is_alive(me)
    assert is_alive(live_owner())
    assert not is_alive(dead_owner())
    # Same PID, other start time: a reused PID is not the owner.
    assert not is_alive(Owner(me.host, me.pid, me.start + 1))


def test_readers_take_back_only_dead_owners_claims(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    dead = claimed(qdir, "dead.tsv", dead_owner())
    live = claimed(qdir, "live.tsv", live_owner())
    remote = claimed(qdir, "remote.tsv", Owner("elsewhere.example", 1, 1))
    r = ReadableFolderQueue(qdir)
    assert dead.exists()  # constructing a reader renames nothing
    assert r.recover_abandoned() == [str(qdir / "dead.tsv")]
    assert not dead.exists()
    assert (qdir / "dead.tsv").read_text() == "dead.tsv"
    assert live.exists()
    assert remote.exists()
    assert r.recover_abandoned() == []


def test_other_hosts_claims_come_back_after_their_lease(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    gone, busy = Owner("gone.example", 1, 1), Owner("busy.example", 2, 2)
    stale = claimed(qdir, "stale.tsv", gone)
    fresh = claimed(qdir, "fresh.tsv", busy)
    old = time.time() - 120
    for owner in (gone, busy):
        (qdir / heartbeat_name(owner)).write_text("")
    os.utime(qdir / heartbeat_name(gone), (old, old))
    r = ReadableFolderQueue(qdir, lease_seconds=60)
    assert r.recover_abandoned() == [str(qdir / "stale.tsv")]
    assert not stale.exists()
    assert (qdir / "stale.tsv").exists()
    assert fresh.exists()
    os.utime(qdir / heartbeat_name(busy), (old, old))
    assert r.recover_abandoned() == [str(qdir / "fresh.tsv")]


def test_without_a_heartbeat_the_claim_time_counts(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    wip = claimed(qdir, "quiet.tsv", Owner("quiet.example", 1, 1))
    r = ReadableFolderQueue(qdir, lease_seconds=1.0)
    assert wip.exists()
    time.sleep(1.1)
    assert r.recover_abandoned() == [str(qdir / "quiet.tsv")]
    assert ReadableFolderQueue(qdir).recover_abandoned() == []


def test_readers_with_a_lease_keep_a_heartbeat(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    (qdir).mkdir()
    (qdir / "a.tsv").write_text("a")
    r = ReadableFolderQueue(qdir, lease_seconds=0.3)
    assert isinstance(r.get(timeout=1000), str)
    beat = qdir / heartbeat_name(current_owner())
    first = beat.stat().st_mtime_ns
    deadline = time.monotonic() + 10
    while beat.stat().st_mtime_ns == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert beat.stat().st_mtime_ns != first
    r.dispose()
    assert not beat.exists()


def test_restoring_never_overwrites_a_new_file_of_the_same_name(tmp_path: Path) -> None:
    qdir = tmp_path / "q"
    wip = claimed(qdir, "x.tsv", dead_owner())
    (qdir / "x.tsv").write_text("newer")
    assert ReadableFolderQueue(qdir).recover_abandoned() == []
    assert wip.exists()
    assert (qdir / "x.tsv").read_text() == "newer"


def test_heartbeats_that_no_owner_will_refresh_are_removed(tmp_path: Path) -> None:
    """A dead owner's heartbeat, and with a lease one silent for longer than the lease,
    go once the owner holds no claim; a fresh one, or one whose owner holds a claim
    within its lease, stays."""
    qdir = tmp_path / "q"
    qdir.mkdir()
    gone, silent, fresh = dead_owner(), Owner("gone.example", 7, 7), Owner("up.example", 8, 8)
    holding = Owner("busy.example", 9, 9)
    claimed(qdir, "kept.tsv", holding)
    old = time.time() - 120
    for owner in (gone, silent, fresh, holding):
        (qdir / heartbeat_name(owner)).write_text("")
    for owner in (silent, holding):
        os.utime(qdir / heartbeat_name(owner), (old, old))
    os.utime(qdir / wip_name("kept.tsv", holding, 1), (old, time.time()))

    def beats() -> set[str]:
        return {p.name for p in qdir.glob("*.heartbeat")}

    assert ReadableFolderQueue(qdir).recover_abandoned() == []
    assert beats() == {heartbeat_name(o) for o in (silent, fresh, holding)}  # no lease
    r = ReadableFolderQueue(qdir, lease_seconds=60)
    assert r.recover_abandoned() == [str(qdir / "kept.tsv")]  # its heartbeat is old
    assert beats() == {heartbeat_name(fresh)}


def test_heartbeats_stay_while_a_producer_is_open(tmp_path: Path) -> None:
    """An open producer elsewhere is judged by its heartbeat too: none is removed."""
    qdir = tmp_path / "q"
    qdir.mkdir()
    remote = Owner("elsewhere.example", 4242, 1)
    write_marker(str(qdir), "remote-producer", "helo", remote, "none")
    beat = qdir / heartbeat_name(Owner("gone.example", 7, 7))
    beat.write_text("")
    old = time.time() - 120
    os.utime(beat, (old, old))
    assert ReadableFolderQueue(qdir, lease_seconds=60).recover_abandoned() == []
    assert beat.exists()
