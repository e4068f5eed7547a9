"""A real ``persistq`` process run in the background, its stderr lines collected as
they come, so a test can wait (with a timeout) for a line and stop it with a signal."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType

from tests.cli.helpers import PERSISTQ


class Running:
    """``persistq ARGS`` running with ``env`` added to the environment."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [PERSISTQ, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)

    def wait_for_line(self, wanted: Callable[[str], bool], timeout: float = 30) -> str:
        """The first stderr line (since the start) that ``wanted`` accepts."""
        deadline = time.monotonic() + timeout
        for seen in self.lines:
            if wanted(seen):
                return seen
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no such line within {timeout} s; got {self.lines}"
            try:
                line = self._new.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"exited {self.proc.wait()} first; got {self.lines}"
            self.lines.append(line)
            if wanted(line):
                return line

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM it and wait for its exit; its exit code (all its lines read)."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        while not self._new.empty():
            line = self._new.get()
            if line is not None:
                self.lines.append(line)
        return code

    def __enter__(self) -> Running:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.proc.kill()
        self.proc.wait(timeout=20)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
