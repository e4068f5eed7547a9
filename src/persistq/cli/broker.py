"""``persistq status amqp://…/QUEUE`` and ``persistq purge amqp://…/QUEUE``: a
RabbitMQQueue's queue on its broker.

The URL is an AMQP URL whose last path segment names the queue:
``amqp://user:pass@host:5672/%2F/loads`` is queue ``loads`` on vhost ``/`` (the vhost
segment may be left out: ``amqp://host/loads``). Ready messages and consumers come
over AMQP; unacknowledged ones only from the management plugin's HTTP API, when it
answers (``--management URL``, default ``http://HOST:15672``).
"""

from __future__ import annotations

import argparse
import base64
import json
import urllib.parse
from collections.abc import Sequence
from typing import Any

from persistq.cli.common import EXIT_OK, EXIT_UNHEALTHY, CliError, confirm, format_table
from persistq.rabbitmq.control import ControlState, decode_control
from persistq.rabbitmq.topology import Topology

Report = dict[str, Any]
SCHEMES = ("amqp://", "amqps://")
IDLE_S = 0.3


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


def broker_report(
    url: str,
    counts: dict[str, Any],
    unacknowledged: int | None,
    producers: ControlState,
    gone: Sequence[str] = (),
) -> Report:
    """The status of a broker queue from its counts (``ready``, ``consumers``,
    ``dead_lettered``), its unacknowledged messages (None: unknown), its control
    records and the open producers whose connection is ``gone``. Unhealthy when
    messages were dead-lettered or a producer failed or is gone without close()."""
    problems = []
    if counts["dead_lettered"]:
        problems.append(
            f"{counts['dead_lettered']} message(s) dead-lettered in {counts['dead_queue']}: "
            "failed delivery_limit times or given up by task_failed (reasons in the header "
            "x-persistq-reasons, or x-death for the broker's delivery limit)"
        )
    problems.extend(f"producer {p} failed" for p in producers.failed)
    problems.extend(
        f"producer {p} is gone without close() (no connection); if it was killed, start "
        "the next run with purge_control_messages()"
        for p in gone
    )
    return {
        "kind": "rabbitmq",
        "url": _safe(url),
        "healthy": not problems,
        "ready": counts["ready"],
        "unacknowledged": unacknowledged,
        "consumers": counts["consumers"],
        "dead_lettered": counts["dead_lettered"],
        "producers": {
            "open": sorted(producers.open),
            "closed": sorted(producers.closed),
            "failed": list(producers.failed),
            "gone": list(gone),
        },
        "problems": problems,
    }


def render_broker(report: Report) -> str:
    """The text form of :func:`broker_report`."""
    unacked = report["unacknowledged"]
    producers = report["producers"]
    rows = [
        ["ready", report["ready"]],
        ["unacknowledged", "unknown (no management API)" if unacked is None else unacked],
        ["consumers", report["consumers"]],
        ["dead-lettered", report["dead_lettered"]],
        [
            "producers",
            f"{len(producers['open'])} open ({len(producers['gone'])} gone), "
            f"{len(producers['closed'])} closed, {len(producers['failed'])} failed",
        ],
    ]
    lines = [f"rabbitmq queue {report['url']}", format_table(["STATE", "MESSAGES"], rows)]
    if report["healthy"]:
        return "\n".join([*lines, "", "healthy"])
    return "\n".join([*lines, "", "PROBLEMS:", *(f"  - {p}" for p in report["problems"])])


def _connect(url: str) -> Any:
    try:
        import pika  # noqa: PLC0415 - the rabbitmq extra, needed only for broker URLs
    except ModuleNotFoundError:
        raise CliError(
            f"{_safe(url)}: broker URLs need pika: pip install 'persistq[rabbitmq]'"
        ) from None

    try:
        return pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as exc:
        raise CliError(f"{_safe(url)}: cannot connect to the broker: {exc!r}") from None


def _counts(connection: Any, topology: Topology, url: str) -> dict[str, Any]:
    import pika  # noqa: PLC0415

    counts: dict[str, Any] = {"dead_queue": topology.dead}
    for key, name in (("ready", topology.queue), ("dead_lettered", topology.dead)):
        try:
            ok = connection.channel().queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if name == topology.dead:
                counts[key] = 0
                continue
            raise CliError(f"{_safe(url)}: no queue {name!r} on this broker ({exc})") from None
        counts[key] = ok.method.message_count
        if key == "ready":
            counts["consumers"] = ok.method.consumer_count
    return counts


def _producers(connection: Any, topology: Topology) -> ControlState:
    import pika  # noqa: PLC0415

    state = ControlState()
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=100)
        for method, _, body in channel.consume(
            topology.control, arguments={"x-stream-offset": "first"}, inactivity_timeout=IDLE_S
        ):
            if method is None:
                break
            channel.basic_ack(method.delivery_tag)
            kind, producer = decode_control(body)
            state.apply(kind, producer)
    except pika.exceptions.ChannelClosedByBroker:
        pass  # no control stream: no producer ever announced itself
    return state


def _gone(connection: Any, topology: Topology, producers: ControlState) -> list[str]:
    import pika  # noqa: PLC0415

    gone = []
    for producer in sorted(producers.open):
        try:
            ok = connection.channel().queue_declare(topology.presence(producer), passive=True)
            alive = ok.method.consumer_count > 0
        except pika.exceptions.ChannelClosedByBroker:
            alive = False
        if not alive:
            gone.append(producer)
    return gone


def _unacknowledged(management: str, url: str, vhost: str, queue: str) -> int | None:
    import urllib.request  # noqa: PLC0415 - only here: every other command starts faster

    if not management.startswith(("http://", "https://")):
        raise CliError(f"--management {management!r}: give an http:// or https:// URL")
    parts = urllib.parse.urlsplit(url)
    path = "/api/queues/{}/{}".format(*(urllib.parse.quote(s, safe="") for s in (vhost, queue)))
    request = urllib.request.Request(management.rstrip("/") + path)  # noqa: S310 - http(s)
    user = urllib.parse.unquote(parts.username or "guest")
    password = urllib.parse.unquote(parts.password or "guest")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            return int(json.load(response).get("messages_unacknowledged", 0))
    except (OSError, ValueError):  # urllib.error.URLError is an OSError
        return None


def status(url: str, management: str | None) -> Report:
    """Ask the broker about the queue of ``url``."""
    connection_url, vhost, queue = split_queue_url(url)
    topology = Topology(queue)
    connection = _connect(connection_url)
    try:
        counts = _counts(connection, topology, url)
        producers = _producers(connection, topology)
        gone = _gone(connection, topology, producers)
    finally:
        connection.close()
    host = urllib.parse.urlsplit(url).hostname or "localhost"
    unacked = _unacknowledged(management or f"http://{host}:15672", url, vhost, queue)
    return broker_report(url, counts, unacked, producers, gone)


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
    connection = _connect(connection_url)
    try:
        deleted = {}
        for name in (topology.queue, topology.dead, topology.control):
            ok = connection.channel().queue_delete(name)
            deleted[name] = ok.method.message_count
    finally:
        connection.close()
    shown = ", ".join(f"{name} ({count} messages)" for name, count in deleted.items())
    print(f"{_safe(args.path)}: deleted {shown}")
    return EXIT_OK
