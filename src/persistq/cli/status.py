"""``persistq status PATH``: what a folder queue or a pickup directory holds, and
whether work is stuck."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from persistq.cli import pickup_view
from persistq.cli.common import (
    EXIT_OK,
    EXIT_UNHEALTHY,
    existing_dir,
    format_age,
    format_table,
)
from persistq.cli.folder import (
    DONE_FOLDER,
    FAILED_FOLDER,
    SIDE_FILES,
    Entry,
    extension_of,
    is_retry,
    list_entries,
    owner_state,
)
from persistq.folder.names import Kind, Owner, classify, marker_kind, marker_producer, parse_wip

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
    parser.add_argument(
        "--extension",
        help="folder queue: the message extension (default: the one its files use)",
    )
    parser.set_defaults(run=run)


def _verdict(report: Report) -> list[str]:
    if report["healthy"]:
        return ["", "healthy"]
    return ["", "PROBLEMS:", *(f"  - {problem}" for problem in report["problems"])]


def folder_report(
    path: str,
    entries: Sequence[Entry],
    extension: str,
    now: float,
    state_of: Callable[[Owner], str],
    done: Sequence[Entry],
    failed: Sequence[Entry],
) -> Report:
    """The status of a folder queue from its listing (and its ``done/`` and ``failed/``
    listings); ``state_of`` says whether an owner is alive, dead or remote.

    Unhealthy when a dead owner holds claims or a producer left a failed marker.
    """
    pending = [e for e in entries if classify(e.name, extension) is Kind.MESSAGE]
    owners: dict[Owner, list[tuple[str, Entry]]] = {}
    producers: dict[str, set[str]] = {}
    for entry in entries:
        kind = classify(entry.name, extension)
        wip = parse_wip(entry.name) if kind is Kind.WIP else None
        if wip is not None:
            owners.setdefault(wip.owner, []).append((wip.original, entry))
        elif kind is Kind.MARKER:
            producers.setdefault(marker_producer(entry.name), set()).add(
                marker_kind(entry.name) or ""
            )
    problems = []
    claims = []
    for owner, held in sorted(owners.items(), key=lambda o: (o[0].host, o[0].pid)):
        state = state_of(owner)
        if state == "dead":
            problems.append(
                f"{len(held)} file(s) claimed by dead process {owner.pid} on {owner.host}; "
                f"take them back with: persistq requeue {path}"
            )
        claims.append(
            {
                "host": owner.host,
                "pid": owner.pid,
                "state": state,
                "files": sorted(original for original, _ in held),
                "age_seconds": round(now - min(e.changed for _, e in held), 3),
            }
        )
    producer_rows = []
    for producer, kinds in sorted(producers.items()):
        state = "failed" if "failed" in kinds else "done" if "done" in kinds else "running"
        if state == "failed":
            problems.append(f"producer {producer} failed (marker {producer}.failed)")
        producer_rows.append({"producer": producer, "state": state, "markers": sorted(kinds)})
    failed_files = sorted(
        e.name for e in failed if not e.name.endswith(SIDE_FILES) and not e.name.startswith(".")
    )
    return {
        "kind": "folder",
        "path": path,
        "extension": extension,
        "healthy": not problems,
        "pending": len(pending),
        "pending_retries": sum(1 for e in pending if is_retry(e.name, extension)),
        "oldest_pending_seconds": (
            round(now - min(e.changed for e in pending), 3) if pending else None
        ),
        "in_progress": claims,
        "failed": failed_files,
        "done": sum(1 for e in done if not e.name.startswith(".")),
        "producers": producer_rows,
        "problems": problems,
    }


def render_folder(report: Report) -> str:
    """The text form of :func:`folder_report`."""
    in_progress = sum(len(c["files"]) for c in report["in_progress"])
    oldest = report["oldest_pending_seconds"]
    pending = f"{report['pending']}"
    if report["pending_retries"]:
        pending += f" ({report['pending_retries']} waiting for a retry)"
    if oldest is not None:
        pending += f", oldest {format_age(oldest)}"
    lines = [
        f"folder queue {report['path']} (messages *{report['extension']})",
        format_table(
            ["STATE", "FILES"],
            [
                ["pending", pending],
                ["in progress", in_progress],
                ["failed", len(report["failed"])],
                ["done", report["done"]],
            ],
        ),
    ]
    if report["in_progress"]:
        rows = [
            [
                c["host"],
                c["pid"],
                c["state"],
                len(c["files"]),
                format_age(c["age_seconds"]),
                ", ".join(c["files"][:3]) + (" ..." if len(c["files"]) > 3 else ""),
            ]
            for c in report["in_progress"]
        ]
        lines += ["", "in progress by owner:"]
        lines.append(format_table(["HOST", "PID", "STATE", "FILES", "AGE", "NAMES"], rows))
    if report["failed"]:
        shown = ", ".join(report["failed"][:5]) + (" ..." if len(report["failed"]) > 5 else "")
        lines += ["", f"failed (see {FAILED_FOLDER}/NAME.reason.json): {shown}"]
    if report["producers"]:
        rows = [[p["producer"], p["state"], " ".join(p["markers"])] for p in report["producers"]]
        lines += ["", "producers:", format_table(["PRODUCER", "STATE", "MARKERS"], rows)]
    return "\n".join(lines + _verdict(report))


def folder_status(path: str, extension: str | None) -> Report:
    """List queue folder ``path`` and report on it."""
    ext = extension_of(path, extension)
    return folder_report(
        path,
        list_entries(path),
        ext,
        time.time(),
        owner_state,
        list_entries(os.path.join(path, DONE_FOLDER)),
        list_entries(os.path.join(path, FAILED_FOLDER)),
    )


def run(args: argparse.Namespace) -> int:
    """Print the status of ``args.path``; 0 if healthy, 1 if not."""
    path = existing_dir(args.path)
    if pickup_view.is_pickup_directory(path):
        report = pickup_view.status(path)
        text = "\n".join([pickup_view.render_status(report), *_verdict(report)])
    else:
        report = folder_status(path, args.extension)
        text = render_folder(report)
    print(json.dumps(report, indent=2) if args.json else text)
    return EXIT_OK if report["healthy"] else EXIT_UNHEALTHY
