"""The service manager's notify protocol (systemd's ``sd_notify``), spoken directly.

A service started with ``Type=notify`` finds a datagram socket's address in
``NOTIFY_SOCKET`` and sends it newline-separated ``KEY=VALUE`` assignments:
``READY=1`` once it serves, ``WATCHDOG=1`` at least every ``WATCHDOG_USEC``
microseconds when ``WatchdogSec=`` is set, ``STOPPING=1`` when it begins to stop and
``STATUS=...`` as free text for ``systemctl status``. Outside such a manager (no
``NOTIFY_SOCKET``) every call does nothing, so callers never branch on it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes:
    """The socket address named by ``NOTIFY_SOCKET``: a path, or ``@name`` for the
    abstract namespace (a leading NUL byte)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between the ``WATCHDOG=1`` pings the manager asks of this process (half
    its ``WATCHDOG_USEC`` timeout, as sd_watchdog_enabled advises), or None when no
    watchdog is set for it (unset, malformed, or meant for another ``WATCHDOG_PID``)."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = environ.get("WATCHDOG_PID", "")
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


class Notifier:
    """Sends notify messages to the manager named in ``environ`` (default: this
    process's environment); a silent no-op where there is none."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address: str | bytes | None = (
            _address(env["NOTIFY_SOCKET"]) if env.get("NOTIFY_SOCKET") else None
        )
        self.watchdog_seconds = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        """Whether a manager listens."""
        return self.address is not None

    def send(self, **fields: str) -> bool:
        """Send ``KEY=VALUE`` lines (keys upper-cased; a newline inside a value becomes
        a space, as it would end the assignment); return whether it was sent. A manager
        that went away is logged once per call at DEBUG, never raised: the service goes
        on without it."""
        if self.address is None:
            return False
        message = "\n".join(
            f"{key.upper()}={value.replace(chr(10), ' ')}" for key, value in fields.items()
        )
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(message.encode(), self.address)
        except OSError as exc:
            log.debug("notify socket %r did not take %r: %s", self.address, message, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """Tell the manager the service is up (``READY=1``), with an optional status."""
        return self.send(ready="1", **({"status": status} if status else {}))

    def ping(self) -> bool:
        """Tell the manager's watchdog the service is alive (``WATCHDOG=1``)."""
        return self.send(watchdog="1")

    def stopping(self, status: str = "") -> bool:
        """Tell the manager the service is stopping (``STOPPING=1``)."""
        return self.send(stopping="1", **({"status": status} if status else {}))

    def status(self, text: str) -> bool:
        """Set the one-line status ``systemctl status`` shows."""
        return self.send(status=text)
