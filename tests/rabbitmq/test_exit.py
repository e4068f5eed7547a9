"""A queue never disposed does not outlive the interpreter: at exit its I/O thread
stops reconnecting, closes, and logs nothing more."""

from __future__ import annotations

import subprocess
import sys
import time

from tools.rabbitmq_node import Node, free_port

CHILD = """
import atexit, logging, sys, threading, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

def after_persistq_closed():  # registered first, so it runs after the library's hook
    print("EXITING", file=sys.stderr, flush=True)
    time.sleep(1.5)  # a slow interpreter shutdown: would-be reconnects log meanwhile
    alive = [t.name for t in threading.enumerate() if t.name.startswith("persistq-amqp")]
    print(f"ALIVE {alive}", file=sys.stderr, flush=True)

atexit.register(after_persistq_closed)
from persistq.rabbitmq import RabbitMQQueue
connected = RabbitMQQueue(sys.argv[1], "exit-test")
connected.put("never consumed")
unreachable = RabbitMQQueue(sys.argv[2], "exit-test", retry_seconds=0.5)
try:
    unreachable.put("nowhere")
except Exception as exc:
    print(type(exc).__name__, file=sys.stdout)
time.sleep(0.5)  # a reconnect or two
"""


def test_undisposed_queues_stop_their_threads_at_exit(broker: Node) -> None:
    nowhere = f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-c", CHILD, broker.url, nowhere],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "BrokerUnavailableError"
    _, marker, after = child.stderr.partition("EXITING\n")
    assert marker, child.stderr
    assert after == "ALIVE []\n"  # no thread left, nothing logged while exiting
    assert "Logging error" not in child.stderr and "Traceback" not in child.stderr
    assert elapsed < 15  # prompt: 0.8 s of work, 1.5 s of exit hook, start-up
