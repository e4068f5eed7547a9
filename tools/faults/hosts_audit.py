"""The audit of the ``hosts`` campaign: what the ledger, the done folder and the faults
injected say about every promise across hosts. Pure: no processes, no clock."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import attrs

from persistq.folder.names import parse_wip
from tools.faults.common import ChainReport

SLACK_SECONDS = 0.05
"""How much earlier than the lease allows a take-back may be seen (file times come from
the kernel's coarse clock, a few ms behind ``time.time()``)."""
PRODUCER = "p"
_AGAIN = re.compile(r"\.again[0-9]+(?=\.[^.]*$)")


@attrs.define
class HostsReport(ChainReport):
    """A chain of the ``hosts`` campaign, with what only several hosts can show."""

    pauses: int = 0
    late_finishes: int = 0
    """task_done calls of paused hosts that found their claim taken back (refused)."""
    taken_back: int = 0
    lost_before_get: int = 0
    """Claims taken from a host stopped inside ``get()``, between the rename that claimed
    the file and ``get`` returning it: the host finds the file gone and never works on it."""
    seen_dead: int = 0
    """Take-backs without waiting for the lease: a later host got the dead one's PID
    namespace number (the kernel reuses them), so its readers saw the owner was dead."""
    pid_collisions: int = 0
    """PIDs that consumers on two hosts of one run had at once."""
    takeback_after: list[float] = attrs.field(factory=list)
    """Seconds from each fault to each take-back of the faulted host's claims."""
    failed_after: list[float] = attrs.field(factory=list)
    """Seconds from a producer host's death to each reader's FAILED."""


@attrs.frozen
class Fault:
    """One fault injected into a run: ``kind`` is "kill" or "pause"; ``at`` just before
    the signals; ``claims``: the host's wip names once it was dead or stopped."""

    run: str
    kind: str
    label: str
    at: float
    claims: tuple[str, ...] = ()
    closed: bool = False
    """For the producer host: it had closed before the kill."""


@attrs.frozen
class Entry:
    """A ledger line (see :mod:`tools.faults.hosts_roles`)."""

    kind: str
    run: str
    label: str
    rest: tuple[str, ...]

    @classmethod
    def parse(cls, line: str) -> Entry:
        """The entry written as ``line``."""
        kind, run, label, *rest = line.split()
        return cls(kind, run, label, tuple(rest))


def read_ledger(path: Path) -> list[Entry]:
    """Every entry of the ledger at ``path``."""
    if not path.exists():
        return []
    return [Entry.parse(line) for line in path.read_text().splitlines() if line.strip()]


def audit(
    report: HostsReport,
    items: list[str],
    entries: list[Entry],
    done_names: list[str],
    faults: list[Fault],
    lease: float,
) -> None:
    """Fill ``report`` from the chain's ledger ``entries``, the names in the done folder
    and the ``faults``; every broken promise becomes a violation."""
    completed = Counter(_AGAIN.sub("", name) for name in done_names)
    report.messages = len(items)
    report.lost = sum(1 for item in items if completed[item] == 0)
    report.completed_twice = sum(1 for item in items if completed[item] > 1)
    of_kind: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        of_kind[entry.kind].append(entry)
    loads = Counter(e.rest[1] for e in of_kind["load"])
    report.reprocessed_in_flight = sum(max(loads[item] - 1, 0) for item in items)
    dones = Counter(e.rest[1] for e in of_kind["done"])
    report.violations += [f"task_done of {i} returned {n} times" for i, n in dones.items() if n > 1]
    owners = {e.rest[0]: (e.run, e.label) for e in of_kind["worker"]}
    realms = {(e.run, e.label): e.rest[1] for e in of_kind["worker"]}
    report.pid_collisions = _collisions(owners)
    by_host = {(f.run, f.label): f for f in faults}
    threshold = lease * 2 / 3 - SLACK_SECONDS
    _late_finishes(report, of_kind["lost"], by_host)
    taken = _take_backs(report, of_kind["takeback"], owners, realms, by_host, threshold)
    refused = {(e.run, e.label, e.rest[1]) for e in of_kind["lost"]}
    loaded = {(e.run, e.label, e.rest[1]) for e in of_kind["load"]}
    finished = {(e.run, e.label, e.rest[1]) for e in of_kind["done"]}
    for fault in faults:
        for wip in fault.claims:
            key = (fault.run, fault.label, _item(wip))
            if fault.kind == "kill" and wip not in taken:
                report.violations.append(f"{wip} of killed host {fault.label} never taken back")
            elif fault.kind == "pause" and wip in taken and key in finished:
                report.violations.append(f"{wip} was taken back, yet its host completed it")
            elif fault.kind == "pause" and wip in taken and key not in loaded:
                report.lost_before_get += 1  # stopped inside get(): it never had the work
            elif fault.kind == "pause" and wip in taken and key not in refused:
                report.violations.append(f"{wip} was taken back; its late task_done went unseen")
            elif fault.kind == "pause" and wip not in taken and key not in finished:
                report.violations.append(f"{wip} was not taken back, nor finished by its host")
    _failures(report, of_kind["failed"], of_kind["worker"], faults, threshold)


def _item(wip: str) -> str:
    parsed = parse_wip(wip)
    return parsed.original if parsed is not None else wip


def _collisions(owners: dict[str, tuple[str, str]]) -> int:
    hosts_of: dict[tuple[str, int], set[str]] = defaultdict(set)
    for token, (run, label) in owners.items():
        hosts_of[(run, int(token.split("@")[1]))].add(label)
    return sum(1 for labels in hosts_of.values() if len(labels) > 1)


def _late_finishes(
    report: HostsReport, lost: list[Entry], by_host: dict[tuple[str, str], Fault]
) -> None:
    for entry in lost:
        fault = by_host.get((entry.run, entry.label))
        if fault is None or fault.kind != "pause":
            report.violations.append(
                f"{entry.label} in {entry.run} lost its claim of {entry.rest[1]} while it ran"
            )
        else:
            report.late_finishes += 1


def _take_backs(
    report: HostsReport,
    takebacks: list[Entry],
    owners: dict[str, tuple[str, str]],
    realms: dict[tuple[str, str], str],
    by_host: dict[tuple[str, str], Fault],
    threshold: float,
) -> set[str]:
    """Check each take-back: of a killed or paused host's claim, after its lease; or, by a
    reader in the owner's own realm (a PID namespace number used again by a later
    host), of a dead owner, which that reader sees is dead by PID and start time."""
    taken = set()
    for entry in takebacks:
        when, wip = float(entry.rest[0]), entry.rest[1]
        parsed = parse_wip(wip)
        owner = owners.get(parsed.owner.token) if parsed is not None else None
        fault = by_host.get(owner) if owner is not None else None
        if fault is None or parsed is None:
            report.violations.append(f"{entry.label} in {entry.run} took back live {wip}")
            continue
        seen_dead = realms.get((entry.run, entry.label)) == parsed.owner.realm
        taken.add(wip)
        if seen_dead and fault.kind == "kill" and when > fault.at:
            report.seen_dead += 1
            continue
        if when - fault.at < threshold:
            report.violations.append(
                f"{wip} taken back {when - fault.at:.3f} s after its host's {fault.kind}, "
                "before its lease could have run out"
            )
        report.takeback_after.append(when - fault.at)
    report.taken_back = len(taken)
    return taken


def _failures(
    report: HostsReport,
    failed: list[Entry],
    workers: list[Entry],
    faults: list[Fault],
    threshold: float,
) -> None:
    deaths = {f.run: f for f in faults if f.label == PRODUCER and f.kind == "kill" and not f.closed}
    for entry in failed:
        death = deaths.get(entry.run)
        if death is None:
            report.violations.append(f"{entry.label} got FAILED in {entry.run}: no producer died")
            continue
        after = float(entry.rest[1]) - death.at
        if after < threshold:
            report.violations.append(f"FAILED {after:.3f} s after the producer's death")
        report.failed_after.append(after)
    for run in deaths:
        got = sum(1 for e in failed if e.run == run)
        expected = sum(1 for e in workers if e.run == run)
        if got != expected:
            report.violations.append(f"{run}: {got} of {expected} readers got FAILED")


def hosts_table(reports: list[HostsReport]) -> str:
    """What only the hosts campaign measures, as a Markdown table, one row per family."""
    lines = [
        "| family | pauses | late task_done refused | claim gone before get() returned "
        "| claims taken back | taken back after "
        "(s, min-max) | seen dead by a reused PID namespace | producer death seen after "
        "(s, min-max) | PIDs shared by two hosts |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for family in dict.fromkeys(r.family for r in reports):
        rows = [r for r in reports if r.family == family]
        after = [t for r in rows for t in r.takeback_after]
        failed = [t for r in rows for t in r.failed_after]
        lines.append(
            f"| {family} | {sum(r.pauses for r in rows)} | {sum(r.late_finishes for r in rows)} "
            f"| {sum(r.lost_before_get for r in rows)} "
            f"| {sum(r.taken_back for r in rows)} | {_span(after)} "
            f"| {sum(r.seen_dead for r in rows)} | {_span(failed)} "
            f"| {sum(r.pid_collisions for r in rows)} |"
        )
    return "\n".join(lines)


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if values else "—"
