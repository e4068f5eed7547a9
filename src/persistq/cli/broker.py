"""``persistq status amqp://…/QUEUE`` and ``persistq purge amqp://…/QUEUE``: a
RabbitMQQueue's queue on its broker.

The URL is an AMQP URL whose last path segment names the queue:
``amqp://user:pass@host:5672/%2F/loads`` is queue ``loads`` on vhost ``/`` (the vhost
segment may be left out: ``amqp://host/loads``). This module parses it and renders the
library's report (:func:`persistq.rabbitmq.report.inspect`); it reads nothing itself.
Unacknowledged counts come only from the management plugin's HTTP API, when it answers
(``--management URL``, default ``http://HOST:15672``).
"""

from __future__ import annotations

import argparse
import json
import urllib.parse
from typing import TYPE_CHECKING, Any

from persistq.cli.common import EXIT_OK, EXIT_UNHEALTHY, CliError, confirm, format_table
from persistq.rabbitmq.topology import Topology

if TYPE_CHECKING:
    from persistq.rabbitmq.report import BrokerReport

Report = dict[str, Any]
SCHEMES = ("amqp://", "amqps://")


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``persistq status`` that only broker URLs use."""
    parser.add_argument(
        "--management",
        metavar="URL",
        help="amqp:// PATH: the management HTTP API for unacknowledged counts "
        "(default http://HOST:15672)",
    )


def is_broker_url(path: str) -> bool:
    """Whether a command's PATH argument is a broker queue URL."""
    return path.startswith(SCHEMES)


def split_queue_url(url: str) -> tuple[str, str, str]:
    """(connection URL, vhost, queue name) of a queue URL; CliError if no queue."""
    parts = urllib.parse.urlsplit(url)
    segments = parts.path.lstrip("/").split("/")
    if not segments[-1]:
        raise CliError(f"{_safe(url)}: name the queue as the URL's last segment (…/%2F/QUEUE)")
    queue = urllib.parse.unquote(segments[-1])
    vhost_segment = segments[0] if len(segments) > 1 else "%2F"
    connection = urllib.parse.urlunsplit(parts._replace(path="/" + vhost_segment))
    return connection, urllib.parse.unquote(vhost_segment), queue


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{host}{port}"))


def as_json(url: str, report: BrokerReport) -> Report:
    """The ``--json`` form of the library's report on the queue of ``url``: its counts,
    producers by state and the problems that make it unhealthy (a message was
    dead-lettered, a producer failed or is gone without close())."""
    problems = []
    if report.dead_lettered:
        problems.append(
            f"{report.dead_lettered} message(s) dead-lettered in {report.dead_queue}: "
            "failed delivery_limit times or given up by task_failed (reasons in the header "
            "x-persistq-reasons, or x-death for the broker's delivery limit)"
        )
    problems.extend(f"producer {p} failed" for p in report.failed)
    gone = report.producers_that("gone")
    problems.extend(
        f"producer {p} is gone without close() (no connection); if it was killed, start "
        "the next run with purge_control_messages()"
        for p in gone
    )
    return {
        "kind": "rabbitmq",
        "url": _safe(url),
        "healthy": not problems,
        "ready": report.ready,
        "unacknowledged": report.unacknowledged,
        "consumers": report.consumers,
        "dead_lettered": report.dead_lettered,
        "producers": {
            "open": list(report.open),
            "closed": list(report.closed),
            "failed": list(report.failed),
            "gone": gone,
            "unknown": report.producers_that("unknown"),
        },
        "problems": problems,
    }


def render_broker(report: Report) -> str:
    """The text form of :func:`as_json`."""
    unacked = report["unacknowledged"]
    producers = report["producers"]
    liveness = f"{len(producers['gone'])} gone"
    if producers["unknown"]:
        liveness += f", {len(producers['unknown'])} unknown"
    rows = [
        ["ready", report["ready"]],
        ["unacknowledged", "unknown (no management API)" if unacked is None else unacked],
        ["consumers", report["consumers"]],
        ["dead-lettered", report["dead_lettered"]],
        [
            "producers",
            f"{len(producers['open'])} open ({liveness}), "
            f"{len(producers['closed'])} closed, {len(producers['failed'])} failed",
        ],
    ]
    lines = [f"rabbitmq queue {report['url']}", format_table(["STATE", "MESSAGES"], rows)]
    if report["healthy"]:
        return "\n".join([*lines, "", "healthy"])
    return "\n".join([*lines, "", "PROBLEMS:", *(f"  - {p}" for p in report["problems"])])


def _need_pika(url: str) -> None:
    try:
        import pika  # noqa: F401, PLC0415 - the rabbitmq extra, needed only for broker URLs
    except ModuleNotFoundError:
        raise CliError(
            f"{_safe(url)}: broker URLs need pika: pip install 'persistq[rabbitmq]'"
        ) from None


def status(url: str, management: str | None) -> Report:
    """The ``--json`` form of the library's report on the queue of ``url``."""
    connection_url, _, queue = split_queue_url(url)
    _need_pika(url)
    from persistq.rabbitmq.report import inspect  # noqa: PLC0415 - needs pika

    return as_json(url, inspect(connection_url, queue, management=management))


def run_status(url: str, args: argparse.Namespace) -> int:
    """``persistq status URL``: print the queue's report; 0 if healthy, 1 if not."""
    report = status(url, args.management)
    print(json.dumps(report, indent=2) if args.json else render_broker(report))
    return EXIT_OK if report["healthy"] else EXIT_UNHEALTHY


def run_purge(args: argparse.Namespace) -> int:
    """``persistq purge URL``: delete the queue, its dead-letter queue and its control
    stream, so that the next run starts afresh (only when nothing runs)."""
    connection_url, _, queue = split_queue_url(args.path)
    topology = Topology(queue)
    confirm(
        f"{_safe(args.path)}: delete queues {topology.queue}, {topology.dead} and "
        f"{topology.control} with every message in them?",
        yes=args.yes,
    )
    _need_pika(args.path)
    from persistq.rabbitmq.admin import delete_queues  # noqa: PLC0415 - needs pika

    deleted = delete_queues(connection_url, topology, _safe(args.path))
    shown = ", ".join(f"{name} ({count} messages)" for name, count in deleted.items())
    print(f"{_safe(args.path)}: deleted {shown}")
    return EXIT_OK
