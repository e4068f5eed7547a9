"""A gauge sample as a plain value, so that read models can describe their gauges
without prometheus-client; :func:`persistq.service.metrics.exposition` writes them out."""

from __future__ import annotations

import attrs


@attrs.frozen
class Gauge:
    """One gauge sample: a metric name (without ``persistq_``), help text, labels and
    a value."""

    name: str
    help: str
    labels: tuple[tuple[str, str], ...]
    value: float
