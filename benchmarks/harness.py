"""The one benchmark harness of ``benchmarks/``: trials, rounds, ratios, percentiles,
load averages, goals and Markdown tables.

Every report (``pq_bench.py``, ``folder_bench.py``, ``compare.py``,
``compare_recovery.py``) measures through this module, so that a number printed by one
means what the same number printed by another means:

* a *trial* runs ``n`` messages of one workload in a fresh directory and returns the
  seconds it timed (set-up such as pre-filling a folder is untimed);
* :func:`measure` sizes ``n`` by time (each trial lasts about ``target_s`` or more), then
  runs ``rounds`` rounds, each running every trial once in turn, so that a change of the
  machine's load hits the trials compared alike;
* a ratio is the median over the rounds of the ratio within a round
  (:meth:`Result.ratio_to`);
* a percentile is the nearest-rank one (:func:`percentile`);
* the 1-minute load average is recorded after every trial (:attr:`Result.loads`).
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence

import attrs

Trial = Callable[[str, int], float]
"""Runs one trial of ``n`` messages in a fresh directory; returns the seconds it timed."""

N_MAX = 2_000_000
PROBE_N = 200
MAX_PROBES = 8


@attrs.frozen
class Result:
    """The rounds of one trial: its ``n``, the seconds of each round and the 1-minute
    load average after each."""

    n: int
    seconds: tuple[float, ...]
    loads: tuple[float, ...]

    @property
    def rates(self) -> tuple[float, ...]:
        """Messages per second in each round."""
        return tuple(self.n / s for s in self.seconds)

    @property
    def rate(self) -> float:
        """The median rate over the rounds."""
        return statistics.median(self.rates)

    def ratio_to(self, baseline: Result) -> float:
        """The median over the rounds of this rate over ``baseline``'s rate in the same
        round (trials compared ran seconds apart, so drift of the machine mostly cancels)."""
        pairs = zip(self.rates, baseline.rates, strict=True)
        return statistics.median(a / b for a, b in pairs)


def load_average() -> float:
    """The 1-minute load average now (``os.getloadavg()[0]``)."""
    return os.getloadavg()[0]


def load_text(loads: Sequence[float]) -> str:
    """The range of the load averages a set of trials ran under, e.g. ``"1.2-3.4"``."""
    low, high = min(loads), max(loads)
    return f"{low:.1f}" if f"{low:.1f}" == f"{high:.1f}" else f"{low:.1f}-{high:.1f}"


def run_trial(trial: Trial, root: str, n: int) -> float:
    """Run ``trial`` with ``n`` messages in a fresh directory under ``root``; return its
    seconds (the directory is removed afterwards)."""
    directory = tempfile.mkdtemp(prefix="trial_", dir=root)
    try:
        return trial(directory, n)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def calibrate(trial: Trial, root: str, target_s: float, multiple: int = 8) -> int:
    """The ``n`` (a multiple of ``multiple``) for which one trial lasts about
    ``1.25 * target_s``: grown from a small probe until a trial lasts ``0.8 * target_s``
    or more (the probes also warm up)."""
    n = PROBE_N
    for _ in range(MAX_PROBES):
        seconds = run_trial(trial, root, n)
        if seconds >= 0.8 * target_s or n >= N_MAX:
            break
        n = min(N_MAX, int(n * min(16.0, 1.25 * target_s / max(seconds, 1e-6))))
    return n + (-n) % multiple


def measure(
    trials: dict[str, Trial],
    root: str,
    target_s: float,
    rounds: int,
    *,
    same_n: bool = False,
    sizes: dict[str, int] | None = None,
) -> dict[str, Result]:
    """Size each trial for ``target_s`` (with ``same_n``, all get the largest of those
    sizes, so none lasts less; ``sizes`` fixes them instead), then run ``rounds``
    rounds of every trial in turn; return each trial's :class:`Result`."""
    if sizes is None:
        sizes = {name: calibrate(trial, root, target_s) for name, trial in trials.items()}
        if same_n:
            sizes = dict.fromkeys(sizes, max(sizes.values()))
    seconds: dict[str, list[float]] = {name: [] for name in trials}
    loads: dict[str, list[float]] = {name: [] for name in trials}
    for _ in range(rounds):
        for name, trial in trials.items():
            seconds[name].append(run_trial(trial, root, sizes[name]))
            loads[name].append(load_average())
    results = {
        name: Result(sizes[name], tuple(seconds[name]), tuple(loads[name])) for name in trials
    }
    for name, res in results.items():
        print(
            f"  {name:>24}: {res.rate:>10,.0f} msgs/s (N={res.n:,}, "
            f"{min(res.seconds):.1f}-{max(res.seconds):.1f} s, load {load_text(res.loads)})",
            file=sys.stderr,
        )
    return results


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1): the smallest sample such that at
    least a fraction ``q`` of the samples are at most it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@attrs.frozen
class Goal:
    """A goal on a ratio: ``ratio_to(baseline) >= minimum``."""

    minimum: float
    baseline: str

    def cell(self, achieved: float) -> str:
        """``"PASS: 2.153 ≥ 2x dirq"`` or ``"**MISS**: 0.797 < 0.8x bare"`` for the ratio
        achieved (three decimals, so that a miss never reads as the goal's value)."""
        if achieved >= self.minimum:
            return f"PASS: {achieved:.3f} ≥ {self.minimum:g}x {self.baseline}"
        return f"**MISS**: {achieved:.3f} < {self.minimum:g}x {self.baseline}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: str) -> str:
    """A Markdown table; ``numeric`` says per column ``"r"`` (right-aligned) or ``"l"``."""
    rule = ["---:" if kind == "r" else "---" for kind in numeric]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def trial_cells(result: Result) -> list[str]:
    """The cells every throughput table shows of a result: msgs/s (median), min - max,
    N, seconds per trial and the load averages it ran under."""
    return [
        f"{result.rate:,.0f}",
        f"{min(result.rates):,.0f} - {max(result.rates):,.0f}",
        f"{result.n:,}",
        f"{min(result.seconds):.1f}-{max(result.seconds):.1f}",
        load_text(result.loads),
    ]


TRIAL_HEADER = ["msgs/s (median)", "min - max", "N", "s/trial", "load"]


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


def machine(root: str, started_load: tuple[float, float, float]) -> str:
    """Where and when the run happened: UTC date, CPUs, Python, kernel, the load
    average (1, 5, 15 minutes) at the start and at the end, and the file system."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    end = os.getloadavg()
    return (
        f"{now}; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average {'/'.join(f'{x:.1f}' for x in started_load)} (1/5/15 min) at the start, "
        f"{'/'.join(f'{x:.1f}' for x in end)} at the end; "
        f"temporary directories on {filesystem_of(root)} ({os.path.dirname(root)})"
    )


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run, for the top of a report."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["python", f"benchmarks/{script}", *args])
