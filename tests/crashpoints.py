"""Enumerate the crash points of a protocol: kill a command at exactly the N-th call of a
syscall, for every N, with ``strace -e inject=SYSCALL:signal=SIGKILL:when=N``.

Random SIGKILLs rarely land between two syscalls of a commit protocol; this lands on each
one. strace counts calls per syscall and per traced process and delivers the signal on
entry, so the process dies *before* the N-th call takes effect.

Typical use in a test::

    for point in crash_points(argv, ("rename", "unlink", "fdatasync"), prepare=setup):
        check_invariants(point)          # the state the killed command left behind

``crash_points`` yields a :class:`CrashPoint` after each run that was killed, and stops
a syscall's enumeration at the first run that finished without reaching its N-th call.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence

import attrs
import pytest

#: The syscalls of commit protocols: what makes a change visible, durable or gone.
COMMIT_SYSCALLS = (
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "fsync",
    "fdatasync",
    "ftruncate",
)

#: A safety bound: no protocol of ours makes this many calls of one syscall.
MAX_POINTS = 400


@attrs.frozen
class CrashPoint:
    """The command was killed on entry to its ``n``-th ``syscall`` call (1-based)."""

    syscall: str
    n: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"SIGKILL at {self.syscall} #{self.n}"


def strace_path() -> str | None:
    """The strace binary, or None where it is not installed."""
    return shutil.which("strace")


def require_strace() -> str:
    """The strace binary; skip the calling test, saying how to install it, when missing."""
    path = strace_path()
    if path is None:
        pytest.skip("strace is not installed (Debian: apt-get install -y strace)")
    return path


def run_killed_at(
    argv: Sequence[str],
    syscall: str,
    n: int,
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[bool, subprocess.CompletedProcess[str]]:
    """Run ``argv`` under strace, SIGKILLing any of its processes on entry to its
    ``n``-th ``syscall``; return whether a kill happened, and the completed process."""
    strace = require_strace()
    with tempfile.TemporaryDirectory(prefix="crashpoint-") as scratch:
        log = os.path.join(scratch, "strace.log")
        command = [
            strace,
            "-f",
            "-o",
            log,
            "-e",
            f"trace={syscall}",
            "-e",
            f"inject={syscall}:signal=SIGKILL:when={n}",
            *argv,
        ]
        done = subprocess.run(
            command,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        with open(log, encoding="utf-8", errors="replace") as trace:
            killed = "+++ killed by SIGKILL +++" in trace.read()
    return killed, done


def crash_points(
    argv: Sequence[str],
    syscalls: Sequence[str] = COMMIT_SYSCALLS,
    *,
    prepare: Callable[[], None] | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    limit: int = MAX_POINTS,
) -> Iterator[CrashPoint]:
    """Yield every crash point of ``argv`` for each of ``syscalls``, in order.

    ``prepare`` runs before each run (lay out the state the command starts from). The
    caller inspects what each killed run left behind when the point is yielded. A run
    that was not killed ends that syscall's enumeration; more than ``limit`` points of
    one syscall fail the test (a protocol that loops for ever)."""
    for syscall in syscalls:
        for n in range(1, limit + 2):
            if n > limit:
                pytest.fail(f"{' '.join(argv)} made more than {limit} {syscall} calls")
            if prepare is not None:
                prepare()
            killed, done = run_killed_at(argv, syscall, n, cwd=cwd, env=env, timeout=timeout)
            if not killed:
                if done.returncode != 0:
                    pytest.fail(
                        f"{' '.join(argv)} failed without a kill (exit {done.returncode}) "
                        f"while counting {syscall} calls:\n{done.stderr}"
                    )
                break
            yield CrashPoint(syscall, n, done.stdout, done.stderr)


def python_argv(code: str) -> list[str]:
    """The argv that runs ``code`` in this interpreter (its venv included), with no
    wrapper process (a pyenv shim on PATH would count its own syscalls)."""
    return [sys.executable, "-c", code]
