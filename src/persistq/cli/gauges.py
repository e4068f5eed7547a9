"""``persistq status --prometheus``: the reports of ``persistq status`` as gauges for
node_exporter's textfile collector.

One function per read model turns its report (the ``--json`` form) into gauges, and
:data:`GAUGES_OF` picks it by the report's ``kind``; every report adds
``persistq_status_healthy`` and ``persistq_status_problems``. Every gauge carries the
``path`` label (the PATH as given). Building gauges needs no prometheus-client; only
:func:`prometheus_text` (the exposition) does.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from persistq.cli.common import EXIT_OK
from persistq.service.gauges import Gauge, write_textfile

Report = dict[str, Any]


def _timestamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def gauges_of_schedule_state(report: Report) -> list[Gauge]:
    """Each schedule's last and next slot (Unix time; absent when there is none),
    whether its next slot is overdue and whether a slot is being put (0 or 1)."""
    gauges = []
    for s in report["schedules"]:
        labels = (("path", report["path"]), ("schedule", s["schedule"]))
        if s["last_slot"] is not None:
            gauges.append(
                Gauge(
                    "schedule_state_last_slot_timestamp_seconds",
                    "The last slot a trigger was put for (Unix time).",
                    labels,
                    _timestamp(s["last_slot"]),
                )
            )
        if s["next_slot"] is not None:
            gauges.append(
                Gauge(
                    "schedule_state_next_slot_timestamp_seconds",
                    "The next slot to put (Unix time).",
                    labels,
                    _timestamp(s["next_slot"]),
                )
            )
        gauges += [
            Gauge(
                "schedule_state_overdue",
                "1 if the next slot is overdue (no scheduler seems to run), else 0.",
                labels,
                float(s["overdue"]),
            ),
            Gauge(
                "schedule_state_pending",
                "1 if a killed scheduler left a slot half put (the next run finishes it).",
                labels,
                float(s["pending"] is not None),
            ),
        ]
    return gauges


def gauges_of_folder(report: Report) -> list[Gauge]:
    """Files pending, failed and done; in progress by owner (alive, dead, remote);
    pending retries; the age of the oldest pending file (0 when none); producers by
    state (running, done, failed)."""
    path = (("path", report["path"]),)
    files = "Files of the folder queue by state."
    gauges = [
        Gauge("folder_files", files, (*path, ("state", "pending")), report["pending"]),
        Gauge("folder_files", files, (*path, ("state", "failed")), len(report["failed"])),
        Gauge("folder_files", files, (*path, ("state", "done")), report["done"]),
        Gauge(
            "folder_pending_retries",
            "Pending files waiting for another attempt.",
            path,
            report["pending_retries"],
        ),
        Gauge(
            "folder_oldest_pending_age_seconds",
            "Age of the oldest pending file (0 when none is pending).",
            path,
            report["oldest_pending_seconds"] or 0.0,
        ),
    ]
    for owner in ("alive", "dead", "remote"):
        held = sum(len(c["files"]) for c in report["in_progress"] if c["state"] == owner)
        gauges.append(
            Gauge(
                "folder_in_progress_files",
                "Files claimed by a consumer, by whether that process is alive.",
                (*path, ("owner", owner)),
                held,
            )
        )
    for state in ("running", "done", "failed"):
        count = sum(1 for p in report["producers"] if p["state"] == state)
        gauges.append(
            Gauge(
                "folder_producers",
                "Producers by their markers (helo: running; done; failed).",
                (*path, ("state", state)),
                count,
            )
        )
    return gauges


def gauges_of_pickup(report: Report) -> list[Gauge]:
    """Per journal prefix: messages requested, completed and outstanding, writers
    alive and dead, and whether the prefix is stuck (outstanding, no writer alive)."""
    gauges = []
    for p in report["prefixes"]:
        labels = (("path", report["path"]), ("prefix", p["prefix"]))
        alive = len(p["live_writers"])
        gauges += [
            Gauge("pickup_requested", "Messages journalled as put.", labels, p["requested"]),
            Gauge("pickup_completed", "Messages journalled as done.", labels, p["completed"]),
            Gauge(
                "pickup_outstanding",
                "Messages requested and not completed (with repeats).",
                labels,
                p["outstanding"],
            ),
            Gauge(
                "pickup_writers",
                "Processes that wrote the journals, by whether they are alive.",
                (*labels, ("state", "alive")),
                alive,
            ),
            Gauge(
                "pickup_writers",
                "Processes that wrote the journals, by whether they are alive.",
                (*labels, ("state", "dead")),
                len(p["writers"]) - alive,
            ),
            Gauge(
                "pickup_stuck",
                "1 if work is outstanding and no writer is alive (requeue it).",
                labels,
                float(p["stuck"]),
            ),
        ]
    return gauges


def gauges_of_broker(report: Report) -> list[Gauge]:
    """A broker queue: messages ready, unacknowledged (when the management API told)
    and dead-lettered, its consumers, and its producers by state."""
    labels = (("path", report["url"]),)
    messages = "Messages of a broker queue, by state."
    gauges = [
        Gauge("broker_messages", messages, (*labels, ("state", "ready")), report["ready"]),
        Gauge(
            "broker_messages",
            messages,
            (*labels, ("state", "dead_lettered")),
            report["dead_lettered"],
        ),
        Gauge("broker_consumers", "Consumers of a broker queue.", labels, report["consumers"]),
    ]
    if report["unacknowledged"] is not None:
        gauges.append(
            Gauge(
                "broker_messages",
                messages,
                (*labels, ("state", "unacknowledged")),
                report["unacknowledged"],
            )
        )
    for state, producers in report["producers"].items():
        gauges.append(
            Gauge(
                "broker_producers",
                "Producers of a broker queue, by state (open, closed, failed, gone, unknown).",
                (*labels, ("state", state)),
                len(producers),
            )
        )
    return gauges


GAUGES_OF: dict[str, Callable[[Report], list[Gauge]]] = {
    "schedules": gauges_of_schedule_state,
    "folder": gauges_of_folder,
    "pickup": gauges_of_pickup,
    "rabbitmq": gauges_of_broker,
}
"""The gauge function of each kind of ``persistq status`` report."""


def gauges_of(report: Report) -> list[Gauge]:
    """The gauges of one report: its read model's, then its health and problem count."""
    labels = (("path", report.get("path") or report["url"]), ("kind", report["kind"]))
    return [
        *GAUGES_OF[report["kind"]](report),
        Gauge(
            "status_healthy",
            "1 if persistq status finds the PATH healthy (its exit code 0), else 0.",
            labels,
            float(report["healthy"]),
        ),
        Gauge(
            "status_problems", "Problems persistq status reports.", labels, len(report["problems"])
        ),
    ]


def prometheus_text(reports: Sequence[Report]) -> str:
    """The gauges of ``reports`` in the Prometheus text format (needs persistq[metrics])."""
    from persistq.service.metrics import exposition  # noqa: PLC0415 - the metrics extra

    return exposition([gauge for report in reports for gauge in gauges_of(report)])


def add_arguments(parser: argparse.ArgumentParser, exclusive: argparse._ActionsContainer) -> None:
    """Add ``--prometheus`` (to the group of output forms ``exclusive``) and
    ``--output`` to the ``status`` parser."""
    exclusive.add_argument(
        "--prometheus",
        action="store_true",
        help="print gauges of every PATH in the Prometheus text format (persistq[metrics]); "
        "exit 0 once written, health is in persistq_status_healthy",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="--prometheus: replace FILE atomically (node_exporter's textfile collector)",
    )


def write(reports: Sequence[Report], output: str | None) -> int:
    """Print the gauges of ``reports``, or replace file ``output`` with them; 0."""
    text = prometheus_text(reports)
    if output:
        write_textfile(output, text)
    else:
        print(text, end="")
    return EXIT_OK
