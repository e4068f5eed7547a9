"""``persistq demo``: a small ETL pipeline, killed part way, restarted and recovered,
with an account that proves nothing was lost or loaded twice."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

import attrs

from persistq import pickup
from persistq.cli.common import EXIT_OK, EXIT_UNHEALTHY, CliError
from persistq.cli.progress import Progress
from persistq.folder.names import Kind, classify

log = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  persistq demo                   # about 10 s; exit 0 when the ledger checks out
  persistq demo --keep /tmp/pq    # keep the pipeline's folders and logs to look at
  persistq demo --items 1000 --workers 4

Then look at what a crash leaves behind:
  persistq status /tmp/pq/pickup/run1
"""

PIPELINE = "from persistq.cli.demo_pipeline import main; main()"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = sub.add_parser(
        "demo",
        help="run, crash, recover and check a small ETL pipeline",
        description="Run producer -> PersistentQueue -> worker processes -> folder queue -> "
        "loader in a temporary folder, SIGKILL it part way, restart it (requeuing the "
        "killed run's work) and check the warehouse ledger: nothing lost, nothing loaded "
        "twice.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--items", type=positive, default=300, help="items (default 300)")
    parser.add_argument("--workers", type=positive, default=3, help="worker processes (3)")
    parser.add_argument(
        "--kill-at",
        type=fraction,
        default=0.4,
        metavar="FRACTION",
        help="kill run 1 once this fraction of the items is loaded (default 0.4)",
    )
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="run in DIR (which must not exist) and keep it, instead of a temporary folder",
    )
    parser.set_defaults(run=run)


def positive(text: str) -> int:
    """A positive int argument."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def fraction(text: str) -> float:
    """A fraction argument strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


@attrs.frozen
class Ledger:
    """What the warehouse holds: distinct items, rows per item, deliveries."""

    loaded_items: frozenset[int]
    twice: tuple[int, ...]
    already_loaded: int
    deliveries: int


def read_ledger(database: str) -> Ledger:
    """Read the warehouse and its delivery ledger."""
    import sqlite3  # noqa: PLC0415 - only here: every other command starts faster

    if not os.path.exists(database):
        return Ledger(frozenset(), (), 0, 0)
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'deliveries'").fetchone():
            return Ledger(frozenset(), (), 0, 0)
        rows = db.execute("SELECT item_id, COUNT(*) FROM warehouse GROUP BY item_id").fetchall()
        already = db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE outcome = 'already loaded'"
        ).fetchone()[0]
        deliveries = db.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0]
    finally:
        db.close()
    return Ledger(
        frozenset(item for item, _ in rows),
        tuple(sorted(item for item, n in rows if n > 1)),
        already,
        deliveries,
    )


@attrs.frozen
class Crash:
    """What the killed run left: its journals' tally and the warehouse at the kill."""

    produced: int
    completed: int
    outstanding: int
    loaded: int
    waiting: int
    claimed: int


def account(items: int, crash: Crash, restart: dict[str, int], ledger: Ledger) -> tuple[bool, str]:
    """The demo's account, and whether the ledger checks out (pure)."""
    lost = sorted(set(range(1, items + 1)) - ledger.loaded_items)
    extra = sorted(ledger.loaded_items - set(range(1, items + 1)))
    ok = not lost and not extra and not ledger.twice
    lines = [
        "pipeline: producer -> PersistentQueue -> worker processes -> folder queue -> loader",
        "run 1 was SIGKILLed part way; run 2 restarted it with previous_pickup_dir=run 1's",
        "",
        f"items in the source           {items}",
        f"produced before the crash     {crash.produced}",
        f"loaded before the crash       {crash.loaded}",
        f"in flight at the SIGKILL      {crash.outstanding}  (requested, not completed: "
        "queued or in a worker)",
        f"staged, waiting to be loaded  {crash.waiting}",
        f"claimed by the killed loader  {crash.claimed}  (taken back at the restart)",
        f"requeued by the restart       {restart['requeued']}",
        f"produced after the restart    {restart['produced']}",
        f"loaded in total               {len(ledger.loaded_items)}",
        f"lost                          {len(lost)}" + (f"  {lost[:10]}" if lost else ""),
        f"loaded twice                  {len(ledger.twice)}"
        + (f"  {list(ledger.twice[:10])}" if ledger.twice else ""),
        f"reprocessed in flight         {ledger.already_loaded}"
        + (
            "  (delivered again after the crash; the loader's check kept them single)"
            if ledger.already_loaded
            else ""
        ),
    ]
    if extra:
        lines.append(f"unknown items loaded          {len(extra)}  {extra[:10]}")
    lines.append("")
    lines.append(
        "OK: every item loaded exactly once" if ok else "FAILED: the ledger does not check out"
    )
    return ok, "\n".join(lines)


def start_pipeline(root: str, run_no: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """Start one run of the pipeline as a process group of its own, logging to a file."""
    argv = [sys.executable, "-c", PIPELINE, "--root", root, "--run", str(run_no)]
    argv += ["--items", str(args.items), "--workers", str(args.workers)]
    with open(os.path.join(root, f"run{run_no}.log"), "ab") as logfile:
        return subprocess.Popen(
            argv, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of ``proc``'s group and wait until all are gone (reaped:
    until then a killed process still looks alive to whoever checks its PID)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise CliError(f"processes of group {proc.pid} still exist 30 s after SIGKILL")


def wait_for(
    proc: subprocess.Popen[bytes], root: str, run_no: int, items: int, kill_at: int | None
) -> None:
    """Wait for run ``run_no`` to end, or SIGKILL its whole process group once
    ``kill_at`` items are loaded; show progress meanwhile."""
    database = os.path.join(root, "warehouse.db")
    progress = Progress(f"run {run_no}: items loaded", items, interval=2.0)
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None:
            loaded = len(read_ledger(database).loaded_items)
            progress.update(loaded)
            if kill_at is not None and loaded >= kill_at:
                kill_group(proc)
                log.info("run %d: SIGKILLed the pipeline (%d items loaded)", run_no, loaded)
                return
            if time.monotonic() > deadline:
                kill_group(proc)
                raise CliError(f"run {run_no} did not finish in 120 s; see {root}/run{run_no}.log")
            time.sleep(0.02)
        progress.update(len(read_ledger(database).loaded_items))
    except BaseException:  # Ctrl-C included: the pipeline runs in a session of its own
        if proc.poll() is None:
            kill_group(proc)
        raise
    finally:
        progress.close()
    if proc.returncode != 0 or kill_at is not None:
        raise CliError(
            f"run {run_no} ended by itself with exit code {proc.returncode}; "
            f"see {root}/run{run_no}.log"
        )


def crash_tally(root: str) -> Crash:
    """What the killed run 1 left behind."""
    pickup_dir = os.path.join(root, "pickup", "run1")
    work = pickup.inspect(pickup_dir, "items").prefix("items")
    loaded = len(read_ledger(os.path.join(root, "warehouse.db")).loaded_items)
    kinds = Counter(classify(name, ".tsv") for name in os.listdir(os.path.join(root, "staged")))
    return Crash(
        work.requested,
        work.completed,
        len(work.outstanding),
        loaded,
        kinds[Kind.MESSAGE],
        kinds[Kind.WIP],
    )


def run_demo(root: str, args: argparse.Namespace) -> int:
    """Run, kill, restart and check the pipeline in ``root``."""
    kill_at = max(1, int(args.items * args.kill_at))
    log.info("demo folder %s: %d items, %d workers", root, args.items, args.workers)
    wait_for(start_pipeline(root, 1, args), root, 1, args.items, kill_at)
    crash = crash_tally(root)
    log.info("restarting with previous_pickup_dir=%s", os.path.join(root, "pickup", "run1"))
    wait_for(start_pipeline(root, 2, args), root, 2, args.items, None)
    with open(os.path.join(root, "run2.json"), encoding="utf-8") as f:
        restart = json.load(f)
    ok, text = account(args.items, crash, restart, read_ledger(os.path.join(root, "warehouse.db")))
    print(text)
    return EXIT_OK if ok else EXIT_UNHEALTHY


def run(args: argparse.Namespace) -> int:
    """Run the demo in a temporary folder (or ``--keep DIR``)."""
    if args.keep is not None:
        if os.path.lexists(args.keep):
            raise CliError(f"{args.keep}: already exists; --keep needs a new folder")
        os.makedirs(args.keep)
        return run_demo(os.path.abspath(args.keep), args)
    root = tempfile.mkdtemp(prefix="persistq-demo-")
    code = EXIT_UNHEALTHY
    try:
        code = run_demo(root, args)
    finally:
        if code == EXIT_OK:
            shutil.rmtree(root, ignore_errors=True)
        else:
            log.warning("kept the demo folder %s to look at", root)
    return code
