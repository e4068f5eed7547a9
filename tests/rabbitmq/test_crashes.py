"""Crashes around RabbitMQQueue: consumers, producers and the broker really SIGKILLed."""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from tools.rabbitmq_node import Node

from persistq import UpstreamFailureError
from persistq.rabbitmq import ConsumerTimeoutError, DeliveryLostError, RabbitMQQueue
from persistq.rabbitmq.report import inspect
from tests.cli.helpers import persistq
from tests.rabbitmq.helpers import drain_raw

pytestmark = pytest.mark.timeout(90)
REPO = Path(__file__).resolve().parents[2]


def worker(*args: str, stdout: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.rabbitmq.workers", *args],
        cwd=REPO,
        text=True,
        stdout=stdout,
    )


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.02)


def test_a_consumer_killed_mid_message_gives_it_to_another(
    broker: Node, queue_name: str, tmp_path: Path
) -> None:
    RabbitMQQueue(broker.url, queue_name).put("load me")
    flag = tmp_path / "got"
    proc = worker("hold_one", broker.url, queue_name, str(flag))
    other = RabbitMQQueue(broker.url, queue_name)
    try:
        wait_for(flag)
        with pytest.raises(queue.Empty):
            other.get(timeout=0.5)  # a live consumer keeps its message
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert other.get(timeout=10) == "load me"  # redelivered
        other.task_done("load me")
        with pytest.raises(queue.Empty):
            other.get(timeout=0.5)
        assert other.qsize() == 0  # completed once, and gone
    finally:
        other.dispose()


def test_a_producer_killed_mid_stream_leaves_every_confirmed_put(
    broker: Node, queue_name: str
) -> None:
    proc = worker("produce_forever", broker.url, queue_name, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    confirmed: list[int] = []
    while len(confirmed) < 300:
        confirmed.append(int(proc.stdout.readline()))
    os.kill(proc.pid, signal.SIGKILL)
    confirmed += [int(line) for line in proc.stdout.read().split()]
    proc.wait(timeout=10)
    bodies = [body for body, _ in drain_raw(broker.url, queue_name)]
    assert set(bodies) >= {f"m{n}".encode() for n in confirmed}
    assert len(bodies) <= len(confirmed) + 1  # at most the put in flight at the kill


def test_a_sigkilled_broker_loses_nothing_confirmed_and_clients_reconnect(
    own_broker: Node, queue_name: str
) -> None:
    url = own_broker.url
    RabbitMQQueue(url, queue_name).dispose()
    setup = RabbitMQQueue(url, queue_name)
    setup.put("first")
    setup.close()
    time.sleep(1.5)  # a quorum queue younger than ~1 s may not survive a SIGKILL
    messages = [f"m{n}" for n in range(300)]
    confirmed: list[str] = []
    completed: Counter[str] = Counter()

    def produce() -> None:
        q = RabbitMQQueue(url, queue_name)
        for message in messages:
            q.put(message)
            confirmed.append(message)
            time.sleep(0.005)
        q.close()

    streamed = [f"s{n}" for n in range(300)]

    def stream() -> None:
        q = RabbitMQQueue(url, queue_name, durability="stream")
        for message in streamed:
            q.put(message)
            time.sleep(0.005)
        q.close()  # waits for every confirm, across the restart

    lost_acks: list[str] = []

    def consume() -> None:
        q = RabbitMQQueue(url, queue_name)
        for message in q:
            completed[message] += 1
            try:
                q.task_done(message)
            except DeliveryLostError as exc:  # in flight at the kill: it comes again
                assert repr(message) in str(exc)
                lost_acks.append(message)

    threads = [threading.Thread(target=f) for f in (produce, stream, consume)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(confirmed) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    own_broker.kill()
    at_kill = len(confirmed)
    time.sleep(0.5)
    own_broker.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert 100 <= at_kill < len(messages)  # the kill landed mid-run
    assert confirmed == messages  # the producer went on by itself
    assert set(completed) == {"first", *messages, *streamed}  # nothing confirmed was lost
    again = sum(n - 1 for message, n in completed.items() if message.startswith("m"))
    assert again <= 5  # in-flight redeliveries only
    assert len(lost_acks) <= 2  # at most the one message held at the kill (and "first")


def test_work_longer_than_three_heartbeats_keeps_its_message(
    broker: Node, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    q = RabbitMQQueue(broker.url + "?heartbeat=1", queue_name)
    q.put("two-hour load")
    message = q.get(timeout=10)
    thief = RabbitMQQueue(broker.url, queue_name)
    end = time.monotonic() + 4.5
    while time.monotonic() < end:  # the caller's thread busy, as a long load would keep it
        sum(range(10_000))
    with pytest.raises(queue.Empty):
        thief.get(timeout=1)  # had the connection dropped, the message would be here
    with caplog.at_level(logging.WARNING, logger="persistq"):
        q.task_done(message)
    assert not [r for r in caplog.records if r.name.startswith("persistq")]
    assert q.qsize() == 0
    q.dispose()
    thief.dispose()


def test_task_done_after_the_consumer_timeout_says_what_happened(
    impatient_broker: Node, queue_name: str
) -> None:
    q = RabbitMQQueue(impatient_broker.url, queue_name)
    q.put("slow")
    message = q.get(timeout=10)
    time.sleep(3.5)  # consumer_timeout is 1 s, checked every second
    with pytest.raises(ConsumerTimeoutError, match=r"went back to the queue.*consumer_timeout"):
        q.task_done(message)
    assert q.get(timeout=10) == "slow"  # delivered again
    q.task_done("slow")
    q.dispose()


def test_a_producer_killed_without_close_fails_its_consumers_after_the_lease(
    broker: Node, queue_name: str
) -> None:
    proc = worker("produce_forever", broker.url, queue_name, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    for _ in range(20):
        proc.stdout.readline()
    q = RabbitMQQueue(broker.url, queue_name, producer_lease=1.0, prefetch=50)
    assert q.get(timeout=10) == "m0"  # an idle or busy producer that lives is no failure
    alive = inspect(broker.url, queue_name)
    assert alive.producers_that("alive") == list(alive.open) and len(alive.open) == 1
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    started = time.monotonic()
    got = ["m0"]
    with pytest.raises(UpstreamFailureError, match="FAILED from"):
        for message in q:
            got.append(message)
    assert time.monotonic() - started < 15
    assert got[:20] == [f"m{n}" for n in range(20)]  # FAILED only once the lease ran out
    assert inspect(broker.url, queue_name).producers_that("gone") == list(alive.open)
    shown = persistq("status", "--json", f"{broker.url}/{queue_name}")
    assert shown.returncode == 1 and json.loads(shown.stdout)["producers"]["gone"] == list(
        alive.open
    )


def test_task_done_after_the_connection_is_lost_raises_naming_the_message(
    own_broker: Node, queue_name: str
) -> None:
    q = RabbitMQQueue(own_broker.url, queue_name)
    q.put("load me")
    time.sleep(1.5)  # a quorum queue younger than ~1 s may not survive a SIGKILL
    message = q.get(timeout=10)
    own_broker.kill()  # the broker gives back what an acknowledgement did not reach
    with pytest.raises(DeliveryLostError, match=r"task_done\('load me'\): not acknowledged"):
        q.task_done(message)
    own_broker.start()
    assert q.get(timeout=30) == "load me"  # delivered again
    q.task_done("load me")
    q.dispose()
