"""What runs inside the hosts of the ``hosts`` campaign (see :mod:`tools.faults.hosts`).

``python -m tools.faults.hosts_roles producer RUN LABEL QUEUE SOURCE LEDGER LEASE`` is
the producer host: it announces itself (with a heartbeat: ``lease_seconds``), says
``ready <realm>``, waits for ``go`` on stdin, then moves every file of SOURCE into the
queue and closes. ``... consumers RUN LABEL QUEUE DONE LEDGER LEASE`` is a consumer
host: 2 consumer processes that claim a file, load it (a ledger line), then
``task_done`` it. Everything that happens is appended to LEDGER, one line each:

- ``worker RUN LABEL TOKEN REALM``: a consumer's owner token (as in its wip names)
  and realm;
- ``load RUN LABEL PID ITEM TIME`` before ``task_done``; ``done RUN LABEL PID ITEM``
  once it returned;
- ``lost RUN LABEL PID ITEM TIME``: ``task_done`` found the claim gone (taken back by
  another host while this one was paused): refused, not completed;
- ``takeback RUN LABEL TIME WIP``: this consumer took back another owner's claim;
- ``failed RUN LABEL PID TIME``: the reader answered FAILED (a dead producer);
- ``closed RUN LABEL TIME``: the producer closed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time

from persistq import ReadableFolderQueue, UpstreamFailureError, WritableFolderQueue
from persistq.folder.owner import current_owner, current_realm
from tools.faults.common import join_workers

EXTENSION = ".dat"
WORK_SECONDS = 0.06
"""What each consumer takes per item."""
PUT_SECONDS = 0.005
"""The producer's pace: one file per this many seconds."""
CONSUMERS_PER_HOST = 2


class Ledger:
    """Appends whole lines to the campaign's ledger (one write each, O_APPEND)."""

    def __init__(self, path: str, run: str, label: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.run, self.label = run, label

    def write(self, kind: str, *fields: object) -> None:
        """Append ``kind RUN LABEL fields...``."""
        line = " ".join(map(str, (kind, self.run, self.label, *fields)))
        os.write(self.fd, (line + "\n").encode())


class TakeBacks(logging.Handler):
    """Writes a ``takeback`` line for each claim the reader logs it took back."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(logging.INFO)
        self.ledger = ledger

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("took back") and isinstance(record.args, tuple):
            self.ledger.write("takeback", f"{record.created:.6f}", record.args[0])


def consume(queue: str, done: str, ledger_path: str, run: str, label: str, lease: float) -> None:
    """One consumer: claim, load, task_done, until DONE or FAILED."""
    ledger = Ledger(ledger_path, run, label)
    readers_log = logging.getLogger("persistq.folder.readable")
    readers_log.setLevel(logging.INFO)
    readers_log.addHandler(TakeBacks(ledger))
    pid = os.getpid()
    ledger.write("worker", current_owner().token, current_realm())
    reader = ReadableFolderQueue(queue, EXTENSION, task_done_directory=done, lease_seconds=lease)
    try:
        for wip in reader:
            time.sleep(WORK_SECONDS)
            item = os.path.basename(reader.original_filename_from_wip(wip))
            ledger.write("load", pid, item, f"{time.time():.6f}")
            try:
                reader.task_done(wip)
            except FileNotFoundError:
                ledger.write("lost", pid, item, f"{time.time():.6f}")
            else:
                ledger.write("done", pid, item)
    except UpstreamFailureError:
        ledger.write("failed", pid, f"{time.time():.6f}")


def consumers(run: str, label: str, queue: str, done: str, ledger: str, lease: str) -> None:
    """A consumer host: start its consumers, say ``ready <realm>``, wait for them."""
    ctx = multiprocessing.get_context("fork")
    args = (queue, done, ledger, run, label, float(lease))
    workers = [ctx.Process(target=consume, args=args) for _ in range(CONSUMERS_PER_HOST)]
    for w in workers:
        w.start()
    print("ready", current_realm(), flush=True)
    join_workers(workers)


def producer(run: str, label: str, queue: str, source: str, ledger: str, lease: str) -> None:
    """The producer host: announce, say ``ready <realm>``, await ``go``, put, close."""
    writer = WritableFolderQueue(queue, EXTENSION, lease_seconds=float(lease))
    writer.purge_control_messages()  # the markers of earlier runs' producers
    print("ready", current_realm(), flush=True)
    if sys.stdin.readline().strip() != "go":
        sys.exit("the driver never said go")
    for name in sorted(os.listdir(source)):
        writer.put(os.path.join(source, name))
        time.sleep(PUT_SECONDS)
    writer.close()
    Ledger(ledger, run, label).write("closed", f"{time.time():.6f}")


if __name__ == "__main__":
    role, *arguments = sys.argv[1:]
    {"producer": producer, "consumers": consumers}[role](*arguments)
