"""Consumers on 3 hosts (network namespaces reaching the broker over veth pairs); one
host cut off mid-message at a time (tools/faults/rabbitmq_hosts.py does the work)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from tools import netns_hosts
from tools.faults import rabbitmq_hosts
from tools.rabbitmq_node import INSTALL_HINT, installed


def _namespaces() -> set[str]:
    listed = subprocess.run([netns_hosts.IP, "netns", "list"], capture_output=True, text=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


@pytest.fixture
def hosts_possible() -> None:
    if not installed():
        pytest.skip(INSTALL_HINT)
    reason = netns_hosts.unavailable()
    if reason is not None:
        pytest.skip(f"namespaced hosts: {reason}")


@pytest.mark.usefixtures("hosts_possible")
def test_a_host_cut_off_mid_message_loses_nothing_and_is_told(tmp_path: Path) -> None:
    before = _namespaces()
    report = rabbitmq_hosts.run_chain(tmp_path, random.Random(15), cuts=2)
    assert report.violations == []
    assert report.kills == 2 and report.mid_work_kills == 2  # each cut held a message
    assert report.lost == 0
    # each held message went to another host, and the cut host's late task_done raised
    # DeliveryLostError naming it (a silent success would be a violation above)
    assert report.completed_twice == report.late_on_cut_hosts == 2
    assert report.ok
    assert _namespaces() - before == set()  # its hosts are gone (others' may come and go)


@pytest.mark.usefixtures("hosts_possible")
def test_the_hosts_are_removed_when_the_test_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), netns_hosts.Hosts(2) as hosts:
        assert {h.netns for h in hosts.hosts} <= _namespaces()
        raise RuntimeError("boom")
    assert {h.netns for h in hosts.hosts} & _namespaces() == set()
    links = subprocess.run([netns_hosts.IP, "link"], capture_output=True, text=True).stdout
    assert hosts.bridge not in links
