"""The host harness: hosts made of namespaces have their own names and PID spaces, share
the queue folder at once, die as a whole and stop as a whole."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tools.hosts import Host, unavailable

pytestmark = [pytest.mark.timeout(60)]

REASON = unavailable()
if REASON is not None:
    pytest.skip(REASON, allow_module_level=True)

MEET = """
import os, socket, sys, time
folder, me, other = sys.argv[1:]
with open(os.path.join(folder, me + ".tmp"), "w") as f:
    f.write(str(os.getpid()))
os.rename(os.path.join(folder, me + ".tmp"), os.path.join(folder, me))
deadline = time.monotonic() + 20
while not os.path.exists(os.path.join(folder, other)) and time.monotonic() < deadline:
    time.sleep(0.001)
seen = open(os.path.join(folder, other)).read()
print(socket.gethostname(), os.getpid(), os.readlink("/proc/self/ns/pid"), seen, flush=True)
"""

SLEEPERS = """
import os, subprocess, sys, time
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            for _ in range(2)]
tick = sys.argv[1]
print(" ".join(str(c.pid) for c in children), flush=True)
n = 0
while True:
    n += 1
    with open(tick + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(tick + ".tmp", tick)
    time.sleep(0.01)
"""


def test_hosts_have_own_names_and_pids_and_share_the_folder(tmp_path: Path) -> None:
    a = Host("alpha", [sys.executable, "-c", MEET, str(tmp_path), "a", "b"], stdout=subprocess.PIPE)
    b = Host("beta", [sys.executable, "-c", MEET, str(tmp_path), "b", "a"], stdout=subprocess.PIPE)
    with a, b:
        out_a, _ = a.proc.communicate(timeout=30)
        out_b, _ = b.proc.communicate(timeout=30)
    name_a, pid_a, ns_a, seen_by_a = out_a.split()
    name_b, pid_b, ns_b, seen_by_b = out_b.split()
    assert (name_a, name_b) == ("alpha", "beta")
    assert pid_a == pid_b == "1"  # each host's PID 1: PIDs collide across hosts
    assert ns_a != ns_b
    assert (seen_by_a, seen_by_b) == (pid_b, pid_a)  # each saw the file the other wrote
    assert subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip() not in (
        "alpha",
        "beta",
    )


def test_killing_a_host_kills_every_process_in_it(tmp_path: Path) -> None:
    tick = tmp_path / "tick"
    with Host("doomed", [sys.executable, "-c", SLEEPERS, str(tick)], stdout=subprocess.PIPE) as h:
        assert h.proc.stdout is not None
        inner = h.proc.stdout.readline().split()
        assert inner == ["2", "3"]  # PIDs as the host sees them
        members = h.members()
        assert len(members) == 3
        assert h.init_pid in members
        h.kill()
        assert h.members() == []
        assert h.proc.returncode is not None


def test_a_paused_host_stops_as_a_whole_and_goes_on_when_resumed(tmp_path: Path) -> None:
    tick = tmp_path / "tick"
    with Host("sleepy", [sys.executable, "-c", SLEEPERS, str(tick)], stdout=subprocess.PIPE) as h:
        assert h.proc.stdout is not None
        h.proc.stdout.readline()
        deadline = time.monotonic() + 10
        while not tick.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        h.pause()
        states = {
            pid: Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            for pid in h.members()
        }
        assert set(states.values()) == {"T"}, states
        frozen = tick.read_text()
        time.sleep(0.3)
        assert tick.read_text() == frozen
        h.resume()
        deadline = time.monotonic() + 10
        while tick.read_text() == frozen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tick.read_text() != frozen
        assert len(h.members()) == 3
