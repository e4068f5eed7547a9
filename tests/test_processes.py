"""Liveness of processes on this host: never "dead" for a process that runs but /proc
does not show (``hidepid=2``), and writer tokens that tell PID namespaces apart."""

from __future__ import annotations

import builtins
import hashlib
import os
import subprocess
import sys
from typing import Any

import pytest

from persistq import processes
from persistq.folder import files, lease, owner
from tests.cli.helpers import dead_pid


def hide_proc_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc as mounted with hidepid=2: other processes' entries are not there."""
    real_open = builtins.open

    def hiding_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        mine = ("/proc/self/stat", f"/proc/{os.getpid()}/stat")
        hidden = isinstance(file, str) and file.startswith("/proc/") and file.endswith("/stat")
        if hidden and file not in mine:
            raise FileNotFoundError(2, "No such file or directory", file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", hiding_open)


def test_a_live_process_that_proc_hides_is_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gone = dead_pid()
        hide_proc_entries(monkeypatch)
        assert processes.pid_alive(sleeper.pid)  # /proc hides it; kill(pid, 0) finds it
        assert processes.process_start(sleeper.pid) == 0  # start unknown
        assert not processes.pid_alive(gone)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_writer_tokens_name_this_namespace_and_start() -> None:
    token = processes.writer_token()
    namespace, start = token.split("-")
    assert namespace == processes.namespace_id() and len(namespace) == 8
    assert int(start) == processes.process_start(os.getpid())
    assert processes.token_liveness(os.getpid(), token) == "alive"
    assert processes.token_liveness(os.getpid(), f"{namespace}-1") == "dead"  # PID reused
    assert processes.token_liveness(os.getpid(), "0badc0de-1") == "unknown"  # elsewhere


@pytest.mark.timeout(30)
def test_one_fork_hook_resets_every_per_process_state_in_the_child() -> None:
    parent = owner.current_owner()
    files._held.add("/q/claimed-here.wip")
    lease._beating["/q/beat"] = (object(), 1)  # type: ignore[assignment]
    seen: list[int] = []
    processes.after_fork_in_child(lambda: seen.append(processes.forks))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what the one hook reset, then exit at once
        child = owner.current_owner()
        ok = (
            seen == [processes.forks]
            and child.pid == os.getpid() != parent.pid
            and child.realm == parent.realm
            and not files._held
            and not lease._beating
        )
        os.write(write, b"ok" if ok else b"no")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 2) == b"ok"
        assert seen == []  # the parent's state is its own
        assert owner.current_owner() is parent
    finally:
        os.close(read)
        os.waitpid(pid, 0)
        files._held.discard("/q/claimed-here.wip")
        lease._beating.pop("/q/beat", None)
        processes._resets.pop()


def test_journal_and_claim_names_encode_one_reading_of_the_system() -> None:
    system = processes.SystemIdentity(
        "etl1", "0123456789abcdef0123456789abcdef", "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
        "pid:[4026531836]",
    )  # fmt: skip
    assert system.pid_namespace_inode == 4026531836
    assert owner.realm_of(system) == "012345.e1f2a3.effffffc"  # the realm in claim names
    unread = processes.SystemIdentity("etl1", "", "", "")
    assert unread.pid_namespace_inode is None and owner.realm_of(unread) == ".."
    # Both read the same system now: the realm of this process, its namespace id.
    now = processes.system_identity()
    assert owner.current_realm() == owner.realm_of(now)
    parts = "\0".join((now.hostname, now.boot_id, now.pid_namespace))
    assert processes.namespace_id() == hashlib.sha256(parts.encode()).hexdigest()[:8]
