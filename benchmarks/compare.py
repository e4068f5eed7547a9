"""persistq against its peers: throughput, recovery and pickup latency (issue 6).

Run ``.venv/bin/python benchmarks/compare.py`` (a few minutes on 2 cores; needs the
``bench`` extra) to measure, in one run and on one disk:

* put + get + ack (or task_done) in one process, and 1 producer + 2 consumer processes,
  for ``multiprocessing.JoinableQueue`` (the in-memory ceiling), ``PersistentQueue`` at
  each durability, persist-queue's ``SQLiteAckQueue`` and file ``Queue``, queuelib's
  ``FifoDiskQueue``, dirq's ``QueueSimple`` and the persistq folder queues;
* ``PersistentQueue`` recovery time and peak memory from journals of 10k, 100k and 1M
  requested lines (90% of them completed), each in a fresh process;
* folder-queue pickup latency, waking on events against polling.

It prints the Markdown report and writes it to ``docs/benchmarks.md`` with the plot
``docs/img/benchmarks.png``. ``--quick`` is a ~30 s smoke run that prints the report
and writes files only when ``--output`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass

import matplotlib
import persistqueue
from compare_recovery import Recovery, recover, write_journals
from dirq.QueueSimple import QueueSimple
from folder_bench import dirq_rate, fill, folder_rate, pickup_latencies
from pq_bench import (
    CONSUMERS,
    Result,
    measure,
    message,
    multi_bare,
    multi_persistent,
    single_bare,
    single_persistent,
    single_sqlite_ack,
)
from queuelib import FifoDiskQueue

from persistq import ReadableFolderQueue, WritableFolderQueue
from persistq.durability import DURABILITIES

matplotlib.use("Agg")
from matplotlib import pyplot as plt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CEILING = "JoinableQueue"
RECOVERY_GOAL_LINES = 1_000_000
RECOVERY_GOAL_SECONDS = 2.0
LATENCY_MODES = {"events (default)": {}, "poll_interval=0.05": {"poll_interval": 0.05}}


# -- single-process trials of the peers pq_bench does not cover -------------------------


def single_file_queue(directory: str, n: int) -> float:
    """persist-queue's file ``Queue``: put N, then get + task_done N."""
    q = persistqueue.Queue(os.path.join(directory, "q"), tempdir=directory)
    start = time.perf_counter()
    for i in range(n):
        q.put(message(i))
    for _ in range(n):
        q.get()
        q.task_done()
    return time.perf_counter() - start


def single_queuelib(directory: str, n: int) -> float:
    """queuelib's ``FifoDiskQueue``: push N, pop N, close (which saves its state)."""
    q = FifoDiskQueue(os.path.join(directory, "q"))
    start = time.perf_counter()
    for i in range(n):
        q.push(message(i).encode())
    for _ in range(n):
        q.pop()
    q.close()
    return time.perf_counter() - start


def single_dirq(directory: str, n: int) -> float:
    """dirq's ``QueueSimple``: add N, then lock + get + remove N."""
    q = QueueSimple(os.path.join(directory, "q"))
    start = time.perf_counter()
    for i in range(n):
        q.add(message(i))
    done = 0
    name = q.first()
    while name:
        if q.lock(name):
            q.get(name)
            q.remove(name)
            done += 1
        name = q.next()
    elapsed = time.perf_counter() - start
    if done != n:
        raise RuntimeError(f"dirq returned {done} of {n} elements")
    return elapsed


def single_folder(directory: str, n: int) -> float:
    """Folder queues: put N small files (created beforehand, untimed), then get +
    task_done until DONE."""
    sources = fill(os.path.join(directory, "staging"), n)
    qdir = os.path.join(directory, "q")
    start = time.perf_counter()
    writer = WritableFolderQueue(qdir)
    for source in sources:
        writer.put(source)
    writer.close()
    reader = ReadableFolderQueue(qdir)
    for wip in reader:
        reader.task_done(wip)
    return time.perf_counter() - start


def multi_dirq(directory: str, n: int) -> float:
    return n / dirq_rate(n, CONSUMERS, producer=True)


def multi_folder(directory: str, n: int) -> float:
    return n / folder_rate(n, CONSUMERS, producer=True)


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    label: str
    survives: str
    single: str | None  # key of the single-process trial
    multi: str | None  # key of the multi-process trial, or None
    why_not_multi: str = ""


def peers() -> list[Peer]:
    none_multi = "n/a: thread-safe, not process-safe"
    rows = [Peer("`multiprocessing.JoinableQueue` (ceiling)", "nothing", CEILING, CEILING)]
    survives = {
        "none": "nothing promised (today as flush: records are in the OS at once)",
        "flush": "a killed process",
        "fsync": "power loss",
    }
    rows += [
        Peer(f'persistq `PersistentQueue`, `durability="{d}"`', survives[d], d, d)
        for d in DURABILITIES
    ]
    return [
        *rows,
        Peer(
            "persist-queue `SQLiteAckQueue` (put/get/ack)",
            "power loss (SQLite WAL, default synchronous=FULL)",
            "sqlite",
            None,
            none_multi,
        ),
        Peer(
            "persist-queue file `Queue` (put/get/task_done)",
            "a killed process (fsync every `chunksize` puts)",
            "pq-file",
            None,
            none_multi,
        ),
        Peer(
            "queuelib `FifoDiskQueue` (push/pop, no ack)",
            "nothing until `close()`, which saves its positions",
            "queuelib",
            None,
            "n/a: one process owns the queue's state",
        ),
        Peer(
            "dirq `QueueSimple` (add/lock/get/remove)",
            "a killed process (no fsync)",
            "dirq",
            "dirq",
        ),
        Peer(
            "persistq folder queues (one small file each)",
            "a killed process (`fsync` option: power loss)",
            "folder",
            "folder",
        ),
    ]


def rate_cells(results: dict[str, Result], key: str | None, why_not: str) -> tuple[str, str]:
    if key is None:
        return why_not, ""
    result = results[key]
    return f"{result.rate:,.0f}", f"{result.ratio_to(results[CEILING]):.3f}"


def throughput_table(single: dict[str, Result], multi: dict[str, Result]) -> str:
    lines = [
        f"| queue | survives | 1 process: msgs/s | ÷ ceiling "
        f"| 1 producer + {CONSUMERS} consumers: msgs/s | ÷ ceiling |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for peer in peers():
        s_rate, s_ratio = rate_cells(single, peer.single, "")
        m_rate, m_ratio = rate_cells(multi, peer.multi, peer.why_not_multi)
        lines.append(
            f"| {peer.label} | {peer.survives} | {s_rate} | {s_ratio} | {m_rate} | {m_ratio} |"
        )
    return "\n".join(lines)


def recovery_table(results: dict[int, tuple[int, list[Recovery]]]) -> str:
    lines = [
        "| requested lines | completed lines | outstanding | seconds (median) "
        "| peak RSS MB | RSS before recovery MB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for requested, (completed, runs) in results.items():
        seconds = statistics.median(r.seconds for r in runs)
        lines.append(
            f"| {requested:,} | {completed:,} | {runs[0].outstanding:,} | {seconds:.2f} "
            f"| {max(r.peak_mb for r in runs):.0f} | {runs[0].baseline_mb:.0f} |"
        )
    goal = results.get(RECOVERY_GOAL_LINES)
    if goal is not None:
        seconds = statistics.median(r.seconds for r in goal[1])
        verdict = "met" if seconds <= RECOVERY_GOAL_SECONDS else "**missed**"
        lines.append(
            f"\nGoal: recovery of a {RECOVERY_GOAL_LINES:,}-line journal in "
            f"≤ {RECOVERY_GOAL_SECONDS:g} s: {seconds:.2f} s — {verdict}."
        )
    return "\n".join(lines)


def latency_table(latencies: dict[str, list[float]]) -> str:
    lines = ["| waking | pickups | p50 ms | p90 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for mode, values in latencies.items():
        lines.append(
            f"| {mode} | {len(values)} | {percentile(values, 0.5):.1f} "
            f"| {percentile(values, 0.9):.1f} | {percentile(values, 0.99):.1f} |"
        )
    return "\n".join(lines)


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))]


def plot(
    single: dict[str, Result],
    multi: dict[str, Result],
    latencies: dict[str, list[float]],
    path: str,
) -> None:
    """Throughput by durability (against the ceiling) and the pickup latency CDFs."""
    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(11, 4.2))
    keys = [CEILING, *DURABILITIES]
    labels = ["JoinableQueue\n(ceiling)", *(f'durability\n"{d}"' for d in DURABILITIES)]
    width = 0.38
    for offset, (name, results) in (
        (-width / 2, ("1 process", single)),
        (width / 2, (f"1 producer + {CONSUMERS} consumers", multi)),
    ):
        xs = [i + offset for i in range(len(keys))]
        bars.bar(xs, [results[k].rate for k in keys], width, label=name)
    bars.set_xticks(range(len(keys)), labels)
    bars.set_yscale("log")
    top = max(r.rate for r in (*single.values(), *multi.values()))
    bars.set_ylim(100, top * 10)  # one base for every bar; room for the legend
    bars.set_ylabel("messages/s (put + get + task_done)")
    bars.set_title("PersistentQueue throughput by durability")
    bars.legend(loc="upper right")
    for mode, values in latencies.items():
        cdf.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=mode)
    cdf.set_xscale("log")
    cdf.set_xlabel("ms from rename into the folder to get() returning")
    cdf.set_ylabel("fraction of pickups")
    cdf.set_title("Folder queue pickup latency")
    cdf.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def filesystem_of(path: str) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), or "unknown"."""
    path = os.path.realpath(path)
    best, fstype = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                _, mount_point, kind, *_ = line.split()
                inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, fstype = mount_point, kind
    except OSError:
        pass
    return fstype


def report(
    command: str,
    root: str,
    settings: str,
    throughput: str,
    recovery: str,
    latency: str,
    image: str | None,
) -> str:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = (
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end; "
        f"temporary directories on {filesystem_of(root)} ({os.path.dirname(root)})"
    )
    parts = [
        "# Benchmarks",
        "",
        "persistq against its peers, every number measured in one run of",
        f"`{command}` on the same disk ({today}; {machine}). {settings}",
        "",
        "## Throughput",
        "",
        "Messages per second of put + get + task_done (or ack) of short strings "
        "(a data file name); the folder queues move one small file per message. "
        "*÷ ceiling* is the rate over `multiprocessing.JoinableQueue`'s in the same "
        "workload (median over the rounds of the ratio within a round). *Survives* is "
        "what a message acknowledged by `put` outlives.",
        "",
        throughput,
        "",
        "queuelib works inside one process, with no hop to another process, hence above "
        "the ceiling; it has no acknowledgement (a popped item is gone) and no "
        "multi-process use. persist-queue's queues are documented thread-safe, not "
        "process-safe. The persist-queue file `Queue` rewrites its info file (temporary "
        "file + rename) on every put and task_done. dirq and the folder queues create, "
        "rename and delete a file per message; with several processes their rates vary "
        "severalfold from run to run, as the processes race for the same files.",
        "",
        "## Recovery",
        "",
        "`PersistentQueue(...).get_list_of_outstanding_work()` over the journals a crashed "
        "run left (one requested and one completed file), in a fresh process; peak memory "
        "is that process's `ru_maxrss`. The journals were just written, so they are in "
        "the page cache.",
        "",
        recovery,
        "",
        "## Folder queue pickup latency",
        "",
        "From the rename of a file into the queue folder to `get()` returning in a "
        "consumer process blocked in `get()`.",
        "",
        latency,
    ]
    if image is not None:
        parts += ["", f"![Throughput by durability and pickup latency]({image})"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="~30 s smoke run")
    parser.add_argument(
        "--dir", default=None, help="where to create the queues (default: the system temp dir)"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="directory for benchmarks.md and img/benchmarks.png "
        "(default: docs/, or nothing with --quick)",
    )
    args = parser.parse_args(argv)
    output = args.output if args.output or args.quick else os.path.join(REPO, "docs")
    target_s, repeats = (0.2, 1) if args.quick else (1.0, 5)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, RECOVERY_GOAL_LINES]
    samples = 40 if args.quick else 300
    ctx = multiprocessing.get_context("fork")

    root = tempfile.mkdtemp(prefix="compare_", dir=args.dir)
    tempfile.tempdir = root  # every helper's temporary directory on the same disk
    try:
        print("1 process:", file=sys.stderr)
        single = measure(
            {
                CEILING: single_bare(ctx),
                **{d: single_persistent(ctx, d) for d in DURABILITIES},
                "sqlite": single_sqlite_ack,
                "pq-file": single_file_queue,
                "queuelib": single_queuelib,
                "dirq": single_dirq,
                "folder": single_folder,
            },
            root,
            target_s,
            repeats,
        )
        print(f"1 producer + {CONSUMERS} consumers:", file=sys.stderr)
        multi = measure(
            {
                CEILING: multi_bare(ctx),
                **{d: multi_persistent(ctx, d) for d in DURABILITIES},
                "dirq": multi_dirq,
                "folder": multi_folder,
            },
            root,
            target_s,
            repeats,
        )
        recoveries: dict[int, tuple[int, list[Recovery]]] = {}
        for requested in sizes:
            directory = tempfile.mkdtemp(prefix="recovery_", dir=root)
            completed = write_journals(directory, requested)
            recoveries[requested] = (completed, [recover(directory) for _ in range(repeats)])
            print(f"  recovery of {requested:,} lines done", file=sys.stderr)
            shutil.rmtree(directory)
        latencies = {
            mode: pickup_latencies(options, samples) for mode, options in LATENCY_MODES.items()
        }
    finally:
        tempfile.tempdir = None
        shutil.rmtree(root, ignore_errors=True)

    command = "python benchmarks/compare.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    settings = (
        f"Throughput: median of {repeats} run(s) per row, N sized for ~{target_s:g} s a run, "
        f"start method fork. Recovery: median of {repeats} run(s). Latency: {samples} pickups "
        "with events, as many polling."
    )
    image = None
    if output is not None:
        os.makedirs(os.path.join(output, "img"), exist_ok=True)
        plot(single, multi, latencies, os.path.join(output, "img", "benchmarks.png"))
        image = "img/benchmarks.png"
    text = report(
        command,
        root,
        settings,
        throughput_table(single, multi),
        recovery_table(recoveries),
        latency_table(latencies),
        image,
    )
    print(text)
    if output is not None:
        with open(os.path.join(output, "benchmarks.md"), "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {output}/benchmarks.md and {output}/img/benchmarks.png", file=sys.stderr)


if __name__ == "__main__":
    main()
