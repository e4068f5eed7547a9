"""One run of the demo's ETL pipeline, in its own process (``persistq demo`` starts it,
kills it part way, and starts it again):

producer --PersistentQueue--> worker processes --folder queue--> loader --> warehouse

The producer puts item ids into a PersistentQueue journalled in ``pickup/run<N>``;
each worker transforms an item into a data file and puts it into the folder queue
``staged/``; one loader claims each file and loads it into an SQLite warehouse. The
load is checked: an item already in the warehouse is not inserted again, and every
delivery is written to a ``deliveries`` ledger, so the account can prove that nothing
was lost or loaded twice.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sqlite3
import tempfile
import time
from collections.abc import Sequence

from persistq.folder import ReadableFolderQueue, WritableFolderQueue
from persistq.journal.codec import decode_payloads
from persistq.persistent_queue import PersistentQueue
from persistq.pickup.report import requested_payloads

log = logging.getLogger("persistq.demo")

PREFIX = "items"
PRODUCE_SECONDS = 0.006
TRANSFORM_SECONDS = 0.02
LOAD_SECONDS = 0.004

SCHEMA = """
CREATE TABLE IF NOT EXISTS warehouse (item_id INTEGER NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    item_id INTEGER NOT NULL, run INTEGER NOT NULL, loader_pid INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('loaded', 'already loaded'))
);
"""


def connect(path: str) -> sqlite3.Connection:
    """The warehouse database, in autocommit mode (transactions are explicit)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def requested_before(pickup_dir: str) -> set[int]:
    """The item ids that an earlier run's producer put (journalled as requested)."""
    payloads = list(requested_payloads(pickup_dir, PREFIX))
    return {int(fields[0]) for fields in decode_payloads(payloads)}


def worker(pq: PersistentQueue, staged: WritableFolderQueue, scratch: str) -> None:
    """Transform each item into a data file and put it into the folder queue."""
    mine = os.path.join(scratch, str(os.getpid()))
    os.makedirs(mine)
    for item in pq:
        time.sleep(TRANSFORM_SECONDS)
        path = os.path.join(mine, f"item-{item:06d}.tsv")
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"{item}\tpayload of item {item}, squared {item * item}\n")
        try:
            staged.put(path)
        except FileExistsError:
            # Requeued after a crash, and its file is still waiting to be loaded.
            log.info("item %d is already staged", item)
            os.unlink(path)
        pq.task_done(item)


def loader(reader: ReadableFolderQueue, database: str, run: int) -> None:
    """Load each staged file once, in a checked transaction, then finish it."""
    db = connect(database)
    for wip in reader:
        with open(wip, encoding="utf-8") as f:
            item_text, payload = f.read().rstrip("\n").split("\t")
        item = int(item_text)
        time.sleep(LOAD_SECONDS)
        db.execute("BEGIN IMMEDIATE")
        seen = db.execute("SELECT 1 FROM warehouse WHERE item_id = ?", (item,)).fetchone()
        if seen is None:
            db.execute("INSERT INTO warehouse VALUES (?, ?)", (item, payload))
        outcome = "loaded" if seen is None else "already loaded"
        db.execute("INSERT INTO deliveries VALUES (?, ?, ?, ?)", (item, run, os.getpid(), outcome))
        db.execute("COMMIT")
        reader.task_done(wip)
    db.close()


def run_pipeline(root: str, run: int, items: int, workers: int) -> dict[str, int]:
    """Run the pipeline once (run 2 and later recover the previous run); return counts."""
    ctx = multiprocessing.get_context("fork")
    pickup = os.path.join(root, "pickup", f"run{run}")
    previous = os.path.join(root, "pickup", f"run{run - 1}") if run > 1 else None
    scratch = tempfile.mkdtemp(prefix="scratch-", dir=root)
    staged_dir = os.path.join(root, "staged")
    staged = WritableFolderQueue(staged_dir)
    if run > 1:
        staged.purge_control_messages()  # the killed run's producer will never close
    reader = ReadableFolderQueue(staged_dir)
    reader.recover_abandoned()  # takes back files the killed loader held
    pq = PersistentQueue(
        PREFIX, pickup, previous, [str], [int], number_of_workers=workers, mp_context=ctx
    )
    load = ctx.Process(target=loader, args=(reader, os.path.join(root, "warehouse.db"), run))
    load.start()
    procs = [ctx.Process(target=worker, args=(pq, staged, scratch)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    requeued = pq.requeue_unprocessed_work()
    log.info("run %d: requeued %d items", run, len(requeued))
    skip = requested_before(previous) if previous is not None else set()
    produced = 0
    for item in range(1, items + 1):
        if item not in skip:
            pq.put(item)
            produced += 1
            time.sleep(PRODUCE_SECONDS)
    pq.close()
    for proc in procs:
        proc.join()
    staged.close()
    load.join()
    failed = [p.exitcode for p in [*procs, load] if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"run {run}: pipeline processes exited with {failed}")
    return {"run": run, "produced": produced, "requeued": len(requeued)}


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the pipeline process: ``--root DIR --run N --items N --workers N``."""
    parser = argparse.ArgumentParser(prog="persistq demo pipeline")
    parser.add_argument("--root", required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(processName)s %(levelname)s %(message)s"
    )
    counts = run_pipeline(args.root, args.run, args.items, args.workers)
    with open(os.path.join(args.root, f"run{args.run}.json"), "w", encoding="utf-8") as f:
        json.dump(counts, f)
