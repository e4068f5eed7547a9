"""A killed owner that is not yet reaped (a zombie) no longer holds its claims."""

from __future__ import annotations

import os
import signal
import time

from persistq.folder.names import Owner
from persistq.folder.owner import is_alive
from persistq.processes import process_start


def test_a_zombie_owner_is_dead() -> None:
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    try:
        start = process_start(pid)
        assert start is not None
        assert is_alive(Owner(os.uname().nodename, pid, start))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process_start(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.01)  # dead but not reaped: /proc/<pid> still exists
        assert os.path.exists(f"/proc/{pid}")
        assert not is_alive(Owner(os.uname().nodename, pid, start))
    finally:
        os.waitpid(pid, 0)
