"""Metrics: a real scrape of the served registry, and textfile gauges read back by
prometheus-client's own parser."""

from __future__ import annotations

import datetime as dt
import os
import urllib.request
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from persistq.errors import PersistqError
from persistq.service.gauges import Gauge, write_textfile
from persistq.service.metrics import (
    ScheduleMetrics,
    WatchMetrics,
    exposition,
    serve,
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_shows_the_counters_of_a_watch_and_a_schedule() -> None:
    registry = prometheus_client.CollectorRegistry()
    watch = WatchMetrics("/data/triggers", registry)
    schedule = ScheduleMetrics(registry)
    other = ScheduleMetrics(prometheus_client.CollectorRegistry())  # one per registry
    watch.started.inc(2)
    watch.succeeded.inc()
    watch.retried.inc()
    watch.duration.observe(42)
    watch.schedule_succeeded("nightly", 1764558000.0)
    slot = dt.datetime.fromtimestamp(1764556200.0, dt.UTC)
    schedule.checked("/data/triggers", "nightly", None, slot)
    schedule.checked("/data/other", "hourly", None, None)
    schedule.put("/data/triggers", "nightly", slot)
    schedule.skipped("/data/triggers", "nightly", [slot, slot, slot])
    schedule.checked("/data/triggers", "nightly", slot, slot + dt.timedelta(days=1))
    other.put("/data/triggers", "nightly", slot)
    server, thread = serve(registry, 0)
    try:
        port = server.server_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            got = samples(reply.read().decode())
    finally:
        server.shutdown()
        thread.join(timeout=10)
    q = (("queue", "/data/triggers"),)
    assert got[("persistq_jobs_started_total", q)] == 2
    assert got[("persistq_jobs_succeeded_total", q)] == 1
    assert got[("persistq_jobs_failed_total", q)] == 0
    assert got[("persistq_jobs_retried_total", q)] == 1
    assert got[("persistq_job_duration_seconds_count", q)] == 1
    assert got[("persistq_job_duration_seconds_sum", q)] == 42
    nightly = (("queue", "/data/triggers"), ("schedule", "nightly"))
    assert got[("persistq_schedule_last_success_timestamp_seconds", nightly)] == 1764558000.0
    assert got[("persistq_schedule_triggers_put_total", nightly)] == 1
    assert got[("persistq_schedule_missed_slots_total", nightly)] == 3
    assert got[("persistq_schedule_last_slot_timestamp_seconds", nightly)] == 1764556200.0
    assert got[("persistq_schedule_next_slot_timestamp_seconds", nightly)] == 1764642600.0
    hourly = (("queue", "/data/other"), ("schedule", "hourly"))
    assert got[("persistq_schedule_triggers_put_total", hourly)] == 0  # there before a put
    assert ("persistq_schedule_next_slot_timestamp_seconds", hourly) not in got  # no next slot


def test_a_taken_port_names_itself() -> None:
    registry = prometheus_client.CollectorRegistry()
    server, thread = serve(registry, 0)
    try:
        with pytest.raises(PersistqError, match=f"127.0.0.1:{server.server_port}"):
            serve(registry, server.server_port)
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_gauges_parse_back_and_are_written_atomically(tmp_path: Path) -> None:
    text = exposition(
        [
            Gauge("folder_files", "Files by state.", (("queue", "/q"), ("state", "pending")), 3),
            Gauge("folder_files", "Files by state.", (("queue", "/q"), ("state", "failed")), 1),
            Gauge("folder_oldest_pending_age_seconds", "Age.", (("queue", "/q"),), 12.5),
        ]
    )
    target = tmp_path / "persistq.prom"
    write_textfile(str(target), text)
    assert os.listdir(tmp_path) == ["persistq.prom"]
    got = samples(target.read_text())
    assert got[("persistq_folder_files", (("queue", "/q"), ("state", "pending")))] == 3
    assert got[("persistq_folder_files", (("queue", "/q"), ("state", "failed")))] == 1
    assert got[("persistq_folder_oldest_pending_age_seconds", (("queue", "/q"),))] == 12.5
