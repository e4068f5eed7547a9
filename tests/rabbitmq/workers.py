"""Processes the broker tests start (importable, so that spawn can run them too)."""

from __future__ import annotations

import os
import sys
import time

from persistq import DONE, FAILED, UpstreamFailureError
from persistq.rabbitmq import RabbitMQQueue


def consume(q: RabbitMQQueue, ledger: str, seconds_per_message: float = 0.0) -> None:
    """Work through ``q`` until DONE: append ``<pid> <message>`` to ``ledger`` before each
    task_done, then the outcome (``<pid> DONE`` or ``<pid> FAILED``)."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for message in q:
            time.sleep(seconds_per_message)
            os.write(fd, f"{os.getpid()} {message}\n".encode())
            q.task_done(message)
        os.write(fd, f"{os.getpid()} {DONE}\n".encode())
    except UpstreamFailureError:
        os.write(fd, f"{os.getpid()} {FAILED}\n".encode())
    finally:
        os.close(fd)


def hold_one(url: str, queue_name: str, flag: str) -> None:
    """Get one message, say so in file ``flag``, then hang (to be SIGKILLed)."""
    q = RabbitMQQueue(url, queue_name)
    message = q.get(timeout=30)
    with open(flag, "w") as f:
        f.write(str(message))
    time.sleep(600)


def produce_forever(url: str, queue_name: str) -> None:
    """Put m0, m1, ... printing each index once put returned (to be SIGKILLed)."""
    q = RabbitMQQueue(url, queue_name)
    n = 0
    while True:
        q.put(f"m{n}")
        print(n, flush=True)
        n += 1


if __name__ == "__main__":
    if sys.argv[1] == "hold_one":
        hold_one(*sys.argv[2:5])
    else:
        produce_forever(*sys.argv[2:4])
