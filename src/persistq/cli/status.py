"""``persistq status PATH``: what a folder queue or a pickup directory holds, and
whether work is stuck."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from persistq import pickup
from persistq.cli import broker, gauges, manifest, pickup_view
from persistq.cli.common import (
    EXIT_OK,
    EXIT_UNHEALTHY,
    CliError,
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
from persistq.cli.folder_health import not_a_queue, producer_owner
from persistq.cli.schedule import render_status, status_report
from persistq.folder.names import Kind, Owner, classify, marker_kind, marker_producer, parse_wip
from persistq.schedule.status import is_state_dir

EXAMPLES = """\
examples:
  persistq status /data/queue/loads          # a folder queue
  persistq status /data/pickup/run-0412      # a PersistentQueue's pickup directory
  persistq status --json /data/queue/loads | jq .healthy
  persistq status --prometheus /data/queue/loads /data/triggers/.persistq-schedule \
      --output /var/lib/node_exporter/textfile/persistq.prom

exit codes: 0 healthy; 1 work is stuck with dead owners, a producer failed (a
failed marker) or is gone without close(), files are in failed/, PATH is no queue at
all (empty, or the parent of pickup directories), or a journal is corrupt; 2 usage error.
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
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs="+",
        help="queue folder, pickup directory or schedule state directory (several: "
        "--prometheus)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    gauges.add_arguments(parser, output)
    parser.add_argument(
        "--extension",
        help="folder queue: the message extension (default: the one its files use)",
    )
    manifest.add_arguments(parser)
    broker.add_status_arguments(parser)
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
    producer_owner: Callable[[str], Owner | None] = lambda producer: None,
) -> Report:
    """The status of a folder queue from its listing (and its ``done/`` and ``failed/``
    listings); ``state_of`` says whether an owner is alive, dead or remote, and
    ``producer_owner`` which process announced a producer (its helo marker).

    Unhealthy when a dead owner holds claims, a producer left a failed marker or is
    gone without ``close()``, or files are in ``failed/``.
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
        announced = producer_owner(producer) if state == "running" else None
        if announced is not None and state_of(announced) == "dead":
            state = "gone"
            problems.append(
                f"producer {producer} is gone without close() (PID {announced.pid} on "
                f"{announced.host} no longer runs): its readers get FAILED; if its work was "
                f"complete, remove its markers with: persistq reset {path}"
            )
        producer_rows.append({"producer": producer, "state": state, "markers": sorted(kinds)})
    failed_files = sorted(
        e.name for e in failed if not e.name.endswith(SIDE_FILES) and not e.name.startswith(".")
    )
    if failed_files:
        problems.append(
            f"{len(failed_files)} file(s) in {FAILED_FOLDER}/ (why: "
            f"{FAILED_FOLDER}/NAME.reason.json); once fixed, send them back with: "
            f"persistq requeue --failed {path}"
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


def render_none(report: Report) -> str:
    """The text form of a report on a folder that is no queue."""
    return "\n".join([f"{report['path']}: not a queue", *_verdict(report)])


def folder_status(path: str, extension: str | None) -> Report:
    """List queue folder ``path`` and report on it (kind ``"none"`` if it is no queue)."""
    ext = extension_of(path, extension)
    reason = not_a_queue(path, ext, lambda names: bool(pickup.prefixes(names)))
    if reason is not None:
        return {"kind": "none", "path": path, "healthy": False, "problems": [reason]}
    return folder_report(
        path,
        list_entries(path),
        ext,
        time.time(),
        owner_state,
        list_entries(os.path.join(path, DONE_FOLDER)),
        list_entries(os.path.join(path, FAILED_FOLDER)),
        lambda producer: producer_owner(path, producer),
    )


def render_pickup(report: Report) -> str:
    """The text form of a pickup directory's report."""
    return "\n".join([pickup_view.render_status(report), *_verdict(report)])


RENDER: dict[str, Callable[[Report], str]] = {
    "schedules": render_status,
    "pickup": render_pickup,
    "folder": render_folder,
    "none": render_none,
}
"""The text form of each kind of report."""


def read_report(path: str, extension: str | None) -> Report:
    """The report of ``path``: a schedule state directory, a pickup directory or a
    folder queue (``extension``: its messages' extension, None to find it)."""
    names = sorted(os.listdir(path))
    if is_state_dir(path):
        return status_report(path)
    if pickup.prefixes(names):
        return pickup_view.status(path)
    return folder_status(path, extension)


def read_any(path: str, args: argparse.Namespace) -> Report:
    """The report of ``path``, a folder or the URL of a broker queue."""
    if broker.is_broker_url(path):
        return broker.status(path, args.management)
    return read_report(existing_dir(path), args.extension)


def run(args: argparse.Namespace) -> int:
    """Print the status of ``args.path``; 0 if healthy, 1 if not; with
    ``--prometheus``, the gauges of every PATH, 0 once written."""
    if args.prometheus:
        return gauges.write([read_any(path, args) for path in args.path], args.output)
    if any(broker.is_broker_url(path) for path in args.path):
        if len(args.path) > 1 or args.files:
            raise CliError("a broker URL is shown alone (or among --prometheus PATHs)")
        return broker.run_status(args.path[0], args)
    if args.files:
        return manifest.run(args)
    paths = [existing_dir(path) for path in args.path]
    if len(paths) > 1 or args.output:
        raise CliError("several PATHs and --output need --prometheus")
    report = read_report(paths[0], args.extension)
    print(json.dumps(report, indent=2) if args.json else RENDER[report["kind"]](report))
    return EXIT_OK if report["healthy"] else EXIT_UNHEALTHY
