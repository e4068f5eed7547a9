"""One trigger's job in ``persistq watch``: take its locks (waiting for an earlier
job's processes to end), use the exit code a job that outlived its watcher recorded
or run the command, then settle the trigger: done, retry, failed, or given back."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time

import attrs

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
from persistq.cli.watch_observer import Outcome, WatchObserver
from persistq.folder import ReadableFolderQueue
from persistq.folder.names import parse_wip
from persistq.folder.schedule import retry_wait

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

    def retry_delays(self) -> tuple[float | None, float | None]:
        """The reader's ``retry_delay`` and ``max_retry_delay`` for ``--backoff`` and
        ``--max-backoff`` (the reader holds a failed trigger back; 0 for either: retry
        at once)."""
        if not self.backoff > 0 or not self.max_backoff > 0:
            return None, None
        return self.backoff, self.max_backoff


@attrs.define
class Shared:
    """What the jobs of one watcher share: the queue, the settings, the stop and abort
    events, the observer of their events, and the tally (under ``lock``)."""

    path: str
    extension: str
    settings: Settings
    reader: ReadableFolderQueue
    progress: Progress
    stop: threading.Event = attrs.field(factory=threading.Event)
    abort: threading.Event = attrs.field(factory=threading.Event)
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    observer: WatchObserver = attrs.field(factory=WatchObserver)
    finished: int = 0
    failures: int = 0
    config_error: str | None = None

    @property
    def queue(self) -> str:
        """The folder's absolute path: the ``queue`` of log records and metrics."""
        return os.path.abspath(self.path)

    @property
    def state_dir(self) -> str:
        """The watcher's own folder in PATH."""
        return os.path.join(self.path, STATE_FOLDER)

    def tally(self, *, failed: bool) -> None:
        """Count a trigger that finished (done, or failed for good)."""
        with self.lock:
            self.finished += 1
            self.failures += failed
            self.progress.update(self.finished, f"({self.failures} failed)")

    def give_back(self, wip: str) -> None:
        """Put a claimed trigger back, unfinished, as the same attempt (through the
        reader: the library's one way to undo a claim)."""
        parsed = parse_wip(os.path.basename(wip))
        assert parsed is not None  # the reader hands out wip names only
        queued = self.reader.give_back(wip)
        if queued is not None:
            log.warning(
                "%s: given back unfinished (as %s)",
                parsed.original,
                os.path.basename(queued),
                extra={"queue": self.queue, "file": parsed.original, "attempt": parsed.attempt},
            )


class TriggerJob:
    """The job of one claimed trigger (``wip``)."""

    def __init__(self, shared: Shared, wip: str) -> None:
        parsed = parse_wip(os.path.basename(wip))
        assert parsed is not None  # the reader hands out wip names only
        self.shared = shared
        self.s = shared.settings
        self.wip = wip
        self.name = parsed.original
        self.attempt = parsed.attempt
        state = shared.state_dir
        self.output = os.path.join(state, self.name + ".output")
        self.result = os.path.join(state, self.name + ".result")
        self.lock_file = os.path.join(state, self.name + ".lock")
        self.link = os.path.join(state, "running", self.name)
        self.log = logging.LoggerAdapter(
            log, {"queue": shared.queue, "file": self.name, "attempt": self.attempt}
        )

    def run(self) -> None:
        """Take the job's locks (waiting for an earlier job's processes), then run it."""
        paths = (
            [os.path.join(self.shared.state_dir, SERIAL_LOCK)] if self.s.concurrency == 1 else []
        )
        fds: list[int] = []
        try:
            for path in [*paths, self.lock_file]:
                fd = wait_lock(
                    path, self.shared.stop.is_set, functools.partial(self._waiting, path)
                )
                if fd is None:
                    self.shared.give_back(self.wip)
                    return
                fds.append(fd)
            try:
                self._run_locked(tuple(fds))
            finally:  # under the trigger's lock: no earlier job's process reads the link
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.link)
        finally:
            for fd in fds:
                os.close(fd)
            remove_if_free(self.lock_file)

    def _waiting(self, lock: str) -> None:
        self.log.warning(
            "%s: waiting for the processes of an earlier job to end (they hold %s: a job "
            "that outlived its watcher, or another watcher's)",
            self.name,
            lock,
        )

    def _run_locked(self, fds: tuple[int, ...]) -> None:
        identity = file_identity(self.wip)
        code = read_result(self.result, identity)
        if code is not None:
            self.log.warning(
                "%s: attempt %d outlived the watcher that started it and ended with exit "
                "code %d; not running it again",
                self.name,
                self.attempt,
                code,
            )
            took, duration = "after its watcher died", None
        else:
            if self.shared.stop.is_set():
                self.shared.give_back(self.wip)
                return
            spec = self._spec(fds, identity)
            self.log.info("%s: attempt %d/%d: running", self.name, self.attempt, self.s.retries + 1)
            self.shared.observer.job_started(self.name, self.attempt, self._waited())
            started = time.monotonic()
            code = run_job(spec, self.shared.abort)
            duration = time.monotonic() - started
            if code is None:
                self.shared.give_back(self.wip)
                self.shared.observer.job_finished(self.name, Outcome.GIVEN_BACK, duration)
                return
            took = f"in {duration:.1f} s"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.result)
        self._settle(code, took, duration)

    def _waited(self) -> float | None:
        """Seconds since the trigger arrived, by its modification time (a producer
        writes it, then renames it in; renames keep it), on its first attempt only."""
        if self.attempt != 1:
            return None
        try:
            return max(0.0, time.time() - os.stat(self.wip).st_mtime)
        except FileNotFoundError:
            return None

    def _spec(self, fds: tuple[int, ...], identity: str) -> JobSpec:
        readable = self._stable_path()
        return JobSpec(
            argv=command_argv(self.s.command, readable, stdin=self.s.stdin),
            env={
                **os.environ,
                "PERSISTQ_TRIGGER": self.name,
                "PERSISTQ_ATTEMPT": str(self.attempt),
            },
            stdin_text=readable + "\n" if self.s.stdin else None,
            output=self.output,
            result=self.result,
            identity=identity,
            lock_fds=fds,
        )

    def _stable_path(self) -> str:
        """A path of the claimed trigger that stays valid while its job runs, even when
        a restarted watcher takes the claim over (a rename): a hard link to it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.link)
        try:
            os.link(self.wip, self.link)
        except OSError as exc:
            self.log.debug("cannot link %s (%s); the command gets the claimed path", self.wip, exc)
            return self.wip
        return self.link

    def _settle(self, code: int, took: str, duration: float | None) -> None:
        """Act on the job's exit code: done, configuration error, retry or failed."""
        reader, name, observer = self.shared.reader, self.name, self.shared.observer
        if code == 0:
            dst = reader.task_done(self.wip)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.output)
            self.log.info("%s: done %s (exit 0) -> %s", name, took, dst)
            self.shared.tally(failed=False)
            observer.job_finished(name, Outcome.SUCCEEDED, duration)
            return
        if code in NOT_RUNNABLE:
            self._not_runnable(code)
            observer.job_finished(name, Outcome.GIVEN_BACK, duration)
            return
        reason = f"{self.s.command[0]} exited with code {code} on attempt {self.attempt}"
        dst = reader.task_failed(self.wip, reason)
        if self.attempt <= self.s.retries:  # the reader queued it again and holds it back
            delay = retry_wait(self.attempt + 1, reader.retry_delay, reader.max_retry_delay)
            self.log.warning("%s: %s %s; retry in %.1f s", name, reason, took, delay)
            observer.job_finished(name, Outcome.RETRIED, duration)
            return
        os.replace(self.output, dst + ".output")
        self.log.error("%s: %s; gave up -> %s (output in %s.output)", name, reason, dst, dst)
        self.shared.tally(failed=True)
        observer.job_finished(name, Outcome.FAILED, duration)

    def _not_runnable(self, code: int) -> None:
        what = "not executable" if code == 126 else "not found"
        tail = output_tail(self.output)
        error = (
            f"the command could not be run on {self.name} (exit {code}: {what}"
            f"{': ' + tail if tail else ''}); a configuration error, not a failed "
            f"trigger: {self.name} was given back as it was and the watcher stopped. Fix "
            f"the command and start again (output in {self.output})"
        )
        self.log.error("%s: %s", self.name, error)
        self.shared.config_error = error
        self.shared.give_back(self.wip)
        self.shared.stop.set()
