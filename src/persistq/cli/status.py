"""``persistq status PATH``: what a folder queue or a pickup directory holds, and
whether work is stuck."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from persistq.cli.common import EXIT_OK, EXIT_UNHEALTHY, existing_dir, format_table
from persistq.cli.pickup import JournalReader, PrefixWork, group_journals, pid_alive

EXAMPLES = """\
examples:
  persistq status /data/queue/loads          # a folder queue
  persistq status /data/pickup/run-0412      # a PersistentQueue's pickup directory
  persistq status --json /data/queue/loads | jq .healthy

exit codes: 0 healthy; 1 work is stuck with dead owners, or a producer failed
(a failed marker), or a journal is corrupt; 2 usage error.
"""

Report = dict[str, Any]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` subcommand."""
    parser = sub.add_parser(
        "status",
        help="show what a queue folder or pickup directory holds",
        description="Show pending, in-progress, failed and done work of a folder queue "
        "(with each owner's host, PID, liveness and age, and the producers' markers), or "
        "requested, completed and outstanding work per prefix of a pickup directory.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="queue folder or pickup directory")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def pickup_report(path: str, works: Sequence[PrefixWork], alive: Callable[[int], bool]) -> Report:
    """The status of a pickup directory from the tally of each prefix.

    A prefix is stuck when it has outstanding work and none of its writers is alive.
    """
    prefixes = []
    problems = []
    for work in works:
        live = [pid for pid in work.writers if alive(pid)]
        stuck = bool(work.outstanding) and not live
        if stuck:
            problems.append(
                f"{work.prefix}: {len(work.outstanding)} outstanding and no writer alive; "
                f"requeue with previous_pickup_dir={path!r} (see: persistq requeue {path})"
            )
        problems.extend(work.corrupt)
        prefixes.append(
            {
                "prefix": work.prefix,
                "journals": work.journals,
                "requested": work.requested,
                "completed": work.completed,
                "outstanding": len(work.outstanding),
                "writers": list(work.writers),
                "live_writers": live,
                "stuck": stuck,
            }
        )
    return {
        "kind": "pickup",
        "path": path,
        "healthy": not problems,
        "prefixes": prefixes,
        "problems": problems,
    }


def render_pickup(report: Report) -> str:
    """The text form of :func:`pickup_report`."""
    rows = []
    for p in report["prefixes"]:
        dead = len(p["writers"]) - len(p["live_writers"])
        writers = f"{len(p['live_writers'])} alive, {dead} dead"
        rows.append(
            [p["prefix"], p["journals"], p["requested"], p["completed"], p["outstanding"], writers]
        )
    lines = [
        f"pickup directory {report['path']}",
        format_table(
            ["PREFIX", "JOURNALS", "REQUESTED", "COMPLETED", "OUTSTANDING", "WRITERS"], rows
        ),
    ]
    return "\n".join(lines + _verdict(report))


def _verdict(report: Report) -> list[str]:
    if report["healthy"]:
        return ["", "healthy"]
    return ["", "PROBLEMS:", *(f"  - {problem}" for problem in report["problems"])]


def pickup_status(path: str, names: list[str]) -> Report:
    """Read the journals among ``names`` in ``path`` and report on them."""
    reader = JournalReader(path, skip_corrupt=True, progress=None)
    works = [reader.work(prefix, journals) for prefix, journals in group_journals(names).items()]
    return pickup_report(path, works, pid_alive)


def run(args: argparse.Namespace) -> int:
    """Print the status of ``args.path``; 0 if healthy, 1 if not."""
    path = existing_dir(args.path)
    names = sorted(os.listdir(path))
    report = pickup_status(path, names)
    print(json.dumps(report, indent=2) if args.json else render_pickup(report))
    return EXIT_OK if report["healthy"] else EXIT_UNHEALTHY
