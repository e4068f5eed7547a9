"""Small helpers of the broker tests: raw reads of a queue, ledgers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pika


def drain_raw(url: str, queue: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Take every ready message of ``queue`` (body, headers), with plain pika."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        out: list[tuple[bytes, dict[str, Any]]] = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((body, properties.headers or {}))
    finally:
        connection.close()


def ledger(path: Path) -> tuple[Counter[str], Counter[str]]:
    """(how often each message was loaded, outcomes DONE/FAILED per process)."""
    loads: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            _, message = line.split(" ", 1)
            if message in ("persistq.DONE", "persistq.FAILED"):
                outcomes[message] += 1
            else:
                loads[message] += 1
    return loads, outcomes
