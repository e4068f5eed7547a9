"""The dispatcher of ``persistq watch``: claims triggers and runs their jobs, at most
``concurrency`` at once, never one trigger twice at once (see docs/cli.md)."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from queue import Empty
from types import FrameType

from persistq.cli.common import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNHEALTHY, CliError
from persistq.cli.folder import DONE_FOLDER, FAILED_FOLDER, owner_state, wips
from persistq.cli.progress import Progress
from persistq.cli.watch_observer import WatchObserver
from persistq.cli.watch_trigger import STATE_FOLDER, Settings, Shared, TriggerJob
from persistq.folder import ReadableFolderQueue
from persistq.folder.files import claim
from persistq.folder.names import parse_wip, wip_name
from persistq.folder.owner import current_owner
from persistq.sentinels import DONE, FAILED

log = logging.getLogger("persistq.cli.watch")


class Runner:
    """Claims triggers and runs them, ``concurrency`` at a time, telling ``observer``."""

    def __init__(
        self,
        path: str,
        extension: str,
        settings: Settings,
        observer: WatchObserver | None = None,
    ) -> None:
        self.path = path
        self.observer = WatchObserver() if observer is None else observer
        self.extra = {"queue": os.path.abspath(path)}
        self.extension = extension
        self.s = settings
        self.stop = threading.Event()
        self.abort = threading.Event()
        self.slots = threading.Semaphore(settings.concurrency)
        self.jobs: set[threading.Thread] = set()
        self.taken_over: deque[str] = deque()

    def _open(self) -> Shared:
        """Take over a dead watcher's triggers, then open the queue."""
        os.makedirs(os.path.join(self.path, STATE_FOLDER, "running"), exist_ok=True)
        # Before the reader exists: it would put a dead watcher's claims back in the
        # queue, under the feet of jobs that may still run.
        self.taken_over.extend(self._take_over())
        retry_delay, max_retry_delay = self.s.retry_delays()
        reader = ReadableFolderQueue(
            self.path,
            self.extension,
            os.path.join(self.path, DONE_FOLDER),
            max_attempts=self.s.retries + 1,
            failed_directory=os.path.join(self.path, FAILED_FOLDER),
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
        )
        progress = Progress("triggers finished", interval=60.0)
        return Shared(
            self.path,
            self.extension,
            self.s,
            reader,
            progress,
            self.stop,
            self.abort,
            observer=self.observer,
        )

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
                    extra={**self.extra, "file": wip.original, "attempt": wip.attempt},
                )
                taken.append(mine)
        return taken

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First signal: finish running jobs, claim no more. Second: give them back."""
        name = signal.Signals(signum).name
        if not self.stop.is_set():
            self.stop.set()
            log.warning(
                "%s: finishing the running job(s); claiming no more (again: give back)",
                name,
                extra=self.extra,
            )
            self.observer.stopping()
        else:
            self.abort.set()
            log.warning(
                "%s: stopping the running job(s) and giving their triggers back",
                name,
                extra=self.extra,
            )

    def run(self) -> int:
        """Run until stopped, idle for ``idle_exit`` seconds, or the producers are done."""
        log.info(
            "watching %s for *%s; command: %s",
            self.path,
            self.extension,
            self.s.command,
            extra=self.extra,
        )
        self.shared = shared = self._open()
        upstream_failed = False
        try:
            self.observer.watching()
            upstream_failed = self._dispatch()
            self.observer.stopping()
            self._wait_for_jobs()
        finally:
            for wip in self.taken_over:
                shared.give_back(wip)
            shared.reader.dispose()
            shared.progress.close()
        log.info(
            "stopped: %d trigger(s) finished, %d failed",
            shared.finished,
            shared.failures,
            extra=self.extra,
        )
        if shared.config_error is not None:
            raise CliError(shared.config_error)
        if shared.abort.is_set():
            return EXIT_INTERRUPTED
        return EXIT_UNHEALTHY if shared.failures or upstream_failed else EXIT_OK

    def _dispatch(self) -> bool:
        """Claim and start jobs until stopped; True if a producer failed."""
        shared = self.shared
        idle_since = time.monotonic()
        while not shared.stop.is_set():
            self.observer.alive()
            if not self.slots.acquire(timeout=0.2):
                idle_since = time.monotonic()
                continue
            if self.taken_over:
                self._start(self.taken_over.popleft())
                continue
            try:
                msg = shared.reader.get(timeout=200.0)
            except Empty:
                self.slots.release()
                if self._busy():
                    idle_since = time.monotonic()
                elif self.s.idle_exit is not None and (
                    time.monotonic() - idle_since >= self.s.idle_exit
                ):
                    log.info("nothing to run for %s s; exiting", self.s.idle_exit, extra=self.extra)
                    return False
                continue
            if msg is FAILED:
                self.slots.release()
                log.error(
                    "a producer of %s failed (failed marker); stopping",
                    self.path,
                    extra=self.extra,
                )
                return True
            if msg is DONE:
                self.slots.release()
                if not self._busy():
                    log.info("every producer of %s is done; stopping", self.path, extra=self.extra)
                    return False
                time.sleep(0.2)
                continue
            idle_since = time.monotonic()
            self._start(str(msg))
        return False

    def _busy(self) -> bool:
        """Jobs run, or the reader holds back triggers (a retry not due yet)."""
        with self.shared.lock:
            running = bool(self.jobs)
        return running or self.shared.reader.held_back() > 0

    def _start(self, wip: str) -> None:
        thread = threading.Thread(target=self._job, args=(wip,), name=os.path.basename(wip))
        with self.shared.lock:
            self.jobs.add(thread)
        thread.start()

    def _wait_for_jobs(self) -> None:
        while True:
            self.observer.alive()
            with self.shared.lock:
                jobs = list(self.jobs)
            if not jobs:
                return
            for thread in jobs:
                thread.join(0.2)

    def _job(self, wip: str) -> None:
        try:
            TriggerJob(self.shared, wip).run()
        except Exception:
            log.exception("%s: the watcher failed on it; it stays claimed", wip, extra=self.extra)
        finally:
            with self.shared.lock:
                self.jobs.discard(threading.current_thread())
            self.slots.release()
