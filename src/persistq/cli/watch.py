"""``persistq watch PATH --pattern '*.trigger' -- COMMAND...``: the trigger-file runner.

Each trigger file in PATH is claimed through a ReadableFolderQueue and run through
COMMAND, one at a time (or ``--concurrency N``); exit 0 moves it to ``done/``, a
failure retries it with exponential backoff and finally moves it to ``failed/`` with
the command's output beside it. A runner killed mid-job resumes that trigger when it
starts again (its claim names a dead process, which the queue takes back).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from queue import Empty
from types import FrameType

from persistq.cli.common import EXIT_OK, EXIT_UNHEALTHY, CliError, existing_dir
from persistq.cli.folder import DONE_FOLDER, FAILED_FOLDER, owner_state, wips
from persistq.cli.progress import Progress
from persistq.folder import ReadableFolderQueue
from persistq.folder.names import normalize_extension, parse_wip, queued_name
from persistq.sentinels import DONE, FAILED

log = logging.getLogger(__name__)

OUTPUT_FOLDER = ".persistq-watch"
"""Hidden folder in PATH (ignored by the queue) where each trigger's output is kept
until it is done (deleted) or failed (moved beside it in ``failed/``)."""
PR_SET_PDEATHSIG = 1

EXAMPLES = """\
examples:
  persistq watch /data/triggers --pattern '*.trigger' -- ./load.sh
  persistq watch /data/triggers --pattern '*.trigger' --retries 3 -- psql -f {}
  persistq watch /data/triggers --stdin -- python load.py       # path on stdin
  persistq watch /data/triggers --idle-exit 60 -- ./load.sh      # from cron

The command gets the claimed trigger file's path as its last argument (or where {}
appears, or on stdin with --stdin); while it runs the file is named NAME@...@N.wip,
and PERSISTQ_TRIGGER (the original name) and PERSISTQ_ATTEMPT are in its environment.
Drop triggers in atomically: write elsewhere, then rename into PATH.
SIGINT/SIGTERM: finish the running job(s) and stop; a second signal stops them and
gives their triggers back. Exit 0, or 1 if a trigger failed for good (or a producer
of the folder failed).
"""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``watch`` subcommand."""
    parser = sub.add_parser(
        "watch",
        help="run a command for each trigger file, one at a time",
        usage="%(prog)s PATH [OPTIONS] -- COMMAND [ARG...]",
        description="Claim each trigger file that appears in PATH (or is there at start) "
        "and run COMMAND on it; done/ on success, retries with exponential backoff, then "
        "failed/ with the command's output.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="the folder that trigger files appear in")
    parser.add_argument(
        "--pattern", default="*.trigger", help="trigger files, as '*.EXT' (default '*.trigger')"
    )
    parser.add_argument("--retries", type=int, default=0, metavar="N", help="retries (0)")
    parser.add_argument(
        "--backoff", type=float, default=5.0, metavar="SECONDS", help="first retry delay (5)"
    )
    parser.add_argument(
        "--max-backoff", type=float, default=600.0, metavar="SECONDS", help="longest delay (600)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="jobs run at once (1)"
    )
    parser.add_argument("--stdin", action="store_true", help="pass the path on stdin")
    parser.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="exit once nothing was there to run for this long (default: run until stopped)",
    )
    parser.set_defaults(run=run, argv_after_dashes=True)


def backoff_delay(failed_attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after attempt ``failed_attempt`` (1-based) failed: ``base``
    doubled for each earlier failure, at most ``cap``."""
    return float(min(cap, base * 2 ** (failed_attempt - 1)))


def extension_of_pattern(pattern: str) -> str:
    """The message extension that glob ``pattern`` (``*.EXT``) selects."""
    rest = pattern[1:] if pattern.startswith("*") else ""
    if not rest.startswith(".") or any(c in rest for c in "*?[]"):
        raise CliError(f"--pattern {pattern!r}: must be '*.EXT' (trigger files by extension)")
    try:
        return normalize_extension(rest)
    except ValueError as exc:
        raise CliError(f"--pattern {pattern!r}: {exc}") from None


def command_argv(command: Sequence[str], path: str, *, stdin: bool) -> list[str]:
    """COMMAND with the trigger ``path`` in place of each ``{}``, or appended when
    there is none (unless it goes on stdin)."""
    if "{}" in command:
        return [path if word == "{}" else word for word in command]
    return list(command) if stdin else [*command, path]


def _die_with_parent() -> None:
    # A runner killed with SIGKILL must not leave its command running: its restart
    # would run the same trigger a second time, concurrently.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


class Runner:
    """Claims triggers and runs them, ``concurrency`` at a time."""

    def __init__(self, path: str, extension: str, args: argparse.Namespace) -> None:
        self.path = path
        self.extension = extension
        self.command: list[str] = args.argv
        self.stdin: bool = args.stdin
        self.retries: int = args.retries
        self.backoff: float = args.backoff
        self.max_backoff: float = args.max_backoff
        self.idle_exit: float | None = args.idle_exit
        self.done_dir = os.path.join(path, DONE_FOLDER)
        self.failed_dir = os.path.join(path, FAILED_FOLDER)
        self.output_dir = os.path.join(path, OUTPUT_FOLDER)
        os.makedirs(self.output_dir, exist_ok=True)
        self.stop = threading.Event()
        self.abort = threading.Event()
        self.slots = threading.Semaphore(args.concurrency)
        self.lock = threading.Lock()
        self.jobs: set[threading.Thread] = set()
        self.due: dict[str, float] = {}
        self.finished = 0
        self.failures = 0
        resumed = self._resumable()
        self.reader = ReadableFolderQueue(
            path,
            extension,
            self.done_dir,
            sorting_function=lambda name: (name not in resumed, name),
            max_attempts=self.retries + 1,
            failed_directory=self.failed_dir,
        )
        self.progress = Progress("triggers finished", interval=60.0)

    def _resumable(self) -> set[str]:
        """The triggers that a dead runner was running: they are resumed first."""
        resumed = set()
        for name in wips(self.path, self.extension):
            wip = parse_wip(name)
            if wip is not None and owner_state(wip.owner) == "dead":
                log.info(
                    "resuming %s: its runner (PID %d on %s) died while running it",
                    wip.original,
                    wip.owner.pid,
                    wip.owner.host,
                )
                resumed.add(wip.original)
        return resumed

    # -- signals ---------------------------------------------------------------------

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: finish running jobs, claim no more. Second: give them back."""
        name = signal.Signals(signum).name
        if not self.stop.is_set():
            self.stop.set()
            log.warning(
                "%s: finishing the running job(s); claiming no more (again: give back)", name
            )
        else:
            self.abort.set()
            log.warning("%s: stopping the running job(s) and giving their triggers back", name)

    # -- the dispatcher --------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped, idle for ``idle_exit`` seconds, or the producers are done."""
        log.info("watching %s for *%s; command: %s", self.path, self.extension, self.command)
        idle_since = time.monotonic()
        upstream_failed = False
        try:
            while not self.stop.is_set():
                if not self.slots.acquire(timeout=0.2):
                    idle_since = time.monotonic()
                    continue
                try:
                    msg = self.reader.get(timeout=200)
                except Empty:
                    self.slots.release()
                    with self.lock:
                        busy = bool(self.jobs)
                    if busy:
                        idle_since = time.monotonic()
                    elif (
                        self.idle_exit is not None
                        and time.monotonic() - idle_since >= self.idle_exit
                    ):
                        log.info("nothing to run for %s s; exiting", self.idle_exit)
                        break
                    continue
                if msg is DONE or msg is FAILED:
                    self.slots.release()
                    upstream_failed = msg is FAILED
                    if upstream_failed:
                        log.error("a producer of %s failed (failed marker); stopping", self.path)
                    else:
                        log.info("every producer of %s is done; stopping", self.path)
                    break
                idle_since = time.monotonic()
                self._start(str(msg))
            self._wait_for_jobs()
        finally:
            self.reader.dispose()
            self.progress.close()
        log.info("stopped: %d trigger(s) finished, %d failed", self.finished, self.failures)
        return EXIT_UNHEALTHY if self.failures or upstream_failed else EXIT_OK

    def _start(self, wip: str) -> None:
        thread = threading.Thread(target=self._job, args=(wip,), name=os.path.basename(wip))
        with self.lock:
            self.jobs.add(thread)
        thread.start()

    def _wait_for_jobs(self) -> None:
        while True:
            with self.lock:
                jobs = list(self.jobs)
            if not jobs:
                return
            for thread in jobs:
                thread.join(0.2)

    # -- one job ---------------------------------------------------------------------

    def _job(self, wip: str) -> None:
        try:
            self._run_job(wip)
        except Exception:
            log.exception("%s: the runner failed on it; it stays claimed", wip)
        finally:
            with self.lock:
                self.jobs.discard(threading.current_thread())
            self.slots.release()

    def _run_job(self, wip: str) -> None:
        parsed = parse_wip(os.path.basename(wip))
        assert parsed is not None  # the reader hands out wip names only
        name, attempt = parsed.original, parsed.attempt
        with self.lock:
            due = self.due.pop(name, 0.0)
        wait = due - time.monotonic()
        if wait > 0:
            log.info("%s: attempt %d starts in %.1f s (backoff)", name, attempt, wait)
            if self.stop.wait(wait):
                self._give_back(wip, name, attempt)
                return
        if self.stop.is_set():
            self._give_back(wip, name, attempt)
            return
        log.info("%s: attempt %d/%d: running", name, attempt, self.retries + 1)
        started = time.monotonic()
        output = os.path.join(self.output_dir, name + ".output")
        code = self._execute(wip, name, attempt, output)
        if code is None:
            self._give_back(wip, name, attempt)
            return
        took = time.monotonic() - started
        if code == 0:
            self.reader.task_done(wip)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output)
            log.info("%s: done in %.1f s (exit 0) -> %s/", name, took, DONE_FOLDER)
            self._finished(failed=False)
            return
        reason = f"{self.command[0]} exited with code {code} on attempt {attempt}"
        if attempt <= self.retries:
            delay = backoff_delay(attempt, self.backoff, self.max_backoff)
            with self.lock:
                self.due[name] = time.monotonic() + delay
            self.reader.task_failed(wip, reason)
            log.warning("%s: %s after %.1f s; retry in %.1f s", name, reason, took, delay)
            return
        dst = self.reader.task_failed(wip, reason)
        os.replace(output, dst + ".output")
        log.error("%s: %s; gave up -> %s (output in %s.output)", name, reason, dst, dst)
        self._finished(failed=True)

    def _finished(self, *, failed: bool) -> None:
        with self.lock:
            self.finished += 1
            self.failures += failed
            self.progress.update(self.finished, f"({self.failures} failed)")

    def _execute(self, wip: str, name: str, attempt: int, output: str) -> int | None:
        """Run the command on ``wip``; its exit code, or None if it was stopped."""
        argv = command_argv(self.command, wip, stdin=self.stdin)
        env = {**os.environ, "PERSISTQ_TRIGGER": name, "PERSISTQ_ATTEMPT": str(attempt)}
        with open(output, "ab") as out:
            out.write(f"=== {_stamp()} attempt {attempt}: {argv}\n".encode())
            out.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE if self.stdin else subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
                )
            except OSError as exc:
                out.write(f"cannot run {argv[0]}: {exc}\n".encode())
                log.error("%s: cannot run %s: %s", name, argv[0], exc)
                return 127
            if proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.write(wip.encode() + b"\n")
                    proc.stdin.close()
            while proc.poll() is None:
                if self.abort.wait(0.1):
                    self._stop_process(proc)
                    return None
            out.write(f"=== exit code {proc.returncode}\n".encode())
        return proc.returncode

    def _stop_process(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _give_back(self, wip: str, name: str, attempt: int) -> None:
        """Put a claimed trigger back, unfinished, as the same attempt."""
        dst = os.path.join(self.path, queued_name(name, attempt, self.extension))
        self.reader.give_back(wip)
        log.warning("%s: given back unfinished (as %s)", name, os.path.basename(dst))


def run(args: argparse.Namespace) -> int:
    """Run the trigger-file runner."""
    path = existing_dir(args.path)
    extension = extension_of_pattern(args.pattern)
    if not args.argv:
        raise CliError("no COMMAND given: persistq watch PATH [OPTIONS] -- COMMAND...")
    for option in ("retries", "concurrency"):
        if getattr(args, option) < (0 if option == "retries" else 1):
            raise CliError(f"--{option}: {getattr(args, option)} is out of range")
    if not args.backoff >= 0 or not args.max_backoff >= 0:
        raise CliError(f"--backoff {args.backoff} / --max-backoff {args.max_backoff}: negative")
    runner = Runner(path, extension, args)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, runner.on_signal)
    return runner.run()
