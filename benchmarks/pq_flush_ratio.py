"""The issue-11 goal row alone: 1 producer + 2 consumer processes, PersistentQueue
(``durability="flush"``) against a bare ``multiprocessing.JoinableQueue``, with plain
file names and with TSV-minded messages that need escaping (goal: >= 0.8x for both).

Uses ``pq_bench``'s trials and rounds (each round runs both rows seconds apart; the
ratio is the median over rounds). ``.venv/bin/python benchmarks/pq_flush_ratio.py
[SECONDS_PER_TRIAL] [ROUNDS]`` (default 1.0 s, 3 rounds: about half a minute).
"""

from __future__ import annotations

import multiprocessing
import shutil
import sys
import tempfile
from collections.abc import Callable

import pq_bench

MESSAGES: dict[str, Callable[[int], str]] = {
    "plain": lambda i: f"file_{i:06d}.csv",
    "escaped": lambda i: f"file_{i:06d}.tsv\t2026-11-01",
}


def main(argv: list[str]) -> None:
    seconds = float(argv[0]) if argv else 1.0
    rounds = int(argv[1]) if len(argv) > 1 else 3
    ctx = multiprocessing.get_context("fork")
    print("| messages | bare msgs/s | flush msgs/s | flush / bare |\n|---|---:|---:|---:|")
    for label, message in MESSAGES.items():
        pq_bench.message = message  # type: ignore[assignment]  # what the trials put
        root = tempfile.mkdtemp(prefix="pq_flush_ratio_")
        try:
            trials = {
                "bare": pq_bench.multi_bare(ctx),
                "flush": pq_bench.multi_persistent(ctx, "flush"),
            }
            res = pq_bench.measure(trials, root, seconds, rounds)
        finally:
            shutil.rmtree(root)
        bare, flush = res["bare"], res["flush"]
        print(f"| {label} | {bare.rate:,.0f} | {flush.rate:,.0f} | {flush.ratio_to(bare):.2f}x |")


if __name__ == "__main__":
    main(sys.argv[1:])
