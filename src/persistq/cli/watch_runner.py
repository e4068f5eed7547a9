"""The dispatcher of ``persistq watch``: claims triggers and runs their jobs, at most
``concurrency`` at once, never one trigger twice at once (see docs/cli.md)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
from collections import deque
from queue import Empty
from types import FrameType

import attrs

from persistq.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNHEALTHY, CliError
from persistq.cli.folder import DONE_FOLDER, FAILED_FOLDER, owner_state, wips
from persistq.cli.progress import Progress
from persistq.cli.treelock import remove_if_free, wait_lock
from persistq.cli.watch_job import (
    NOT_RUNNABLE,
    JobSpec,
    command_argv,
    file_identity,
    output_tail,
    read_result,
    run_job,
)
from persistq.cli.watch_retry import RetryWait, backoff_delay
from persistq.folder import ReadableFolderQueue
from persistq.folder.files import claim, publish, release
from persistq.folder.names import parse_wip, queued_name, wip_name
from persistq.folder.owner import current_owner
from persistq.sentinels import DONE, FAILED

log = logging.getLogger("persistq.cli.watch")

STATE_FOLDER = ".persistq-watch"
"""Hidden folder in PATH (ignored by the queue) for the watcher's own files: each
trigger's output (``NAME.output``), lock (``NAME.lock``), recorded exit code
(``NAME.result``), the path its command reads (``running/NAME``), and the lock of
``--concurrency 1`` (``watch.lock``)."""
SERIAL_LOCK = "watch.lock"


@attrs.frozen
class Settings:
    """What ``persistq watch`` was asked to do."""

    command: list[str]
    stdin: bool
    retries: int
    backoff: float
    max_backoff: float
    concurrency: int
    idle_exit: float | None


class Runner:
    """Claims triggers and runs them, ``concurrency`` at a time."""

    def __init__(self, path: str, extension: str, settings: Settings) -> None:
        self.path = path
        self.extension = extension
        self.s = settings
        self.done_dir = os.path.join(path, DONE_FOLDER)
        self.failed_dir = os.path.join(path, FAILED_FOLDER)
        self.state_dir = os.path.join(path, STATE_FOLDER)
        os.makedirs(os.path.join(self.state_dir, "running"), exist_ok=True)
        self.stop = threading.Event()
        self.abort = threading.Event()
        self.slots = threading.Semaphore(settings.concurrency)
        self.lock = threading.Lock()
        self.jobs: set[threading.Thread] = set()
        self.retry = RetryWait()
        self.finished = 0
        self.failures = 0
        self.config_error: str | None = None
        # Before the reader exists: it would put a dead watcher's claims back in the
        # queue, under the feet of jobs that may still run.
        self.taken_over = deque(self._take_over())
        self.reader = ReadableFolderQueue(
            path,
            extension,
            self.done_dir,
            max_attempts=settings.retries + 1,
            failed_directory=self.failed_dir,
        )
        self.progress = Progress("triggers finished", interval=60.0)

    def _take_over(self) -> list[str]:
        """Claim as ours the triggers that a dead watcher of this host was running."""
        me = current_owner()
        taken = []
        for name in wips(self.path, self.extension):
            wip = parse_wip(name)
            if wip is None or owner_state(wip.owner) != "dead":
                continue
            mine = os.path.join(self.path, wip_name(wip.original, me, wip.attempt))
            if claim(os.path.join(self.path, name), mine):
                log.info(
                    "taking over %s: its watcher (PID %d on %s) died while running it",
                    wip.original,
                    wip.owner.pid,
                    wip.owner.host,
                )
                taken.append(mine)
        return taken

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
        log.info("watching %s for *%s; command: %s", self.path, self.extension, self.s.command)
        upstream_failed = False
        try:
            upstream_failed = self._dispatch()
            self._wait_for_jobs()
        finally:
            for wip in [*self.retry.take_all(), *self.taken_over]:
                self._give_back(wip)
            self.reader.dispose()
            self.progress.close()
        log.info("stopped: %d trigger(s) finished, %d failed", self.finished, self.failures)
        if self.config_error is not None:
            raise CliError(self.config_error)
        if self.abort.is_set():
            return EXIT_INTERRUPTED
        return EXIT_UNHEALTHY if self.failures or upstream_failed else EXIT_OK

    def _dispatch(self) -> bool:
        """Claim and start jobs until stopped; True if a producer failed."""
        idle_since = time.monotonic()
        while not self.stop.is_set():
            if not self.slots.acquire(timeout=0.2):
                idle_since = time.monotonic()
                continue
            ready = self.retry.pop_due() or (self.taken_over.popleft() if self.taken_over else None)
            if ready is not None:
                self._start(ready)
                continue
            try:
                msg = self.reader.get(timeout=self._get_timeout_ms())
            except Empty:
                self.slots.release()
                if self._busy():
                    idle_since = time.monotonic()
                elif self.s.idle_exit is not None and (
                    time.monotonic() - idle_since >= self.s.idle_exit
                ):
                    log.info("nothing to run for %s s; exiting", self.s.idle_exit)
                    return False
                continue
            if msg is FAILED:
                self.slots.release()
                log.error("a producer of %s failed (failed marker); stopping", self.path)
                return True
            if msg is DONE:
                self.slots.release()
                if not self._busy():
                    log.info("every producer of %s is done; stopping", self.path)
                    return False
                time.sleep(min(0.2, self.retry.seconds_to_next() or 0.2))
                continue
            idle_since = time.monotonic()
            wip = str(msg)
            parsed = parse_wip(os.path.basename(wip))
            assert parsed is not None  # the reader hands out wip names only
            if self.retry.park(wip, parsed.original):
                self.slots.release()
                continue
            self._start(wip)
        return False

    def _get_timeout_ms(self) -> float:
        due = self.retry.seconds_to_next()
        return 200.0 if due is None else min(200.0, due * 1000)

    def _busy(self) -> bool:
        with self.lock:
            return bool(self.jobs or self.retry.parked)

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
            self._locked_job(wip)
        except Exception:
            log.exception("%s: the watcher failed on it; it stays claimed", wip)
        finally:
            with self.lock:
                self.jobs.discard(threading.current_thread())
            self.slots.release()

    def _locked_job(self, wip: str) -> None:
        """Take the job's locks (waiting for an earlier job's processes to end), run it."""
        name = self._name(wip)
        trigger_lock = os.path.join(self.state_dir, name + ".lock")
        paths = [os.path.join(self.state_dir, SERIAL_LOCK)] if self.s.concurrency == 1 else []
        fds: list[int] = []
        try:
            for path in [*paths, trigger_lock]:
                fd = wait_lock(path, self.stop.is_set, functools.partial(self._waiting, name, path))
                if fd is None:
                    self._give_back(wip)
                    return
                fds.append(fd)
            self._run_job(wip, tuple(fds))
        finally:
            for fd in fds:
                os.close(fd)
            remove_if_free(trigger_lock)

    def _waiting(self, name: str, lock: str) -> None:
        log.warning(
            "%s: waiting for the processes of an earlier job to end (they hold %s)", name, lock
        )

    def _run_job(self, wip: str, fds: tuple[int, ...]) -> None:
        parsed = parse_wip(os.path.basename(wip))
        assert parsed is not None
        name, attempt = parsed.original, parsed.attempt
        output = os.path.join(self.state_dir, name + ".output")
        result = os.path.join(self.state_dir, name + ".result")
        identity = file_identity(wip)
        code = read_result(result, identity)
        if code is not None:
            log.warning(
                "%s: attempt %d outlived the watcher that started it and ended with exit "
                "code %d; not running it again",
                name,
                attempt,
                code,
            )
            took = "after its watcher died"
        else:
            if self.stop.is_set():
                self._give_back(wip)
                return
            log.info("%s: attempt %d/%d: running", name, attempt, self.s.retries + 1)
            started = time.monotonic()
            code = self._execute(wip, name, attempt, fds, output, result, identity)
            if code is None:
                self._give_back(wip)
                return
            took = f"in {time.monotonic() - started:.1f} s"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(result)
        self._settle(wip, name, attempt, code, output, took)

    def _execute(
        self,
        wip: str,
        name: str,
        attempt: int,
        fds: tuple[int, ...],
        output: str,
        result: str,
        identity: str,
    ) -> int | None:
        """Run the command on ``wip``; its exit code, or None if it was stopped."""
        readable = self._stable_path(wip, name)
        spec = JobSpec(
            argv=command_argv(self.s.command, readable, stdin=self.s.stdin),
            env={**os.environ, "PERSISTQ_TRIGGER": name, "PERSISTQ_ATTEMPT": str(attempt)},
            stdin_text=readable + "\n" if self.s.stdin else None,
            output=output,
            result=result,
            identity=identity,
            lock_fds=fds,
        )
        return run_job(spec, self.abort)

    def _stable_path(self, wip: str, name: str) -> str:
        """A path of the claimed trigger that stays valid while its job runs, even when
        a restarted watcher takes the claim over (a rename): a hard link to it."""
        link = os.path.join(self.state_dir, "running", name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        try:
            os.link(wip, link)
        except OSError as exc:
            log.debug("cannot link %s (%s); the command gets the claimed path", wip, exc)
            return wip
        return link

    def _settle(self, wip: str, name: str, attempt: int, code: int, output: str, took: str) -> None:
        """Act on the job's exit code: done, configuration error, retry or failed."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.state_dir, "running", name))
        if code == 0:
            dst = self.reader.task_done(wip)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(output)
            log.info("%s: done %s (exit 0) -> %s", name, took, dst)
            self._finished(failed=False)
            return
        if code in NOT_RUNNABLE:
            self._not_runnable(wip, name, code, output)
            return
        reason = f"{self.s.command[0]} exited with code {code} on attempt {attempt}"
        if attempt <= self.s.retries:
            delay = backoff_delay(attempt, self.s.backoff, self.s.max_backoff)
            self._retry_later(wip, name, reason, delay)
            log.warning("%s: %s %s; retry in %.1f s", name, reason, took, delay)
            return
        dst = self.reader.task_failed(wip, reason)
        os.replace(output, dst + ".output")
        log.error("%s: %s; gave up -> %s (output in %s.output)", name, reason, dst, dst)
        self._finished(failed=True)

    def _retry_later(self, wip: str, name: str, reason: str, delay: float) -> None:
        """Give the failed claim back at once, as its next attempt, due after ``delay``."""
        with self.lock:
            self.retry.defer(name, delay)
        self.reader.task_failed(wip, reason)

    def _not_runnable(self, wip: str, name: str, code: int, output: str) -> None:
        what = "not executable" if code == 126 else "not found"
        tail = output_tail(output)
        self.config_error = (
            f"the command could not be run on {name} (exit {code}: {what}"
            f"{': ' + tail if tail else ''}); a configuration error, not a failed "
            f"trigger: {name} was given back as it was and the watcher stopped. Fix the "
            f"command and start again (output in {output})"
        )
        log.error("%s: %s", name, self.config_error)
        self._give_back(wip)
        self.stop.set()

    def _finished(self, *, failed: bool) -> None:
        with self.lock:
            self.finished += 1
            self.failures += failed
            self.progress.update(self.finished, f"({self.failures} failed)")

    def _name(self, wip: str) -> str:
        parsed = parse_wip(os.path.basename(wip))
        assert parsed is not None
        return parsed.original

    def _give_back(self, wip: str) -> None:
        """Put a claimed trigger back, unfinished, as the same attempt."""
        parsed = parse_wip(os.path.basename(wip))
        assert parsed is not None
        dst = os.path.join(self.path, queued_name(parsed.original, parsed.attempt, self.extension))
        publish(wip, dst)
        release(wip)
        log.warning("%s: given back unfinished (as %s)", parsed.original, os.path.basename(dst))
