"""How long to wait before the next attempt to reach the broker: pure, no I/O."""

from __future__ import annotations

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 5.0


def reconnect_delay(failures: int) -> float:
    """Seconds to wait after ``failures`` attempts in a row failed (0 after none):
    doubling from 0.1 s, at most 5 s, so a restarted broker is found again within
    seconds and a long outage costs one attempt every 5 s."""
    if failures <= 0:
        return 0.0
    return min(MAX_DELAY_S, FIRST_DELAY_S * 2.0 ** (failures - 1))
