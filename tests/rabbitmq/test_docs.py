"""The two-host example of docs/rabbitmq.md, run as written against a real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tools.rabbitmq_node import Node

from tests.docs.test_examples import REPO, examples

pytestmark = pytest.mark.timeout(90)


def test_the_two_host_example_splits_the_files_and_late_consumers_stop(
    broker: Node, tmp_path: Path
) -> None:
    [example] = [e for e in examples(REPO / "docs" / "rabbitmq.md") if e.not_run]
    script = tmp_path / "etl.py"
    script.write_text(example.code)
    env = {**os.environ, "AMQP_URL": broker.url}

    def start(role: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(script), role], env=env, stdout=subprocess.PIPE, text=True
        )

    consumers = [start("consume"), start("consume")]
    producer = start("produce")
    assert producer.wait(timeout=60) == 0
    outputs = [c.communicate(timeout=60)[0] for c in consumers]
    assert [c.returncode for c in consumers] == [0, 0]
    loads = Counter(line for out in outputs for line in out.splitlines())
    assert loads == {f"loading /data/in/part-{n:03d}.csv ({n * 1000} rows)": 1 for n in range(10)}
    late = start("consume")
    assert late.communicate(timeout=30)[0] == ""  # DONE at once, nothing to load
    assert late.returncode == 0
