"""``persistq watch --metrics-port``: the watcher's events as Prometheus metrics
(:class:`persistq.service.metrics.WatchMetrics`), served over HTTP.

Imported only when metrics are asked for: it needs the extra ``persistq[metrics]``.
"""

from __future__ import annotations

import logging
import threading
import time
from wsgiref.simple_server import WSGIServer

# First: without the extra, persistq.service.metrics raises the error that names it.
from persistq.service.metrics import WatchMetrics, serve

# isort: split
import prometheus_client

from persistq.cli.watch_observer import Outcome, WatchObserver

log = logging.getLogger("persistq.cli.watch")


class MetricsObserver(WatchObserver):
    """Counts the jobs of one trigger folder into a :class:`WatchMetrics` and serves
    them at ``http://HOST:PORT/metrics`` until closed."""

    def __init__(self, queue: str, host: str, port: int) -> None:
        registry = prometheus_client.CollectorRegistry()
        self.metrics = WatchMetrics(queue, registry)
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = serve(registry, port, host)
        log.info(
            "serving metrics at http://%s:%d/metrics",
            host,
            self.port,
            extra={"queue": queue},
        )

    @property
    def port(self) -> int:
        """The port served (the one chosen when asked for port 0)."""
        return int(self._server.server_port)

    def job_started(self, name: str, attempt: int, waited: float | None) -> None:
        """Count the start; observe the trigger's wait (first attempts)."""
        self.metrics.started.inc()
        if waited is not None:
            self.metrics.wait.observe(waited)

    def job_finished(self, name: str, outcome: Outcome, duration: float | None) -> None:
        """Count the outcome; observe the duration of a command this watcher ran."""
        if outcome is Outcome.GIVEN_BACK:
            return
        if duration is not None:
            self.metrics.duration.observe(duration)
        if outcome is Outcome.SUCCEEDED:
            self.metrics.succeeded.inc()
            self.metrics.last_success.set(time.time())
        elif outcome is Outcome.RETRIED:
            self.metrics.retried.inc()
        else:
            self.metrics.failed.inc()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
