"""RabbitMQ benchmark (issue 13): RabbitMQQueue against raw pika with the same guarantees.

Run ``.venv/bin/python benchmarks/rabbitmq_bench.py`` (it starts a throwaway broker
node of its own; ``--url`` uses a running one) or add ``--quick``. Prints Markdown
tables, every row measured in this run against the same broker:

* 1 producer + 2 consumer processes, end to end: raw pika (persistent messages, one
  publisher confirm per message, manual acks, prefetch 1) and ``RabbitMQQueue`` with
  ``durability="confirm"`` (the same guarantees); goal: at least 0.8x raw pika;
* puts per second of one ``RabbitMQQueue`` shared by 1 and by 8 producer threads, each
  put waiting for its confirm (concurrent puts share confirms); goal: 8 threads at
  least 5x one thread;
* raw pika with 8 confirms in flight (asynchronous, one thread): what the broker gives
  8 concurrent confirmed puts at best;
* puts per second of each durability choice (``"confirm"``, and ``"stream"`` up to its
  ``flush()``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika

from persistq.rabbitmq import RabbitMQQueue

CTX = multiprocessing.get_context("fork")
REPO = Path(__file__).resolve().parents[1]
STOP = b"\x00stop"


def raw_produce(url: str, queue: str, n: int, consumers: int) -> None:
    """Raw pika: each publish persistent and confirmed before the next one."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    properties = pika.BasicProperties(delivery_mode=2)
    for i in range(n):
        channel.basic_publish("", queue, f"m{i}".encode(), properties)
    for _ in range(consumers):
        channel.basic_publish("", queue, STOP, properties)
    connection.close()


def raw_consume(url: str, queue: str) -> None:
    """Raw pika: prefetch 1, manual acks, until the stop message."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)
    for method, _, body in channel.consume(queue):
        channel.basic_ack(method.delivery_tag)
        if body == STOP:
            break
    connection.close()


def queue_produce(url: str, queue: str, n: int, consumers: int) -> None:
    """RabbitMQQueue: each put confirmed; close() sends DONE to every consumer."""
    q = RabbitMQQueue(url, queue)
    for i in range(n):
        q.put(f"m{i}")
    q.close()


def queue_consume(url: str, queue: str) -> None:
    """RabbitMQQueue: iterate until DONE, task_done each message."""
    q = RabbitMQQueue(url, queue)
    for message in q:
        q.task_done(message)


def declare_raw(url: str, queue: str) -> None:
    """The quorum queue raw pika uses (the arguments RabbitMQQueue declares)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    connection.close()


def pipeline(
    url: str, n: int, produce: Callable[..., None], consume: Callable[..., None], queue: str
) -> float:
    """Messages per second from the first put to the last consumer finishing."""
    consumers = [CTX.Process(target=consume, args=(url, queue)) for _ in range(2)]
    for c in consumers:
        c.start()
    time.sleep(0.5)  # the consumers are connected before the clock starts
    started = time.perf_counter()
    producer = CTX.Process(target=produce, args=(url, queue, n, len(consumers)))
    producer.start()
    for p in [producer, *consumers]:
        p.join(300)
    return n / (time.perf_counter() - started)


def threaded_puts(url: str, threads: int, per_thread: int, durability: Any) -> float:
    """Puts per second of ``threads`` threads sharing one RabbitMQQueue."""
    q = RabbitMQQueue(url, f"bench-puts-{uuid.uuid4().hex[:6]}", durability=durability)
    q.put("warm-up")

    def work() -> None:
        for i in range(per_thread):
            q.put(f"m{i}")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    q.flush()
    rate = threads * per_thread / (time.perf_counter() - started)
    q.dispose()
    return rate


def raw_window(url: str, window: int, total: int) -> float:
    """Raw pika on one thread, asynchronous confirms with ``window`` publishes in flight:
    what the broker gives ``window`` concurrent confirmed puts at best."""
    queue = f"bench-window-{uuid.uuid4().hex[:6]}"
    declare_raw(url, queue)
    state = {"sent": 0, "acked": 0, "started": 0.0, "ended": 0.0}
    properties = pika.BasicProperties(delivery_mode=2)
    channels: list[Any] = []

    def send_more() -> None:
        while state["sent"] < total and state["sent"] - state["acked"] < window:
            state["sent"] += 1
            channels[0].basic_publish("", queue, b"m", properties)

    def on_confirm(frame: Any) -> None:
        method = frame.method
        state["acked"] = method.delivery_tag if method.multiple else state["acked"] + 1
        send_more()
        if state["acked"] >= total:
            state["ended"] = time.perf_counter()
            connection.close()

    def on_channel(channel: Any) -> None:
        channels.append(channel)
        state["started"] = time.perf_counter()
        channel.confirm_delivery(on_confirm, callback=lambda _frame: send_more())

    connection = pika.SelectConnection(
        pika.URLParameters(url),
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_close_callback=lambda c, _e: c.ioloop.stop(),
    )
    connection.ioloop.start()
    return total / (state["ended"] - state["started"])


def run(url: str, quick: bool) -> None:
    n = 1000 if quick else 5000
    name = f"bench-{uuid.uuid4().hex[:6]}"
    declare_raw(url, f"{name}-raw")
    raw = pipeline(url, n, raw_produce, raw_consume, f"{name}-raw")
    ours = pipeline(url, n, queue_produce, queue_consume, f"{name}-persistq")
    print("| 1 producer + 2 consumer processes | msgs/s | vs raw pika |")
    print("|---|---:|---:|")
    print(f"| raw pika (confirm each, manual ack, prefetch 1) | {raw:,.0f} | 1.00x |")
    print(f"| RabbitMQQueue (durability='confirm', prefetch 1) | {ours:,.0f} | {ours / raw:.2f}x |")
    per = 300 if quick else 1500
    one = threaded_puts(url, 1, per, "confirm")
    eight = threaded_puts(url, 8, per, "confirm")
    stream = threaded_puts(url, 1, per * 8, "stream")
    print()
    print("| puts (RabbitMQQueue) | msgs/s | vs 1 thread |")
    print("|---|---:|---:|")
    ceiling = raw_window(url, 8, per * 8)
    rows = [
        ("durability='confirm', 1 thread", one),
        ("durability='confirm', 8 threads (shared confirms)", eight),
        ("raw pika, 8 confirms in flight on one thread (the broker's ceiling)", ceiling),
        ("durability='stream', 1 thread, until flush()", stream),
    ]
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} | {rate / one:.2f}x |")
    print()
    command = "python benchmarks/rabbitmq_bench.py" + (" --quick" if quick else "")
    print(f"`{command}`: {n} messages end to end, {per} puts per thread")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running broker (default: start a throwaway node)")
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    args = parser.parse_args()
    if args.url:
        run(args.url, args.quick)
        return 0
    sys.path.insert(0, str(REPO))
    from tools.rabbitmq_node import INSTALL_HINT, Node, installed  # noqa: PLC0415

    if not installed():
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    node = Node()
    node.start()
    try:
        run(node.url, args.quick)
    finally:
        node.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
