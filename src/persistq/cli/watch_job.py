"""One job of ``persistq watch``: the command run on one claimed trigger, in a session
of its own, holding the job's locks, with its exit code recorded by the job itself.

The command runs under a small ``sh`` wrapper that writes its exit code to a result
file when it ends. If the watcher is SIGKILLed meanwhile, the job goes on (nothing
kills it) and still records its result; the restarted watcher waits for the job's
locks (held by the job's whole process tree, see :mod:`persistq.cli.treelock`) and
then applies that result instead of running the trigger a second time.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import subprocess
import threading
from collections.abc import Sequence

import attrs

NOT_RUNNABLE = (126, 127)
"""Exit codes of a shell for a command it could not run: not executable, not found."""

WRAPPER = """\
identity=$1; shift
"$@"
code=$?
printf '%s %s\\n' "$code" "$identity" > "$0.part" && mv -f -- "$0.part" "$0"
exit "$code"
"""
"""``sh -c WRAPPER RESULT IDENTITY COMMAND...``: runs COMMAND, then records
``CODE IDENTITY`` in file RESULT (atomically: a temporary name, then a rename)."""

STOP_GRACE_SECONDS = 10.0
"""How long a stopped job has after SIGTERM before its process group gets SIGKILL."""


def command_argv(command: Sequence[str], path: str, *, stdin: bool) -> list[str]:
    """COMMAND with the trigger ``path`` in place of each ``{}``, or appended when
    there is none (unless it goes on stdin)."""
    if "{}" in command:
        return [path if word == "{}" else word for word in command]
    return list(command) if stdin else [*command, path]


def file_identity(path: str) -> str:
    """``DEV:INODE`` of ``path``: the same for a trigger through all its renames (claim,
    take-over by a restarted watcher), different for another file of the same name."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def read_result(path: str, identity: str) -> int | None:
    """The exit code that the job of the trigger ``identity`` recorded in ``path``;
    None if there is none for that trigger (never ran to its end, or another file)."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            words = f.read().split()
    except FileNotFoundError:
        return None
    if len(words) == 2 and words[0].isdigit() and words[1] == identity:
        return int(words[0])
    return None


def stamp() -> str:
    """The current UTC time, to the microsecond, for output headers and file names."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


@attrs.frozen
class JobSpec:
    """What one run of the command needs: its argument list, environment, the trigger
    path to write on stdin (or None), where its output and its result go, the trigger's
    identity and the lock descriptors that the whole job holds."""

    argv: list[str]
    env: dict[str, str]
    stdin_text: str | None
    output: str
    result: str
    identity: str
    lock_fds: tuple[int, ...]


def run_job(spec: JobSpec, abort: threading.Event) -> int | None:
    """Run the job in a new session; its exit code, or None if ``abort`` stopped it.

    OSError (the wrapper shell itself cannot start) passes through.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spec.result)
    with open(spec.output, "ab") as out:
        out.write(f"=== {stamp()} {spec.argv}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", WRAPPER, spec.result, spec.identity, *spec.argv],
            stdin=subprocess.DEVNULL if spec.stdin_text is None else subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=spec.env,
            start_new_session=True,
            pass_fds=spec.lock_fds,
        )
        if proc.stdin is not None and spec.stdin_text is not None:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(spec.stdin_text.encode())
                proc.stdin.close()
        while proc.poll() is None:
            if abort.wait(0.1):
                stop_session(proc)
                return None
        out.write(f"=== exit code {proc.returncode}\n".encode())
    return proc.returncode


def stop_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the job's process group, SIGKILL it if it is still there after a grace."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def output_tail(path: str, limit: int = 300) -> str:
    """The last line(s) of a job's output (at most ``limit`` bytes), for a log message."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - limit))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    lines = [line for line in text.splitlines() if line and not line.startswith("=== ")]
    return lines[-1] if lines else ""
