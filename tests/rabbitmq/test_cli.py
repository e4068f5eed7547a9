"""``persistq status`` and ``persistq purge`` on a broker queue."""

from __future__ import annotations

import json
import queue
from typing import Any

import pika
import pytest
from tools.rabbitmq_node import Node

from persistq.cli.broker import as_json, render_broker, split_queue_url
from persistq.rabbitmq import RabbitMQQueue
from persistq.rabbitmq.control import encode_control
from persistq.rabbitmq.presence import Presence, judge
from persistq.rabbitmq.report import BrokerReport
from persistq.rabbitmq.topology import Topology
from persistq.sentinels import DONE, FAILED
from tests.cli.helpers import persistq

pytestmark = pytest.mark.timeout(60)


def test_the_queue_is_the_last_segment_of_the_url() -> None:
    assert split_queue_url("amqp://u:p@h:5672/%2F/loads") == ("amqp://u:p@h:5672/%2F", "/", "loads")
    assert split_queue_url("amqp://h/loads") == ("amqp://h/%2F", "/", "loads")
    assert split_queue_url("amqps://h/etl/a%2Fb") == ("amqps://h/etl", "etl", "a/b")


def _report(**changes: Any) -> BrokerReport:
    fields: dict[str, Any] = dict(
        queue="q", dead_queue="q.dead", ready=3, consumers=1, dead_lettered=0, unacknowledged=None
    )
    return BrokerReport(**{**fields, **changes})


def test_a_report_is_unhealthy_with_dead_letters_or_a_failed_producer() -> None:
    healthy = as_json("amqp://u:secret@h/q", _report())
    assert healthy["healthy"] and healthy["url"] == "amqp://h/q"  # no password shown
    assert "unknown" in render_broker(healthy)
    dead = as_json("amqp://h/q", _report(dead_lettered=2, unacknowledged=0))
    assert not dead["healthy"] and "2 message(s) dead-lettered in q.dead" in dead["problems"][0]
    failed = as_json("amqp://h/q", _report(failed=("host:1:x",)))
    assert failed["problems"] == ["producer host:1:x failed"]


def test_only_a_gone_producer_is_a_problem_and_the_conclusion_is_the_consumers() -> None:
    names = ("a:1:x", "b:2:y", "c:3:z")
    presence: dict[str, Presence] = {"a:1:x": "alive", "b:2:y": "gone", "c:3:z": "unknown"}
    report = _report(open=names, presence=presence)
    shown = as_json("amqp://h/q", report)
    assert shown["producers"]["gone"] == ["b:2:y"] and shown["producers"]["unknown"] == ["c:3:z"]
    assert [p for p in shown["problems"] if "gone" in p] == [shown["problems"][0]]
    assert "3 open (1 gone, 1 unknown)" in render_broker(shown)
    assert report.conclusion is None
    assert _report(closed=names, ready=0).conclusion is DONE
    assert _report(closed=names, ready=1).conclusion is None
    assert _report(failed=names[:1]).conclusion is FAILED


def test_presence_is_judged_by_the_broker_answer() -> None:
    locked = pika.exceptions.ChannelClosedByBroker(405, "RESOURCE_LOCKED")
    missing = pika.exceptions.ChannelClosedByBroker(404, "NOT_FOUND")
    assert [judge(1), judge(0), judge(missing), judge(locked)] == [
        "alive",
        "gone",
        "gone",
        "unknown",
    ]


def test_status_counts_ready_consumers_and_dead_letters(broker: Node, queue_name: str) -> None:
    url = f"{broker.url}/{queue_name}"
    producer = RabbitMQQueue(broker.url, queue_name)
    for n in range(3):
        producer.put(f"m{n}")
    done = persistq("status", url)
    assert done.returncode == 0, done.stderr
    assert "1 open (0 gone)" in done.stdout and "healthy" in done.stdout
    consumer = RabbitMQQueue(broker.url, queue_name)
    consumer.task_failed(consumer.get(timeout=10), "bad row")
    producer.fail()
    done = persistq("status", "--json", url)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    # m0 went to the dead-letter queue, m1 is held by the consumer (prefetch 1)
    assert (report["ready"], report["dead_lettered"], report["consumers"]) == (1, 1, 1)
    assert len(report["producers"]["failed"]) == 1
    assert report["unacknowledged"] is None  # this node has no management plugin
    consumer.dispose()


def test_purge_deletes_the_queue_and_its_companions(broker: Node, queue_name: str) -> None:
    url = f"{broker.url}/{queue_name}"
    RabbitMQQueue(broker.url, queue_name).put("old")
    refused = persistq("purge", url)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = persistq("purge", "--yes", url)
    assert done.returncode == 0, done.stderr
    assert f"{queue_name} (1 messages)" in done.stdout
    missing = persistq("status", url)
    assert missing.returncode == 2 and "no queue" in missing.stderr


def test_an_unreachable_broker_is_a_one_line_error() -> None:
    done = persistq("status", "amqp://guest:guest@127.0.0.1:1/%2F/q")
    assert done.returncode == 2
    assert "cannot connect" in done.stderr and "guest:guest" not in done.stderr


def test_prometheus_gauges_of_a_broker_queue_beside_a_folder(
    broker: Node, queue_name: str, tmp_path: Any
) -> None:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    url = f"{broker.url}/{queue_name}"
    producer = RabbitMQQueue(broker.url, queue_name)
    for n in range(2):
        producer.put(f"m{n}")
    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "a.tsv").write_text("x\n")
    done = persistq("status", "--prometheus", url, str(folder))
    assert done.returncode == 0, done.stderr
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
    }
    shown = as_json(url, _report())["url"]
    assert got[("persistq_broker_messages", (("path", shown), ("state", "ready")))] == 2
    assert got[("persistq_broker_producers", (("path", shown), ("state", "open")))] == 1
    assert got[("persistq_status_healthy", (("kind", "rabbitmq"), ("path", shown)))] == 1
    assert ("persistq_status_healthy", (("kind", "folder"), ("path", str(folder)))) in got
    producer.close()


def test_status_calls_a_producer_gone_only_when_the_library_does(
    broker: Node, queue_name: str
) -> None:
    """A producer whose presence queue the broker will not describe (405
    RESOURCE_LOCKED: its live connection holds it exclusively) may well live: the
    library's probe cannot tell and never fails it, so status must not call it gone."""
    topology = Topology(queue_name)
    consumer = RabbitMQQueue(broker.url, queue_name, producer_lease=0.5)
    assert consumer.qsize() == 0  # the queues are declared
    producer = "elsewhere:1:0123abcd"
    held = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        channel = held.channel()
        channel.queue_declare(topology.presence(producer), exclusive=True)
        channel.basic_consume(topology.presence(producer), lambda *_: None, auto_ack=True)
        channel.basic_publish("", topology.control, encode_control("helo", producer))
        with pytest.raises(queue.Empty):  # probed for 3 s, a lease of 0.5 s: not FAILED
            consumer.get(timeout=3)
        done = persistq("status", "--json", f"{broker.url}/{queue_name}")
    finally:
        held.close()
        consumer.dispose()
    report = json.loads(done.stdout)
    assert report["producers"]["open"] == [producer]
    assert report["producers"]["gone"] == []
    assert report["producers"]["unknown"] == [producer]
    assert done.returncode == 0, done.stdout


def test_status_skips_a_foreign_record_on_the_control_stream_as_consumers_do(
    broker: Node, queue_name: str
) -> None:
    producer = RabbitMQQueue(broker.url, queue_name)
    producer.put("m")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        connection.channel().basic_publish("", Topology(queue_name).control, b"not ours")
    finally:
        connection.close()
    producer.close()
    done = persistq("status", "--json", f"{broker.url}/{queue_name}")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["producers"]["closed"]) == 1
