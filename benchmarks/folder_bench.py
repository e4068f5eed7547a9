"""Folder queues against ``dirq.QueueSimple`` and the protocol floor, drain cost as the
folder grows, and pickup latency (issues 3, 11).

Run ``.venv/bin/python benchmarks/folder_bench.py`` (``--quick`` for a smoke run,
``--drain-100k`` to add the 10k- against 100k-file drain). Prints Markdown tables, every
row measured in this run on the same disk through ``harness.py``.

The workloads are ``folder_trials.py``'s, the same for every queue and the ones
``compare.py`` reports. Layouts: a full queue drained by 1 and by 2 consumer processes,
and 1 producer + 2 consumer processes. Each row runs every queue with the same N, sized
so that each trial lasts at least ``target_s``. The drain rows also run the *protocol
floor* (bare ``os`` calls: a sorted listing, then per file rename, read, unlink), which
bounds what any folder queue claiming by rename can reach: the folder queue's ratio to
dirq can be no higher than the floor's.

Durability is the same for both: none fsyncs. dirq's ``QueueSimple`` never calls
``fsync`` (it writes a temporary file, then links it into place; ``lock`` is a hard link,
``remove`` two unlinks); the folder queue runs at its default ``durability="flush"``
(renames only, no fsync). Both survive a killed process, not a power loss.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence

from folder_latency import latency_table, measure_latencies
from folder_trials import LAYOUTS, dirq_trial, floor_trial, folder_trial
from harness import (
    TRIAL_HEADER,
    Goal,
    Result,
    Trial,
    command_line,
    load_text,
    machine,
    markdown_table,
    measure,
    trial_cells,
)

VERSUS_GOAL = Goal(2, "dirq")
DRAIN_SIZES = (10_000, 100_000)
QUEUES = {
    "folder": "persistq folder queue",
    "floor": "protocol floor (bare `os` calls)",
    "dirq": "dirq `QueueSimple`",
}
"""The trials of a row, by key, and their labels."""


def measure_versus(root: str, target_s: float, rounds: int) -> dict[str, dict[str, Result]]:
    """Each layout's results of the folder queue, dirq and (drains) the protocol floor,
    with one N per layout."""
    results = {}
    for layout in LAYOUTS:
        print(f"{layout.label}:", file=sys.stderr)
        trials = {"folder": folder_trial(layout), "dirq": dirq_trial(layout)}
        if not layout.producer:
            trials["floor"] = floor_trial(layout)
        results[layout.label] = measure(trials, root, target_s, rounds, same_n=True)
    return results


def versus_table(results: dict[str, dict[str, Result]]) -> str:
    """Each queue per layout, its ratios to dirq and to the floor, and the goal."""
    header = ["layout", "queue", *TRIAL_HEADER, "÷ dirq", "÷ floor", "goal"]
    rows = []
    for label, row in results.items():
        for key in ("folder", "floor", "dirq"):
            if key not in row:
                continue
            ratio = row[key].ratio_to(row["dirq"])
            floor = f"{row[key].ratio_to(row['floor']):.2f}" if "floor" in row else ""
            goal = VERSUS_GOAL.cell(ratio) if key == "folder" else ""
            cells = [label, QUEUES[key], *trial_cells(row[key])]
            rows.append([*cells, f"{ratio:.2f}", floor, goal])
    return markdown_table(header, rows, "ll" + "r" * 7 + "l")


def measure_drains(root: str, sizes: Sequence[int], rounds: int) -> dict[str, dict[int, Result]]:
    """The "drain, 1 consumer" row of the folder queue and of the protocol floor at each
    of ``sizes`` files: ``{"folder": {size: result}, "floor": {...}}``."""
    made = {"folder": folder_trial(LAYOUTS[0]), "floor": floor_trial(LAYOUTS[0])}
    trials: dict[str, Trial] = {}
    counts: dict[str, int] = {}
    for size in sizes:
        for key, trial in made.items():
            trials[f"{key} {size}"] = trial
            counts[f"{key} {size}"] = size
    print("drain sizes:", file=sys.stderr)
    by_name = measure(trials, root, 0, rounds, sizes=counts)
    return {key: {size: by_name[f"{key} {size}"] for size in sizes} for key in made}


def drain_table(results: dict[str, dict[int, Result]]) -> str:
    """µs per file of each drain, its ratio to the smallest drain's of the same queue,
    and the goal: the folder queue's largest drain costs no more per file than its
    smallest (strictly: noise can miss it). The floor shows what the file system alone
    adds as the folder grows."""
    header = ["queue", "files", "seconds", "µs per file", "÷ smallest drain", "load", "goal"]
    rows = []
    for key, drains in results.items():
        smallest = min(drains)
        base = 1e6 / drains[smallest].rate
        drain_goal = Goal(1, f"the {smallest:,}-file drain's files/s")
        for size, result in sorted(drains.items()):
            per_file = 1e6 / result.rate
            last = key != "folder" or size == smallest
            goal = "" if last else drain_goal.cell(base / per_file)
            cells = [QUEUES[key], f"{size:,}", f"{size / result.rate:.2f}", f"{per_file:.0f}"]
            rows.append([*cells, f"{per_file / base:.2f}", load_text(result.loads), goal])
    return markdown_table(header, rows, "lrrrrrl")


def main(argv: list[str] | None = None) -> None:
    """Run the folder benchmarks and print their Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--drain-100k", action="store_true", help="add the 10k vs 100k drain")
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    args = parser.parse_args(argv)
    target_s, rounds, samples = (0.3, 1, 40) if args.quick else (2.0, 3, 300)
    started = os.getloadavg()
    root = tempfile.mkdtemp(prefix="folder_bench_", dir=args.dir)
    try:
        versus = measure_versus(root, target_s, rounds)
        drains = measure_drains(root, DRAIN_SIZES, rounds) if args.drain_100k else None
        latencies = measure_latencies(samples, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"`{command_line('folder_bench.py', argv)}`: {machine(root, started)}.\n")
    print(versus_table(versus), end="\n\n")
    if drains is not None:
        print(drain_table(drains), end="\n\n")
    print(latency_table(latencies))


if __name__ == "__main__":
    main()
