"""``python -m tools.faults --kills N``: run fault campaigns and print their table."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tools import netns_hosts, rabbitmq_node
from tools.faults import folder, folder_days, folder_groups, folder_namespaces, hosts, pq
from tools.faults.common import ChainReport
from tools.faults.hosts_audit import HostsReport, hosts_table

KILLS_PER_CHAIN = 8

Chain = Callable[[Path, random.Random, int], ChainReport]
FAMILIES: dict[str, list[Chain]] = {
    "pq": [
        lambda d, r, k: pq.run_chain(d, r, k, method="fork"),
        lambda d, r, k: pq.run_chain(d, r, k, method="spawn"),
        *(
            [lambda d, r, k: pq.run_chain(d, r, k, method="fork", namespaces=True)]
            if pq.namespaces_available()
            else []
        ),
    ],
    "folder": [
        *folder.CHAINS,
        folder_groups.run_chain,
        folder_days.run_chain,
        *([folder_namespaces.run_chain] if pq.namespaces_available() else []),
    ],
    "hosts": [
        lambda d, r, k: hosts.run_chain(d, r, k, same_name=False),
        lambda d, r, k: hosts.run_chain(d, r, k, same_name=True),
    ],
}
NEEDS_HOSTS = frozenset({"hosts"})
"""Families that need Linux namespaces (root): left out of ``all`` where unavailable."""
SKIPPED: dict[str, list[str]] = {
    "folder": []
    if pq.namespaces_available()
    else ["two PID namespaces sharing the folder: needs root and unshare (util-linux)"],
}
"""Topologies a family cannot run here, and why."""
if rabbitmq_node.installed():  # a throwaway broker node; CI installs rabbitmq-server
    from tools.faults import rabbitmq

    FAMILIES["rabbitmq"] = [rabbitmq.run_chain]
    if netns_hosts.unavailable() is None:  # root and iproute2, as in CI
        from tools.faults import rabbitmq_hosts

        FAMILIES["rabbitmq-hosts"] = [rabbitmq_hosts.run_chain]


def campaign(
    family: str,
    kills: int,
    seed: int,
    workdir: Path,
    per_chain: int = KILLS_PER_CHAIN,
    *,
    every_topology: bool = False,
) -> list[ChainReport]:
    """Run chains of ``family``, ``per_chain`` kills each, until ``kills`` kills have
    landed (and, with ``every_topology``, until each topology ran a whole chain)."""
    rng = random.Random(seed)
    reports: list[ChainReport] = []
    chains = FAMILIES[family]
    landed = 0
    while landed < kills or (every_topology and len(reports) < len(chains)):
        run_chain = chains[len(reports) % len(chains)]
        chain_dir = workdir / f"{family}-chain{len(reports)}"
        chain_dir.mkdir(parents=True)
        whole = every_topology and len(reports) < len(chains)
        report = run_chain(chain_dir, rng, per_chain if whole else min(per_chain, kills - landed))
        reports.append(report)
        landed += report.kills
    return reports


def table(reports: list[ChainReport], seconds: float, command: str) -> str:
    """The campaign as a Markdown table, one row per family."""
    lines = [
        "| family | chains | runs | kills | mid-work kills | messages | lost "
        "| completed twice | reprocessed in flight | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for family in dict.fromkeys(r.family for r in reports):
        rows = [r for r in reports if r.family == family]
        total = [
            sum(getattr(r, f) for r in rows)
            for f in (
                "runs",
                "kills",
                "mid_work_kills",
                "messages",
                "lost",
                "completed_twice",
                "reprocessed_in_flight",
            )
        ]
        verdict = "OK" if all(r.ok for r in rows) else "FAILED"
        late = sum(r.late_on_cut_hosts for r in rows)
        cells = list(map(str, total))
        if late:
            cells[5] += f" ({late} late on a cut-off host, reported)"
        lines.append(f"| {family} | {len(rows)} | " + " | ".join(cells) + f" | {verdict} |")
    lines.append("")
    lines.append(f"`{command}` — {seconds:.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.faults", description=__doc__)
    parser.add_argument("--kills", type=int, required=True, help="kills per family (at least)")
    parser.add_argument("--family", choices=[*FAMILIES, "all"], default="all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args(argv)
    families = list(FAMILIES) if args.family == "all" else [args.family]
    why = hosts.unavailable() if NEEDS_HOSTS & set(families) else None
    if why is not None and args.family == "all":
        print(f"skipping {', '.join(sorted(NEEDS_HOSTS))}: {why}")
        families = [f for f in families if f not in NEEDS_HOSTS]
    elif why is not None:
        parser.error(why)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="persistq-faults-") as tmp:
        workdir = args.workdir or Path(tmp)
        reports = [r for f in families for r in campaign(f, args.kills, args.seed, workdir)]
    command = "python -m tools.faults " + " ".join(argv if argv is not None else sys.argv[1:])
    print(table(reports, time.monotonic() - started, command))
    across_hosts = [r for r in reports if isinstance(r, HostsReport)]
    if across_hosts:
        print()
        print(hosts_table(across_hosts))
    for family in families:
        for reason in SKIPPED.get(family, []):
            print(f"SKIPPED ({family}): {reason}")
    for report in reports:
        for violation in report.violations:
            print(f"VIOLATION ({report.family}): {violation}")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
