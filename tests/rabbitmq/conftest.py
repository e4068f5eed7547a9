"""Broker fixtures: one throwaway node for the session, fresh ones for tests that kill
or reconfigure the broker. Without rabbitmq-server installed the tests skip."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from tools.rabbitmq_node import INSTALL_HINT, Node, installed

from persistq.rabbitmq import exits

_names = itertools.count()


def _node(**options: object) -> Iterator[Node]:
    if not installed():
        pytest.skip(INSTALL_HINT)
    node = Node(**options)  # type: ignore[arg-type]
    try:
        node.start()
        yield node
    finally:
        exits.close_all()  # queues a test left open stop before their broker does
        node.remove()


@pytest.fixture(scope="session")
def broker() -> Iterator[Node]:
    """A node shared by the session's tests (each test uses queues of its own)."""
    yield from _node()


@pytest.fixture
def own_broker() -> Iterator[Node]:
    """A node of this test's own, which it may SIGKILL and restart."""
    yield from _node()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A queue name no other test of the session uses."""
    return f"t{next(_names)}-{request.node.name[:60]}"


@pytest.fixture
def impatient_broker() -> Iterator[Node]:
    """A node of this test's own whose consumer_timeout is 1 s (checked every second)."""
    yield from _node(consumer_timeout_ms=1000)
