"""A small pipeline run as its own process by the crash tests, which SIGKILL it.

Usage: python -m tests.pq.pipeline RUN_DIR PREVIOUS_DIR|- ITEMS_JSON LEDGER METHOD

Consumers append ``<run> <item>`` to LEDGER after "loading" an item and before its
task_done, so the ledger shows every load, including loads in flight at a kill.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any

from persistq import PersistentQueue


def consume(q: PersistentQueue, ledger: str, run: str) -> None:
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for item in q:
        time.sleep(0.002)
        os.write(fd, f"{run} {item}\n".encode())
        q.task_done(item)


def main(run_dir: str, previous: str, items_json: str, ledger: str, method: str) -> None:
    ctx: Any = multiprocessing.get_context(method)
    q = PersistentQueue(
        "items",
        run_dir,
        None if previous == "-" else previous,
        number_of_workers=2,
        mp_context=ctx,
    )
    run = os.path.basename(run_dir)
    workers = [ctx.Process(target=consume, args=(q, ledger, run)) for _ in range(2)]
    for w in workers:
        w.start()
    q.requeue_unprocessed_work()
    print("ready", flush=True)
    with open(items_json) as f:
        items = json.load(f)
    for n, item in enumerate(items):
        q.put(item)
        if n % 20 == 0:
            time.sleep(0.002)
    q.close()
    for w in workers:
        w.join()
    q.join()


if __name__ == "__main__":
    main(*sys.argv[1:6])
