"""Hosts made of Linux namespaces on this machine, for multi-host tests and campaigns.

A host is ``unshare --uts --pid --net --mount-proc --fork`` running a command under a
host name of its own: its own PID space (PIDs collide across hosts, as in a cluster),
a network of its own (only a loopback, down), its own ``/proc`` and a copy of this
machine's mounts, so a folder under a temp dir is one folder for every host, as on a
shared file system. Killing a host SIGKILLs its PID 1, which takes every process of
its PID namespace with it; pausing it SIGSTOPs every process of the namespace.

As a module (``python -m tools.hosts NAME ARGV...``, what :class:`Host` runs inside
the namespaces) it sets the host name to NAME and executes ARGV as the host's PID 1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from persistq.processes import process_start

REPO = Path(__file__).resolve().parents[1]
UNSHARE = ("unshare", "--uts", "--pid", "--net", "--mount-proc", "--fork", "--")


def unavailable() -> str | None:
    """Why hosts cannot be made here, saying how to fix it; None when they can."""
    if not sys.platform.startswith("linux"):
        return "hosts need Linux namespaces"
    if shutil.which("unshare") is None:
        return "hosts need unshare (util-linux): apt-get install util-linux"
    if os.geteuid() != 0:
        return "hosts need root to create namespaces (CI runs as root)"
    probe = subprocess.run(
        [*UNSHARE, "true"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        return f"unshare cannot create namespaces here: {probe.stderr.strip()}"
    return None


class Host:
    """A running host: ``argv`` as PID 1 of new UTS, PID, network and mount namespaces,
    with host name ``name``; started at once, from the repository root."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        stdin: int | IO[str] | None = None,
        stdout: int | IO[str] | None = None,
        stderr: int | IO[str] | None = None,
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [*UNSHARE, sys.executable, "-m", "tools.hosts", name, *argv],
            cwd=REPO,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        self._init_pid: int | None = None
        self.started = 0
        """When PID 1 started, in clock ticks after boot (known with :attr:`init_pid`):
        every process of the host started no sooner."""
        self._pidfd: int | None = None
        self._namespace: str | None = None

    @property
    def init_pid(self) -> int:
        """The host's PID 1 as this machine's root namespace sees it (unshare's child)."""
        if self._init_pid is None:
            deadline = time.monotonic() + 30
            while (child := _child_of(self.proc.pid)) is None:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"host {self.name} is not running (unshare gone)")
                time.sleep(0.002)
            self._init_pid = child
            self._pidfd = os.pidfd_open(child)  # signals never reach a later owner of the PID
            self.started = process_start(child) or 0
        return self._init_pid

    @property
    def namespace(self) -> str:
        """The host's PID namespace, as ``/proc/PID/ns/pid`` names it."""
        if self._namespace is None:
            self._namespace = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        return self._namespace

    def members(self) -> list[int]:
        """Every live process of the host, by its PID in the root namespace."""
        namespace = self.namespace
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                        found.append(int(entry))
        return found

    def kill(self) -> bool:
        """SIGKILL the host's PID 1: the kernel kills every process of the namespace.
        Returns once they are all gone; False if the host had ended already."""
        _ = self.namespace  # known before PID 1 goes, so members() still works
        assert self._pidfd is not None
        try:
            signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        except ProcessLookupError:
            landed = False
        else:
            landed = True
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.005)
        return landed

    def pause(self) -> bool:
        """SIGSTOP every process of the host; returns once all of them are stopped, or
        False if the host had ended already."""
        stopped: set[int] = set()
        deadline = time.monotonic() + 30
        while True:  # a process forked while we walk is caught by the next pass
            members = set(self.members())
            for pid in members - stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            stopped |= members
            if not stopped:
                return False
            stopping = all(_state(pid) in ("T", "Z", None) for pid in members)
            if stopping and set(self.members()) <= stopped:
                return True
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {self.name} did not stop")
            time.sleep(0.001)

    def resume(self) -> None:
        """SIGCONT every process of the host."""
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def wait(self, timeout: float) -> int:
        """Wait for PID 1 to exit (every process of the host ends with it); its code."""
        return self.proc.wait(timeout=timeout)

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.resume()
            self.kill()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _child_of(parent: int) -> int | None:
    with contextlib.suppress(OSError):
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            children = f.read().split()
        if children:
            return int(children[0])
    return None


def _state(pid: int) -> str | None:
    """The state letter of process ``pid`` (R, S, T, Z...), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()[0].decode()


def main(argv: list[str]) -> None:
    """Inside a host's namespaces: take host name ``argv[0]``, become ``argv[1:]``."""
    name, *command = argv
    socket.sethostname(name)
    os.execv(command[0], command)  # noqa: S606 - the caller's argv, as subprocess takes it


if __name__ == "__main__":
    main(sys.argv[1:])
