"""The RabbitMQ multi-host campaign: consumers on 3 namespaced hosts, one cut off
mid-message at a time, against a broker reached over veth pairs.

As a module (``python -m tools.faults.rabbitmq_hosts HOST URL QUEUE LEDGER WORK_S``) it
is one host's consumer: for each message it appends ``<time> got|finished HOST ITEM``
to LEDGER around ``WORK_S`` seconds of work, then the outcome of ``task_done``:
``acked`` (with its duration), ``lost-ack`` (DeliveryLostError; ``named`` if the error
names the message) or ``ack-error``. ``run_chain`` (in the root namespace) puts a
batch, waits for a random host to get a message, cuts that host off (its veth down),
waits for the message to reach another host (after the heartbeat timeout), restores
the link and waits for the cut host's late ``task_done``; then audits:

- **lost**: a confirmed item never finished;
- **completed twice**: an item finished on two hosts; allowed (and counted as late on
  a cut host) only where the cut host's ``task_done`` raised DeliveryLostError naming it;
  a second finish after an ``acked`` is a violation (a silent success);
- **reprocessed in flight**: deliveries after the first (the cut hosts' messages);
- a late ``task_done`` that hangs (over ``ACK_BOUND_S``), a cut whose message never
  reached another host, and anything left in the queue are violations.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from persistq.rabbitmq import BrokerError, DeliveryLostError, RabbitMQQueue
from tools.faults.common import ChainReport
from tools.netns_hosts import Host, Hosts
from tools.rabbitmq_node import Node

HOSTS = 3
BATCH = 12  # put before each cut
WORK_S = 0.3  # per message: the cut lands inside it
HEARTBEAT_S = 1  # in the URL: the broker takes a cut host's message back in ~2-3 s
ACK_BOUND_S = 30.0  # a late task_done must end (raise) within this
WAIT_S = 60.0


def consume(host: str, url: str, queue: str, ledger: str, work_s: str) -> None:
    """One host's consumer (see the module docstring)."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(*words: str) -> None:
        os.write(fd, (" ".join((f"{time.time():.3f}", *words)) + "\n").encode())

    q = RabbitMQQueue(url, queue, retry_seconds=ACK_BOUND_S)
    for item in q:
        note("got", host, item)
        time.sleep(float(work_s))
        note("finished", host, item)
        started = time.monotonic()
        try:
            q.task_done(item)
        except DeliveryLostError as exc:
            named = "named" if repr(item) in str(exc) else "unnamed"
            note("lost-ack", host, item, f"{time.monotonic() - started:.2f}", named)
        except BrokerError as exc:
            note("ack-error", host, item, f"{time.monotonic() - started:.2f}", type(exc).__name__)
            print(f"{host}: task_done({item!r}): {exc}", file=sys.stderr, flush=True)
        else:
            note("acked", host, item, f"{time.monotonic() - started:.2f}")


def _ledger(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split(" ") for line in path.read_text().splitlines()]


def _wait(condition: Callable[[], object], timeout: float = WAIT_S) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.01)
    return None


def _held(ledger: Path, host: str) -> str | None:
    """The item ``host`` got last and has not finished yet."""
    state: dict[str, str] = {}
    for _, kind, who, item, *_ in _ledger(ledger):
        if who == host:
            state[item] = kind
    held = [item for item, kind in state.items() if kind == "got"]
    return held[-1] if held else None


def _moved_on(ledger: Path, victim: str, item: str, cut_at: float) -> bool:
    """Whether another host got ``item`` since the cut, or ``victim``'s task_done of it
    returned before the cut (its ack reached the broker: nothing to redeliver)."""
    for t, kind, who, it, *_ in _ledger(ledger):
        if it == item and kind == "got" and who != victim and float(t) > cut_at:
            return True  # not a host that had it before (a message cut off earlier)
        if it == item and kind == "acked" and who == victim and float(t) < cut_at:
            return True
    return False


def _cut_once(hosts: Hosts, ledger: Path, rng: random.Random, report: ChainReport) -> None:
    victim: Host = rng.choice(hosts.hosts)
    item = _wait(lambda: _held(ledger, victim.netns))
    if not isinstance(item, str):
        report.violations.append(f"{victim.netns} got no message to be cut off in")
        return
    time.sleep(rng.uniform(0, WORK_S / 3))
    victim.cut()
    cut_at = time.time()
    report.kills += 1
    moved = _wait(lambda: _moved_on(ledger, victim.netns, item, cut_at))  # still cut off
    victim.restore()
    outcome = _wait(
        lambda: [
            rest
            for _, kind, who, it, *rest in _ledger(ledger)
            if who == victim.netns and it == item and kind in ("acked", "lost-ack", "ack-error")
        ]
    )
    lines = [line for line in _ledger(ledger) if line[3] == item and line[2] == victim.netns]
    finished_at = next((float(t) for t, kind, *_ in lines if kind == "finished"), 0.0)
    report.mid_work_kills += finished_at > cut_at
    if not moved:
        report.violations.append(f"{item}: held by cut-off {victim.netns}, never redelivered")
    if not outcome:
        report.violations.append(f"{item}: the cut-off host's task_done hung (> {WAIT_S} s)")


def run_chain(workdir: Path, rng: random.Random, cuts: int) -> ChainReport:
    """``cuts`` hosts cut off mid-message, one at a time; audited (module docstring)."""
    report = ChainReport(family="RabbitMQ, 3 hosts (netns)")
    ledger = workdir / "ledger.txt"
    queue = f"hosts-{uuid.uuid4().hex[:8]}"
    confirmed: list[str] = []
    with Hosts(HOSTS) as hosts:
        node = Node(host=hosts.gateway)
        node.start()
        url = f"{node.url}?heartbeat={HEARTBEAT_S}"
        producer = RabbitMQQueue(url, queue)
        try:
            _put(producer, confirmed, BATCH)
            args = (url, queue, str(ledger), str(WORK_S))
            consumers = [
                host.python("tools.faults.rabbitmq_hosts", host.netns, *args)
                for host in hosts.hosts
            ]
            report.runs = len(consumers)
            for _ in range(cuts):
                _cut_once(hosts, ledger, rng, report)
                _put(producer, confirmed, BATCH)
            _wait(lambda: _finished(ledger) >= set(confirmed))
            producer.close()
            for proc in consumers:
                if proc.wait(timeout=WAIT_S) != 0:
                    report.violations.append(f"a consumer exited with {proc.returncode}")
            check = RabbitMQQueue(node.url, queue)
            left = check.qsize()
            check.dispose()
            if left:
                report.violations.append(f"{left} message(s) left in {queue}")
        finally:
            producer.dispose()
            node.remove()
    _audit(report, confirmed, _ledger(ledger))
    return report


def _finished(ledger: Path) -> set[str]:
    return {line[3] for line in _ledger(ledger) if line[1] == "finished"}


def _put(producer: RabbitMQQueue, confirmed: list[str], n: int) -> None:
    for _ in range(n):
        item = f"item-{len(confirmed):05d}"
        producer.put(item)  # returns once the broker confirmed it
        confirmed.append(item)


def _audit(report: ChainReport, confirmed: list[str], lines: list[list[str]]) -> None:
    got: Counter[str] = Counter()
    outcomes: dict[str, list[list[str]]] = defaultdict(list)
    for _, kind, _host, item, *rest in lines:
        if kind == "got":
            got[item] += 1
        elif kind in ("acked", "lost-ack", "ack-error"):
            outcomes[item].append([kind, *rest])
    report.messages = len(confirmed)
    report.lost = sum(1 for item in confirmed if not outcomes[item])
    for item, results in outcomes.items():
        kinds = [r[0] for r in results]
        if len(results) > 1:
            report.completed_twice += 1
            if kinds.count("acked") > 1 or "ack-error" in kinds:
                report.violations.append(f"{item} completed twice without a lost ack: {kinds}")
            else:
                report.late_on_cut_hosts += 1
        for result in results:
            if result[0] == "lost-ack" and result[2:] != ["named"]:
                report.violations.append(f"{item}: DeliveryLostError did not name it")
            if float(result[1]) > ACK_BOUND_S:
                report.violations.append(f"{item}: task_done took {result[1]} s")
    report.reprocessed_in_flight = sum(got.values()) - len(got)
    unknown = set(got) - set(confirmed)
    if unknown:
        report.violations.append(f"deliveries of unknown items: {sorted(unknown)[:5]}")


if __name__ == "__main__":
    consume(*sys.argv[1:6])
