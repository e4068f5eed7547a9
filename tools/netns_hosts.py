"""Test hosts built from Linux network namespaces, joined to this host by veth pairs.

``Hosts(n)`` creates ``n`` namespaces ``persistq-S-hI``, each with one veth whose other
end sits on a bridge ``pqbS`` in the root namespace. The subnet ``10.213.S.0/24`` is
the first one no interface of this host uses: the bridge is ``10.213.S.1`` (where a
broker listens, see ``tools.rabbitmq_node.Node(host=...)``) and host ``I`` is
``10.213.S.(10+I)``. The namespaces have no default route, so their processes reach
only the bridge and each other; nothing is routed anywhere else. A host is cut off
(its veth down, as a pulled cable) and restored; ``remove`` (also on leaving the
``with`` block, when a test fails) SIGKILLs the processes in the namespaces (by their
ids) and deletes the namespaces, veths and bridge. Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import attrs

PREFIX = "10.213"
LOCK = Path(tempfile.gettempdir()) / "persistq-netns-hosts.lock"
IP = shutil.which("ip") or "/usr/sbin/ip"


def unavailable() -> str | None:
    """Why namespaced hosts cannot be made here (None if they can)."""
    if not os.path.exists(IP):
        return "needs ip (apt-get install -y iproute2)"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    return None


def ip(*args: str) -> str:
    """Run ``ip ARGS`` and return its output; raise CalledProcessError with its stderr."""
    argv = [IP, *args]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise subprocess.CalledProcessError(done.returncode, argv, done.stdout, done.stderr)
    return done.stdout


def _free_subnet() -> int:
    used = {int(m) for m in re.findall(rf"inet {re.escape(PREFIX)}\.(\d+)\.", ip("-4", "addr"))}
    taken = {int(m) for m in re.findall(r"\bpqb(\d+)\b", ip("link"))}
    for subnet in range(1, 255):
        if subnet not in used | taken:
            return subnet
    raise RuntimeError(f"no free {PREFIX}.X.0/24 subnet left on this host")


@attrs.frozen
class Host:
    """One namespaced host: its namespace, the veth end inside it, its address."""

    netns: str
    device: str
    address: str
    outer: str  # the veth end on the bridge

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return [IP, "netns", "exec", self.netns, *argv]

    def python(self, module: str, *args: str, **popen: object) -> subprocess.Popen[bytes]:
        """Start ``python -m module ARGS`` on this host (from the repository root)."""
        argv = self.argv([sys.executable, "-m", module, *args])
        return subprocess.Popen(argv, cwd=Path(__file__).resolve().parents[1], **popen)  # type: ignore[call-overload,no-any-return]

    def cut(self) -> None:
        """Take the host's link down: its packets go nowhere, as with a pulled cable."""
        ip("-n", self.netns, "link", "set", self.device, "down")

    def restore(self) -> None:
        """Bring the host's link up again (its address and route come back with it)."""
        ip("-n", self.netns, "link", "set", self.device, "up")


class Hosts:
    """``n`` namespaced hosts on a bridge of the root namespace (see the module)."""

    def __init__(self, n: int) -> None:
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        self.hosts: list[Host] = []
        with open(LOCK, "w") as lock:  # two harnesses at once take two subnets
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = _free_subnet()
            self.bridge = f"pqb{self.subnet}"
            self.gateway = f"{PREFIX}.{self.subnet}.1"
            ip("link", "add", self.bridge, "type", "bridge")
        try:
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for index in range(n):
                self._add_host(index)
        except BaseException:
            self.remove()
            raise

    def _add_host(self, index: int) -> None:
        netns = f"persistq-{self.subnet}-h{index}"
        outer, inner = f"pqr{self.subnet}h{index}", f"pqh{self.subnet}h{index}"
        host = Host(netns, inner, f"{PREFIX}.{self.subnet}.{10 + index}", outer)
        ip("netns", "add", netns)
        self.hosts.append(host)  # from here on, remove() deletes it
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", netns)
        ip("link", "set", outer, "master", self.bridge, "up")
        ip("-n", netns, "addr", "add", f"{host.address}/24", "dev", inner)
        ip("-n", netns, "link", "set", inner, "up")
        ip("-n", netns, "link", "set", "lo", "up")

    def remove(self) -> None:
        """SIGKILL what runs in the namespaces, delete them, their veths and the bridge."""
        for host in self.hosts:
            with contextlib.suppress(subprocess.CalledProcessError):
                for pid in ip("netns", "pids", host.netns).split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", host.netns)  # deletes its veth end, and so the pair
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("link", "del", host.outer)  # left in the root namespace by a failed set-up
        self.hosts = []
        with contextlib.suppress(subprocess.CalledProcessError):
            ip("link", "del", self.bridge)

    def __enter__(self) -> Hosts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
