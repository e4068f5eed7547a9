"""The plot of ``docs/benchmarks.md`` (used by ``compare.py``): throughput by durability
against the ceiling, and the folder queue's pickup latency CDFs."""

from __future__ import annotations

import matplotlib
from harness import Result
from pq_trials import CONSUMERS

from persistq.durability import DURABILITIES

matplotlib.use("Agg")
from matplotlib import pyplot as plt

CEILING = "JoinableQueue"
"""The name of the bare queue's trials: the ceiling every rate is divided by."""


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
        ordered = sorted(values)
        cdf.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=mode)
    cdf.set_xscale("log")
    cdf.set_xlabel("ms from rename into the folder to get() returning")
    cdf.set_ylabel("fraction of pickups")
    cdf.set_title("Folder queue pickup latency")
    cdf.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
