"""Which claims (wip files) a reader takes back: those of dead owners and expired leases.

An owner this process can judge (same host and realm) is dead once its PID no longer
runs with the recorded start time; an owner it cannot see is judged only by its lease
(with ``lease_seconds``), never declared dead because it is invisible.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import attrs

from persistq.folder.lease import lease_expired, lease_left
from persistq.folder.names import HEARTBEAT_SUFFIX, Owner, parse_wip
from persistq.folder.owner import Liveness, current_owner, judge


@attrs.frozen
class Abandoned:
    """A claim to take back: the wip name, its owner and why it is abandoned."""

    wip: str
    owner: Owner
    why: str


def abandoned(
    folder: str, wip_names: Iterable[str], lease_seconds: float | None
) -> list[Abandoned]:
    """The claims among ``wip_names`` (in ``folder``) whose owner is gone or whose lease
    expired; this process's own claims and live owners' are never among them."""
    me = current_owner()
    found: list[Abandoned] = []
    for name in wip_names:
        wip = parse_wip(name)
        if wip is None or wip.owner == me:
            continue
        owner = wip.owner
        verdict = judge(owner)
        if verdict is Liveness.DEAD:
            why = f"its owner, PID {owner.pid} on {owner.host}, is gone"
        elif (
            verdict is Liveness.UNKNOWN
            and lease_seconds is not None
            and lease_expired(folder, owner, name, lease_seconds)
        ):
            why = f"the lease of PID {owner.pid} on {owner.host} expired ({lease_seconds} s)"
        else:
            continue
        found.append(Abandoned(name, owner, why))
    return found


def lease_wait(folder: str, wip_names: Iterable[str], lease_seconds: float | None) -> float | None:
    """Seconds until the first lease runs out among the claims in ``wip_names`` held by
    owners this process cannot see; None when no such claim is within its lease (or
    there is no lease: then nothing here could ever take them back)."""
    if lease_seconds is None:
        return None
    me = current_owner()
    waits = []
    for name in wip_names:
        wip = parse_wip(name)
        if wip is None or wip.owner == me or judge(wip.owner) is not Liveness.UNKNOWN:
            continue
        left = lease_left(folder, wip.owner, name, lease_seconds)
        if left is not None and left > 0:
            waits.append(left)
    return min(waits, default=None)


def stale_heartbeats(
    folder: str,
    heartbeat_names: Iterable[str],
    wip_names: Iterable[str],
    lease_seconds: float | None,
    now: float | None = None,
) -> list[str]:
    """The heartbeat files among ``heartbeat_names`` (in ``folder``) that no owner will
    refresh: their owner holds no claim among ``wip_names`` and is gone, or (with
    ``lease_seconds``, for an owner this process cannot see) has not refreshed it for
    longer than the lease. A live owner that was only paused writes its heartbeat again
    at its next refresh; its claims were judged by the same lease before."""
    me = current_owner()
    claiming = {wip.owner for wip in map(parse_wip, wip_names) if wip is not None}
    now = time.time() if now is None else now
    stale = []
    for name in heartbeat_names:
        owner = Owner.from_token(name[: -len(HEARTBEAT_SUFFIX)])
        if owner is None or owner == me or owner in claiming:
            continue
        verdict = judge(owner)
        if verdict is Liveness.UNKNOWN and lease_seconds is not None:
            try:
                beat = os.stat(os.path.join(folder, name)).st_mtime
            except FileNotFoundError:
                continue
            if beat + lease_seconds < now:
                stale.append(name)
        elif verdict is Liveness.DEAD:
            stale.append(name)
    return stale
