"""Prometheus metrics of the long-running commands, and gauges for textfile collectors.

Needs the extra ``persistq[metrics]`` (prometheus-client, the ecosystem's own
exposition code). Names follow Prometheus conventions: ``persistq_`` prefix, counters
end in ``_total``, durations are in ``_seconds``, timestamps in
``_timestamp_seconds``. Every metric of a command carries the ``queue`` label (the
folder it reads or writes), so one scrape target can serve several queues.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from wsgiref.simple_server import WSGIServer

from persistq.errors import PersistqError
from persistq.service.gauges import Gauge

try:
    import prometheus_client
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised where the extra is absent
    raise PersistqError(
        "persistq metrics need prometheus-client: pip install 'persistq[metrics]'"
    ) from exc

#: Job durations of ETL loads: a second to a few hours.
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, float("inf"))


class WatchMetrics:
    """Counters and histograms of ``persistq watch`` for one trigger folder."""

    def __init__(self, queue: str, registry: prometheus_client.CollectorRegistry) -> None:
        labels = ("queue",)
        self.started = prometheus_client.Counter(
            "persistq_jobs_started", "Jobs started for a trigger.", labels, registry=registry
        ).labels(queue)
        self.succeeded = prometheus_client.Counter(
            "persistq_jobs_succeeded", "Jobs whose command exited 0.", labels, registry=registry
        ).labels(queue)
        self.failed = prometheus_client.Counter(
            "persistq_jobs_failed",
            "Jobs whose trigger failed for good (moved to failed/).",
            labels,
            registry=registry,
        ).labels(queue)
        self.retried = prometheus_client.Counter(
            "persistq_jobs_retried",
            "Failed attempts whose trigger was given back for another attempt.",
            labels,
            registry=registry,
        ).labels(queue)
        self.duration = prometheus_client.Histogram(
            "persistq_job_duration_seconds",
            "Time from a job's start to its command's exit.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        ).labels(queue)
        self.wait = prometheus_client.Histogram(
            "persistq_trigger_wait_seconds",
            "Time from a trigger's arrival in the folder to its job's start.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        ).labels(queue)
        self.last_success = prometheus_client.Gauge(
            "persistq_job_last_success_timestamp_seconds",
            "When a job last succeeded (Unix time).",
            labels,
            registry=registry,
        ).labels(queue)
        self._queue = queue
        self._schedule_success = prometheus_client.Gauge(
            "persistq_schedule_last_success_timestamp_seconds",
            "When a job for a trigger of this schedule last succeeded (Unix time).",
            ("queue", "schedule"),
            registry=registry,
        )

    def schedule_succeeded(self, schedule: str, when: float) -> None:
        """A job for a trigger put by ``schedule`` (the trigger file's ``schedule``)
        succeeded at ``when`` (Unix time): the source of "no successful load for a
        schedule's period plus grace" alerts."""
        self._schedule_success.labels(self._queue, schedule).set(when)


class ScheduleMetrics:
    """Counters and gauges of ``persistq schedule``, one series per queue folder and
    schedule. Its methods are those of :class:`persistq.schedule.SlotObserver`, so a
    scheduler reports to it without knowing of Prometheus."""

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        labels = ("queue", "schedule")
        self._put = prometheus_client.Counter(
            "persistq_schedule_triggers_put",
            "Trigger files put for due slots.",
            labels,
            registry=registry,
        )
        self._skipped = prometheus_client.Counter(
            "persistq_schedule_missed_slots",
            "Slots skipped while no scheduler ran (catch_up 'latest' or 'none').",
            labels,
            registry=registry,
        )
        self._last = prometheus_client.Gauge(
            "persistq_schedule_last_slot_timestamp_seconds",
            "The latest slot a trigger file was put for (Unix time).",
            labels,
            registry=registry,
        )
        self._next = prometheus_client.Gauge(
            "persistq_schedule_next_slot_timestamp_seconds",
            "The next slot the scheduler will put (Unix time).",
            labels,
            registry=registry,
        )

    def checked(
        self,
        queue: str,
        schedule: str,
        last_slot: dt.datetime | None,
        next_slot: dt.datetime | None,
    ) -> None:
        """``schedule`` was brought up to date: its counters exist (at 0 before the
        first put, so that ``increase()`` sees the first one) and its gauges say its
        last and next slot."""
        self._put.labels(queue, schedule)
        self._skipped.labels(queue, schedule)
        if last_slot is not None:
            self._last.labels(queue, schedule).set(last_slot.timestamp())
        if next_slot is None:
            with contextlib.suppress(KeyError):
                self._next.remove(queue, schedule)
        else:
            self._next.labels(queue, schedule).set(next_slot.timestamp())

    def put(self, queue: str, schedule: str, slot: dt.datetime) -> None:
        """A trigger file was put for ``schedule``'s ``slot``."""
        self._put.labels(queue, schedule).inc()
        self._last.labels(queue, schedule).set(slot.timestamp())

    def skipped(self, queue: str, schedule: str, slots: Sequence[dt.datetime]) -> None:
        """``slots`` of ``schedule`` were missed and skipped."""
        self._skipped.labels(queue, schedule).inc(len(slots))


def new_registry() -> prometheus_client.CollectorRegistry:
    """A registry for one command's metrics, with the standard ``process_*`` metrics
    of this process (CPU, memory, open files, start time) alongside. Counters are
    served without their ``_created`` series (for the whole process: prometheus-client
    has no per-registry switch), which the text format would scrape as extra gauges."""
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=registry)
    return registry


def serve(
    registry: prometheus_client.CollectorRegistry, port: int, host: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` at ``http://HOST:PORT/metrics`` from a daemon thread (loopback
    by default: expose it further only on purpose). Returns the server and its thread;
    ``server.shutdown()`` stops it."""
    try:
        return prometheus_client.start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise PersistqError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}; "
            "choose another --metrics-port"
        ) from exc


class _Samples(Collector):
    def __init__(self, gauges: Sequence[Gauge]) -> None:
        self._gauges = gauges

    def collect(self) -> Iterable[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for gauge in self._gauges:
            family = families.get(gauge.name)
            if family is None:
                family = GaugeMetricFamily(
                    f"persistq_{gauge.name}",
                    gauge.help,
                    labels=[key for key, _ in gauge.labels],
                )
                families[gauge.name] = family
            family.add_metric([value for _, value in gauge.labels], gauge.value)
        return list(families.values())


def exposition(gauges: Sequence[Gauge]) -> str:
    """The gauges in the Prometheus text exposition format."""
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(_Samples(gauges))
    return prometheus_client.generate_latest(registry).decode()
