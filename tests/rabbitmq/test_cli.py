"""``persistq status`` and ``persistq purge`` on a broker queue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tools.rabbitmq_node import Node

from persistq.cli.broker import broker_report, render_broker, split_queue_url
from persistq.rabbitmq import RabbitMQQueue
from persistq.rabbitmq.control import ControlState
from tests.cli.helpers import persistq

pytestmark = pytest.mark.timeout(60)


def test_the_queue_is_the_last_segment_of_the_url() -> None:
    assert split_queue_url("amqp://u:p@h:5672/%2F/loads") == ("amqp://u:p@h:5672/%2F", "/", "loads")
    assert split_queue_url("amqp://h/loads") == ("amqp://h/%2F", "/", "loads")
    assert split_queue_url("amqps://h/etl/a%2Fb") == ("amqps://h/etl", "etl", "a/b")


def test_a_report_is_unhealthy_with_dead_letters_or_a_failed_producer() -> None:
    counts: dict[str, Any] = {
        "ready": 3,
        "consumers": 1,
        "dead_lettered": 0,
        "dead_queue": "q.dead",
    }
    healthy = broker_report("amqp://u:secret@h/q", counts, None, ControlState())
    assert healthy["healthy"] and healthy["url"] == "amqp://h/q"  # no password shown
    assert "unknown" in render_broker(healthy)
    dead = broker_report("amqp://h/q", {**counts, "dead_lettered": 2}, 0, ControlState())
    assert not dead["healthy"] and "2 message(s) dead-lettered in q.dead" in dead["problems"][0]
    failed = ControlState()
    failed.apply("failed", "host:1:x")
    assert broker_report("amqp://h/q", counts, 0, failed)["problems"] == [
        "producer host:1:x failed"
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
    shown = broker_report(
        url,
        {"ready": 0, "consumers": 0, "dead_lettered": 0, "dead_queue": ""},
        None,
        ControlState(),
    )["url"]
    assert got[("persistq_broker_messages", (("path", shown), ("state", "ready")))] == 2
    assert got[("persistq_broker_producers", (("path", shown), ("state", "open")))] == 1
    assert got[("persistq_status_healthy", (("kind", "rabbitmq"), ("path", shown)))] == 1
    assert ("persistq_status_healthy", (("kind", "folder"), ("path", str(folder)))) in got
    producer.close()
