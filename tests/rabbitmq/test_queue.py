"""RabbitMQQueue against a real broker: messages, DONE/FAILED, failures, processes."""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
import time
from pathlib import Path
from typing import Any

import pika
import pytest
from tools.rabbitmq_node import Node

from persistq import DONE, FAILED, UpstreamFailureError
from persistq.errors import MessageFormatError
from persistq.rabbitmq import NotDeliveredError, QueueSettingsError, RabbitMQQueue
from tests.rabbitmq import workers
from tests.rabbitmq.helpers import drain_raw, ledger

pytestmark = pytest.mark.timeout(60)


def test_messages_round_trip_exactly(broker: Node, queue_name: str) -> None:
    texts = ["plain", "tab\there", "new\nline\r", "back\\slash\\t", "", "0", "ünï"]
    producer = RabbitMQQueue(broker.url, queue_name)
    for text in texts:
        producer.put(text)
    producer.close()
    consumer = RabbitMQQueue(broker.url, queue_name)
    got = []
    for message in consumer:
        got.append(message)
        consumer.task_done(message)
    assert got == texts


def test_typed_tuples_round_trip_with_formatters_and_converters(
    broker: Node, queue_name: str
) -> None:
    rows = [(1, 2.5, "a\tb"), (-7, 0.0, "")]
    options = {"formatter_list": [str, repr, str], "converter_list": [int, float, str]}
    producer = RabbitMQQueue(broker.url, queue_name, **options)  # type: ignore[arg-type]
    for row in rows:
        producer.put(row)
    with pytest.raises(MessageFormatError):
        producer.put((1.5, 1.0, "x"))  # int("1.5") cannot read it back: nothing is sent
    producer.close()
    consumer = RabbitMQQueue(broker.url, queue_name, prefetch=2, **options)  # type: ignore[arg-type]
    got = [consumer.get(timeout=10) for _ in rows]  # holds two at once: prefetch=2
    assert got == rows
    assert consumer.get(timeout=10) is DONE
    consumer.dispose()


def test_qsize_counts_ready_messages(broker: Node, queue_name: str) -> None:
    q = RabbitMQQueue(broker.url, queue_name, prefetch=1)
    assert q.qsize() == 0 and q.empty()
    for n in range(5):
        q.put(f"m{n}")
    assert q.qsize() == 5
    message = q.get(timeout=10)
    q.task_done(message)  # returns once the broker has the ack: it may send the next one
    assert q.qsize() in (3, 4)
    q.dispose()  # a message prefetched after the ack goes back
    counter = RabbitMQQueue(broker.url, queue_name)
    deadline = time.monotonic() + 10
    while counter.qsize() != 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counter.qsize() == 4
    counter.dispose()


def test_task_done_of_a_message_not_held_raises(broker: Node, queue_name: str) -> None:
    q = RabbitMQQueue(broker.url, queue_name)
    q.put("a")
    assert q.get(timeout=10) == "a"
    with pytest.raises(NotDeliveredError, match="holds no delivery"):
        q.task_done("b")
    q.task_done("a")
    with pytest.raises(NotDeliveredError):
        q.task_done("a")
    q.task_done(DONE)  # control messages need no acknowledgement
    q.dispose()


def test_task_failed_retries_then_dead_letters_with_every_reason(
    broker: Node, queue_name: str
) -> None:
    q = RabbitMQQueue(broker.url, queue_name, delivery_limit=2)
    q.put("poison")
    assert q.get(timeout=10) == "poison"
    assert q.task_failed("poison", "first: bad header") == queue_name
    assert q.get(timeout=10) == "poison"
    assert q.task_failed("poison", "second: still bad") == f"{queue_name}.dead"
    with pytest.raises(queue.Empty):
        q.get(timeout=0.5)
    q.dispose()
    [(body, headers)] = drain_raw(broker.url, f"{queue_name}.dead")
    assert body == b"poison"
    assert headers["x-persistq-reasons"] == ["first: bad header", "second: still bad"]
    assert headers["x-persistq-attempt"] == 2


def test_task_failed_without_a_limit_dead_letters_at_once(broker: Node, queue_name: str) -> None:
    q = RabbitMQQueue(broker.url, queue_name)
    q.put("x")
    assert q.task_failed(q.get(timeout=10), "no") == f"{queue_name}.dead"
    assert q.qsize() == 0
    q.dispose()


def test_the_broker_dead_letters_a_message_delivered_delivery_limit_times(
    broker: Node, queue_name: str
) -> None:
    RabbitMQQueue(broker.url, queue_name, delivery_limit=2).put("kills its consumer")
    deliveries = 0
    while True:  # each consumer disconnects without task_done, as a crashing one would
        consumer = RabbitMQQueue(broker.url, queue_name, delivery_limit=2)
        try:
            consumer.get(timeout=2)
        except queue.Empty:
            break
        finally:
            consumer.dispose()
        deliveries += 1
    assert deliveries == 3  # the first delivery and two returns (x-delivery-limit 2)
    [(body, headers)] = drain_raw(broker.url, f"{queue_name}.dead")
    assert body == b"kills its consumer"
    assert headers["x-death"][0]["reason"] == "delivery_limit"


def test_a_different_delivery_limit_on_the_same_queue_is_refused(
    broker: Node, queue_name: str
) -> None:
    RabbitMQQueue(broker.url, queue_name, delivery_limit=3).put("a")
    other = RabbitMQQueue(broker.url, queue_name, delivery_limit=5, retry_seconds=5)
    with pytest.raises(QueueSettingsError, match="delivery_limit"):
        other.put("b")


def test_done_reaches_every_consumer_and_late_joiners(broker: Node, queue_name: str) -> None:
    producers = [RabbitMQQueue(broker.url, queue_name) for _ in range(2)]
    outcomes: list[object] = []

    def consumer() -> None:
        q = RabbitMQQueue(broker.url, queue_name)
        while (message := q.get(timeout=30)) not in (DONE, FAILED):
            q.task_done(message)
        outcomes.append(message)
        q.dispose()

    threads = [threading.Thread(target=consumer) for _ in range(3)]
    for t in threads:
        t.start()
    for n, producer in enumerate(producers):
        producer.put(f"from {n}")
    producers[0].close()
    late = RabbitMQQueue(broker.url, queue_name)
    with pytest.raises(queue.Empty):
        late.get(timeout=1)  # the second producer is still open
    producers[1].close()
    for t in threads:
        t.join(30)
    assert outcomes == [DONE, DONE, DONE]
    assert late.get(timeout=10) is DONE
    late.dispose()
    assert RabbitMQQueue(broker.url, queue_name).get(timeout=10) is DONE  # joins after it all


def test_failed_reaches_every_consumer_and_late_joiners(
    broker: Node, queue_name: str, tmp_path: Path
) -> None:
    producer = RabbitMQQueue(broker.url, queue_name)
    producer.put("work")
    consumers = [
        threading.Thread(
            target=workers.consume,
            args=(RabbitMQQueue(broker.url, queue_name), str(tmp_path / "ledger"), 0.0),
        )
        for _ in range(3)
    ]
    for t in consumers:
        t.start()
    producer.fail()
    for t in consumers:
        t.join(30)
    _, outcomes = ledger(tmp_path / "ledger")
    assert outcomes == {"persistq.FAILED": 3}
    with pytest.raises(UpstreamFailureError, match="failed"):
        next(iter(RabbitMQQueue(broker.url, queue_name)))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_consumer_processes_split_the_work_exactly_once(
    broker: Node, queue_name: str, tmp_path: Path, method: str
) -> None:
    ctx: Any = multiprocessing.get_context(method)
    q = RabbitMQQueue(broker.url, queue_name, durability="stream")
    q.put("before the fork")  # the parent's connection must not leak into the children
    processes = [
        ctx.Process(target=workers.consume, args=(q, str(tmp_path / "ledger"), 0.001))
        for _ in range(3)
    ]
    for p in processes:
        p.start()
    messages = [f"m{n}" for n in range(300)]
    for message in messages:
        q.put(message)
    q.close()
    for p in processes:
        p.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    loads, outcomes = ledger(tmp_path / "ledger")
    assert loads == {m: 1 for m in ["before the fork", *messages]}
    assert outcomes == {"persistq.DONE": 3}
    pids = {line.split()[0] for line in (tmp_path / "ledger").read_text().splitlines()}
    assert len(pids) == 3  # prefetch=1 spreads the work over every consumer


def test_a_pickled_queue_keeps_its_settings_and_opens_its_own_connection(
    broker: Node, queue_name: str
) -> None:
    q = RabbitMQQueue(broker.url, queue_name, [str], [int], 4, prefetch=3, delivery_limit=2)
    q.put(1)
    copy = pickle.loads(pickle.dumps(q))
    assert (copy.number_of_workers, copy.prefetch, copy.delivery_limit) == (4, 3, 2)
    assert copy.get(timeout=10) == 1
    copy.task_done(1)
    copy.dispose()
    q.dispose()


def test_a_streaming_producer_has_every_message_confirmed_at_close(
    broker: Node, queue_name: str
) -> None:
    q = RabbitMQQueue(broker.url, queue_name, durability="stream")
    for n in range(3000):
        q.put(str(n))
    q.close()
    bodies = [body for body, _ in drain_raw(broker.url, queue_name)]
    assert bodies == [str(n).encode() for n in range(3000)]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="url"):
        RabbitMQQueue("http://localhost", "q")
    with pytest.raises(ValueError, match="prefetch"):
        RabbitMQQueue("amqp://localhost", "q", prefetch=0)
    with pytest.raises(ValueError, match="durability"):
        RabbitMQQueue("amqp://localhost", "q", durability="fsync")  # type: ignore[arg-type]


def test_an_unreachable_broker_raises_after_retry_seconds() -> None:
    q = RabbitMQQueue("amqp://guest:guest@127.0.0.1:1/%2F", "q", retry_seconds=0.5)
    with pytest.raises(Exception, match="no confirm from the broker in time"):
        q.put("x")
    q.dispose()


def test_raw_pika_sees_a_durable_quorum_queue(broker: Node, queue_name: str) -> None:
    RabbitMQQueue(broker.url, queue_name).put("x")
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        ok = connection.channel().queue_declare(
            queue_name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": f"{queue_name}.dead",
            },
        )
        assert ok.method.message_count == 1
    finally:
        connection.close()


def test_a_message_no_converter_can_read_is_dead_lettered_not_returned(
    broker: Node, queue_name: str
) -> None:
    q = RabbitMQQueue(broker.url, queue_name, [str], [int])
    q.put(1)  # declares the queues
    connection = pika.BlockingConnection(pika.URLParameters(broker.url))
    connection.channel().basic_publish("", queue_name, b"not a number")
    connection.close()
    q.put(2)
    assert q.get(timeout=10) == 1
    q.task_done(1)
    assert q.get(timeout=10) == 2  # the foreign message was skipped
    q.task_done(2)
    [(body, headers)] = drain_raw(broker.url, f"{queue_name}.dead")
    assert body == b"not a number"
    assert "cannot be read" in headers["x-persistq-reasons"][0]
    q.dispose()


def test_purging_control_messages_forgets_a_killed_producer(broker: Node, queue_name: str) -> None:
    killed = RabbitMQQueue(broker.url, queue_name)
    killed.put("left by a killed producer")  # its helo stays open: it never closes
    q = RabbitMQQueue(broker.url, queue_name)
    q.purge_control_messages()
    next_run = RabbitMQQueue(broker.url, queue_name)
    next_run.put("new")
    next_run.close()
    assert q.get(timeout=10) == "left by a killed producer"
    q.task_done("left by a killed producer")
    assert q.get(timeout=10) == "new"
    q.task_done("new")
    assert q.get(timeout=10) is DONE  # the killed producer no longer holds the run open
    q.dispose()
    killed.dispose()


def test_threads_that_put_at_once_are_one_producer(broker: Node, queue_name: str) -> None:
    q = RabbitMQQueue(broker.url, queue_name)
    threads = [threading.Thread(target=q.put, args=(f"m{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    q.close()  # closes the one producer every thread put as
    consumer = RabbitMQQueue(broker.url, queue_name, prefetch=8)
    got = {consumer.get(timeout=10) for _ in range(8)}
    assert got == {f"m{n}" for n in range(8)}
    assert consumer.get(timeout=10) is DONE
    consumer.dispose()


def test_a_get_beyond_the_prefetch_says_why_it_waits(
    broker: Node, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    q = RabbitMQQueue(broker.url, queue_name)
    q.put("a")
    q.put("b")
    assert q.get(timeout=10) == "a"
    with pytest.raises(queue.Empty):
        q.get(timeout=0.5)  # prefetch=1: "b" comes only after task_done("a")
    assert "holds 1 unacknowledged message(s), its prefetch" in caplog.text
    q.task_done("a")
    assert q.get(timeout=10) == "b"
    q.task_done("b")
    q.dispose()
