"""The ``hosts`` campaign: one folder queue shared by 4 hosts made of namespaces
(:mod:`tools.hosts`), whole hosts killed or paused mid-work.

Each run starts a producer host and 3 consumer hosts of 2 consumers each (readers
with ``lease_seconds=LEASE``; the producer keeps a heartbeat too; see
:mod:`tools.faults.hosts_roles`), lets the work begin, then at a random moment:

- kills a consumer host (SIGKILL of its PID 1): the others must take its claims back,
  and only once its lease ran out;
- kills the producer host: unless it had closed, every reader on every host must get
  FAILED, and only after the lease;
- or pauses a consumer host (SIGSTOP of its whole namespace) past the lease, until the
  others took its claims back, then resumes it: its late ``task_done`` must find the
  claim gone and be refused (FileNotFoundError), never complete the file a second time.

Every host of a run has PIDs 1, 2, 3..., so consumers on different hosts share PIDs.
With ``same_name`` every host is called ``node`` (containers named alike): only the
realm in an owner's name (its PID namespace) then tells the hosts apart. The next run
goes on from what the faulty one left; a chain ends with a clean run, then the audit
(:mod:`tools.faults.hosts_audit`).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import attrs

from persistq.folder.names import parse_wip
from tools.faults.hosts_audit import PRODUCER, Fault, HostsReport, audit, read_ledger
from tools.faults.hosts_roles import CONSUMERS_PER_HOST, EXTENSION, PUT_SECONDS, WORK_SECONDS
from tools.hosts import Host, unavailable

__all__ = ["LEASE", "run_chain", "unavailable"]

LEASE = 2.0
"""The lease of every reader and producer of the campaign, in seconds."""
NEW_PER_RUN = 60
CONSUMER_HOSTS = ("h1", "h2", "h3")
STOP_TRIES = 5
AT_ANY_TIME = 0.2
"""How many faults land at any moment; the others once the target holds a claim."""
STARTUP_SECONDS = 0.8
"""About how long consumers take to start claiming (watchdog delays its first events)."""
PLANS = {"kill a consumer host": 6, "kill the producer host": 2, "pause a consumer host": 2}


class Chain:
    """The folders of one chain: source (this run's new files), queue, done, ledger."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.source, self.queue, self.done = (workdir / d for d in ("source", "queue", "done"))
        for directory in (self.source, self.queue, self.done):
            directory.mkdir()
        self.ledger = workdir / "ledger.txt"
        self.items: list[str] = []

    def arrive(self, count: int) -> int:
        """``count`` new files arrive in the source, as a daily feed's; return the backlog."""
        for n in range(len(self.items), len(self.items) + count):
            name = f"item_{n:05d}{EXTENSION}"
            (self.source / name).write_text(name)
            self.items.append(name)
        return len(os.listdir(self.source)) + len(self.messages())

    def messages(self) -> list[str]:
        """Messages and claims in the queue folder (markers and heartbeats are not work)."""
        return sorted(n for n in os.listdir(self.queue) if n.endswith((EXTENSION, ".wip")))

    def claims_of(self, host: Host, realm: str) -> tuple[str, ...]:
        """The wip names in the queue whose owner runs on ``host`` (of ``realm``). The
        kernel reuses PID namespace numbers, so a host killed earlier may have had the
        same realm: its processes started before this host's PID 1."""
        return tuple(
            name
            for name in sorted(os.listdir(self.queue))
            if (wip := parse_wip(name)) is not None
            and wip.owner.realm == realm
            and wip.owner.start >= host.started
        )


def run_chain(
    workdir: Path,
    rng: random.Random,
    kills: int,
    *,
    same_name: bool = False,
    plans: Sequence[str] | None = None,
    at_any_time: float = AT_ANY_TIME,
) -> HostsReport:
    """Faulty runs until ``kills`` hosts were killed (pauses come on top), then a
    clean run; audited. ``plans``: exactly these faults (keys of :data:`PLANS`) instead;
    ``at_any_time``: the share of faults that land at any moment."""
    family = "hosts, one host name" if same_name else "hosts, own names"
    report = HostsReport(family=family)
    chain = Chain(workdir)
    faults: list[Fault] = []
    todo = list(plans) if plans is not None else []
    while todo or (plans is None and report.kills < kills):
        plan = todo.pop(0) if todo else rng.choices(list(PLANS), list(PLANS.values()))[0]
        timing = Timing(rng, at_any_time)
        fault = _run(chain, f"run{report.runs}", timing, report, plan, same_name)
        if fault is not None:
            faults.append(fault)
    _run(chain, f"run{report.runs}", Timing(rng, 0.0), report, None, same_name)
    stranded = chain.messages() + sorted(os.listdir(chain.source))
    if stranded:
        report.violations.append(f"left in the queue after the clean run: {stranded[:5]}")
    audit(report, chain.items, read_ledger(chain.ledger), os.listdir(chain.done), faults, LEASE)
    return report


@attrs.frozen
class Timing:
    """When a run's fault lands: ``rng``'s random moments; ``at_any_time`` the share that
    land at any moment, the others once the target is at work."""

    rng: random.Random
    at_any_time: float

    def anytime(self) -> bool:
        """Whether this fault lands at any moment."""
        return self.rng.random() < self.at_any_time


def _run(
    chain: Chain,
    run: str,
    timing: Timing,
    report: HostsReport,
    plan: str | None,
    same_name: bool,
) -> Fault | None:
    """One run of the 4 hosts, with the fault of ``plan`` (None: a clean run)."""
    report.runs += 1
    backlog = chain.arrive(NEW_PER_RUN)
    hosts: dict[str, Host] = {}
    realms: dict[str, str] = {}
    errors: dict[str, IO[str]] = {}
    fault = None
    lease = str(LEASE)
    try:
        for label in (PRODUCER, *CONSUMER_HOSTS):
            errors[label] = open(chain.dir / f"{run}-{label}.stderr", "w")  # noqa: SIM115
            role = "producer" if label == PRODUCER else "consumers"
            files = chain.source if label == PRODUCER else chain.done
            paths = (str(chain.queue), str(files), str(chain.ledger))
            hosts[label] = Host(
                "node" if same_name else label,
                [sys.executable, "-m", "tools.faults.hosts_roles", role, run, label, *paths, lease],
                stdin=subprocess.PIPE if label == PRODUCER else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors[label],
            )
            if label == PRODUCER:
                realms[label] = _ready(hosts[label])  # first: it clears earlier markers
        for label in CONSUMER_HOSTS:
            realms[label] = _ready(hosts[label])
        stdin = hosts[PRODUCER].proc.stdin
        assert stdin is not None
        stdin.write("go\n")
        stdin.flush()
        if plan is not None:
            fault = _inject(plan, run, chain, hosts, realms, timing, backlog, report)
        for label, host in hosts.items():
            if fault is not None and fault.kind == "kill" and fault.label == label:
                continue
            if host.wait(timeout=120) != 0:
                tail = (chain.dir / f"{run}-{label}.stderr").read_text(errors="replace")
                report.violations.append(f"{run}: host {label} failed: " + tail[-300:])
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        report.violations.append(f"{run}: {exc}")
    finally:
        for host in hosts.values():
            host.__exit__()
        for err in errors.values():
            err.close()
    return fault


def _ready(host: Host) -> str:
    """Wait for ``host`` to say ``ready <realm>``; its realm."""
    assert host.proc.stdout is not None
    words = host.proc.stdout.readline().split()
    if len(words) != 2 or words[0] != "ready":
        raise RuntimeError(f"host {host.name} did not start")
    _ = host.namespace  # found while it surely runs
    return words[1]


def _inject(
    plan: str,
    run: str,
    chain: Chain,
    hosts: dict[str, Host],
    realms: dict[str, str],
    timing: Timing,
    backlog: int,
    report: HostsReport,
) -> Fault | None:
    """Wait a random moment of the work, then kill or pause a host as ``plan`` says;
    None if the host had ended by then."""
    rng, anytime = timing.rng, timing.anytime()
    consumers = len(CONSUMER_HOSTS) * CONSUMERS_PER_HOST
    work = max(backlog * PUT_SECONDS, backlog * WORK_SECONDS / consumers)
    if plan == "kill the producer host":
        if anytime or not _waits_for(lambda: bool(chain.messages())):
            time.sleep(rng.uniform(0, STARTUP_SECONDS + work))
        else:
            time.sleep(rng.uniform(0, backlog * PUT_SECONDS / 2))  # while it puts
        at = time.time()
        if not hosts[PRODUCER].kill():
            return None  # it had ended: nothing was killed
        closed = any(name.endswith(".done") for name in os.listdir(chain.queue))
        report.kills += 1
        report.mid_work_kills += not closed
        return Fault(run, "kill", PRODUCER, at, closed=closed)
    label = rng.choice(CONSUMER_HOSTS)
    host, realm = hosts[label], realms[label]
    claims: tuple[str, ...] = ()
    if anytime or not _waits_for(lambda: bool(chain.claims_of(host, realm))):
        time.sleep(rng.uniform(0, STARTUP_SECONDS + work))
        at = time.time()
    else:
        time.sleep(rng.uniform(0, LEASE / 3))  # any phase of its heartbeat
        at, claims = _stop_holding_claims(chain, host, realm)
    if plan == "kill a consumer host":
        if not host.kill():
            return None
        claims = chain.claims_of(host, realm)
        report.kills += 1
        report.mid_work_kills += bool(claims)
        return Fault(run, "kill", label, at, claims=claims)
    if not claims and not host.pause():
        return None
    claims = chain.claims_of(host, realm)
    report.pauses += 1
    deadline = at + 6 * LEASE
    while time.time() < at + 1.5 * LEASE or (
        any((chain.queue / wip).exists() for wip in claims) and time.time() < deadline
    ):
        time.sleep(0.02)  # past the lease, until the others took its claims back
    host.resume()
    return Fault(run, "pause", label, at, claims=claims)


Claims = tuple[str, ...]


def _stop_holding_claims(chain: Chain, host: Host, realm: str) -> tuple[float, Claims]:
    """SIGSTOP ``host`` at a moment it holds claims (trying again a few times if it
    stopped between two); when it was stopped and the claims it holds."""
    claims: Claims
    at, claims = time.time(), ()
    for _ in range(STOP_TRIES):
        at = time.time()
        if not host.pause():
            break
        claims = chain.claims_of(host, realm)
        if claims:
            break
        host.resume()
        _waits_for(lambda: bool(chain.claims_of(host, realm)))
    return at, claims


def _waits_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait until ``condition()``; whether it came true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True
