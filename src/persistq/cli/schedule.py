"""``persistq schedule FILE.toml``: put a trigger file into a folder queue for every
slot of every schedule, exactly once; and the schedule part of ``persistq status``."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
from collections.abc import Iterator
from typing import Any

from persistq.cli.common import EXIT_OK, CliError, format_table
from persistq.schedule.config import load_schedulers
from persistq.schedule.observer import SlotObserver
from persistq.schedule.scheduler import serve
from persistq.schedule.slots import check_aware
from persistq.schedule.status import statuses

log = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  persistq schedule nightly.toml                 # run until SIGTERM/SIGINT
  persistq schedule nightly.toml --list          # check the file; the next slots
  persistq schedule nightly.toml --once          # put what is due now, then exit
  persistq schedule nightly.toml --metrics-port 9464 --log-format json   # as a service
  persistq status triggers/.persistq-schedule    # last and next slot of each schedule

nightly.toml:
  queue = "triggers"                # relative to the file
  [[schedule]]
  name = "nightly-stats"
  cron = "30 2 * * *"               # minute hour day-of-month month day-of-week
  timezone = "Europe/Berlin"        # default UTC
  catch_up = "latest"               # all, latest (default) or none
  params = { table = "stats" }      # or: content = "..."

Then run the triggers: persistq watch triggers --pattern '*.trigger' -- ./load.sh
"""

Report = dict[str, Any]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``schedule`` subcommand."""
    parser = sub.add_parser(
        "schedule",
        help="put a trigger file into a folder queue at every cron slot, exactly once",
        description="Read the schedules of FILE (TOML), check all of them, then put one "
        "trigger file per due slot into each schedule's queue folder, sleeping until the "
        "next slot. Any number of these may run on one state directory: each slot is "
        "put once.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE.toml", help="the schedule file")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="print each schedule's next slots")
    what.add_argument("--once", action="store_true", help="put what is due, then exit")
    parser.add_argument(
        "--count", type=int, default=3, metavar="N", help="--list: slots per schedule (3)"
    )
    parser.add_argument(
        "--now",
        type=_instant,
        metavar="ISO",
        help="--list/--once: act as if the clock said ISO (e.g. 2026-06-02T02:30:00+02:00)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (needs persistq[metrics])",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address to serve metrics on (default 127.0.0.1: loopback only)",
    )
    parser.set_defaults(run=run)


def _instant(text: str) -> dt.datetime:
    try:
        return check_aware(dt.datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time with an offset (e.g. 2026-06-02T02:30:00Z)"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Check the schedule file, then list, run once, or run until stopped."""
    if args.now is not None and not (args.list or args.once):
        raise CliError("--now needs --list or --once")
    if args.metrics_port is not None and (args.list or args.once):
        raise CliError("--metrics-port is for the running scheduler, not --list or --once")
    with _metrics(args.metrics_host, args.metrics_port) as observer:
        return _run(args, observer)


def _run(args: argparse.Namespace, observer: SlotObserver | None) -> int:
    try:
        schedulers = load_schedulers(args.file, observer=observer)
    except ImportError as exc:  # cronsim, without the schedule extra
        raise CliError(str(exc)) from None
    if args.list:
        now = args.now or dt.datetime.now(dt.UTC)
        rows = []
        for scheduler in schedulers:
            for schedule in scheduler.schedules:
                after = now
                for _ in range(args.count):
                    slot = schedule.next_slot(after)
                    if slot is None:
                        break
                    rows.append([schedule.name, slot.isoformat(), scheduler.queue_path])
                    after = slot
        print(format_table(["SCHEDULE", "NEXT SLOT", "QUEUE"], rows))
        return EXIT_OK
    if args.once:
        for scheduler in schedulers:
            for path in scheduler.run_pending(args.now):
                print(path)
        return EXIT_OK
    names = ", ".join(s.name for scheduler in schedulers for s in scheduler.schedules)
    log.info("scheduling %s", names, extra={"file": os.path.abspath(args.file)})
    serve(schedulers)
    return EXIT_OK


@contextlib.contextmanager
def _metrics(host: str, port: int | None) -> Iterator[SlotObserver | None]:
    """Serve the scheduler's metrics while the block runs (nothing without a port)."""
    if port is None:
        yield None
        return
    # The metrics extra, imported only when asked for (PersistqError naming it if absent).
    from persistq.service.metrics import (  # noqa: PLC0415
        ScheduleMetrics,
        new_registry,
    )
    from persistq.service.metrics import serve as serve_metrics  # noqa: PLC0415

    registry = new_registry()
    metrics = ScheduleMetrics(registry)
    server, thread = serve_metrics(registry, port, host)
    log.info("serving metrics on http://%s:%d/metrics", host, server.server_port)
    try:
        yield metrics
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def status_report(path: str) -> Report:
    """The ``persistq status`` report of schedule state directory ``path``."""
    found, problems = statuses(path, dt.datetime.now(dt.UTC))

    def iso(moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "kind": "schedules",
        "path": path,
        "healthy": not problems,
        "schedules": [
            {
                "schedule": s.schedule,
                "cron": s.cron,
                "timezone": s.timezone,
                "last_slot": iso(s.last_slot),
                "next_slot": iso(s.next_slot),
                "pending": iso(s.pending),
                "overdue": s.overdue,
            }
            for s in found
        ],
        "problems": problems,
    }


def render_status(report: Report) -> str:
    """The text form of :func:`status_report`."""
    rows = [
        [
            s["schedule"],
            s["cron"],
            s["timezone"],
            s["last_slot"] or "-",
            (s["next_slot"] or "never") + (" (overdue)" if s["overdue"] else ""),
        ]
        for s in report["schedules"]
    ]
    lines = [
        f"schedule state {report['path']}",
        format_table(["SCHEDULE", "CRON", "TIMEZONE", "LAST SLOT", "NEXT SLOT"], rows),
    ]
    pending = [s for s in report["schedules"] if s["pending"]]
    lines += [f"{s['schedule']}: slot {s['pending']} is being put" for s in pending]
    if report["healthy"]:
        return "\n".join([*lines, "", "healthy"])
    return "\n".join([*lines, "", "PROBLEMS:", *(f"  - {p}" for p in report["problems"])])
