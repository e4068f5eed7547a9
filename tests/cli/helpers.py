"""Running the ``persistq`` command (as a subprocess, or in this process), and building
pickup directories."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Sequence

from persistq.cli import main
from persistq.journal.naming import journal_file_name
from persistq.journal.writer import JournalWriter

PERSISTQ = os.path.join(os.path.dirname(sys.executable), "persistq")


def persistq(*args: str, timeout: float = 60, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``persistq ARGS`` to completion; its output as text."""
    return subprocess.run(
        [PERSISTQ, *args], capture_output=True, text=True, timeout=timeout, input=stdin
    )


def persistq_here(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``persistq ARGS`` in this process, as :func:`persistq` would (its exit code and
    output), without an interpreter start: for checks made at every crash point. The
    logging set-up the command makes is undone after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))  # .buffer
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # a usage error (argparse exits)
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    text = [_written(stream) for stream in (out, err)]
    return subprocess.CompletedProcess(["persistq", *args], code, *text)


def _written(stream: io.TextIOWrapper) -> str:
    stream.flush()
    data: bytes = stream.buffer.getvalue()  # type: ignore[attr-defined]
    return data.decode("utf-8").replace("\r\n", "\n")  # as text=True reads it


def dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_journal(
    directory: str, prefix: str, kind: str, pid: int, records: Sequence[Sequence[str]]
) -> str:
    """Write a persistq journal of ``records`` as process ``pid`` would have."""
    assert kind in ("requested", "completed")
    path = os.path.join(directory, journal_file_name(prefix, kind, pid))  # type: ignore[arg-type]
    writer = JournalWriter(path)
    writer.append_many(records)
    writer.close()
    return path
