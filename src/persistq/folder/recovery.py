"""Which claims (wip files) a reader takes back: those of dead owners and expired leases.

An owner this process can judge (same host and realm) is dead once its PID no longer
runs with the recorded start time; an owner it cannot see is judged only by its lease
(with ``lease_seconds``), never declared dead because it is invisible.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from persistq.folder.lease import lease_expired, lease_left
from persistq.folder.names import Owner, parse_wip
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
