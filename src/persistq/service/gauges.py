"""A gauge sample as a plain value, so that read models can describe their gauges
without prometheus-client (:func:`persistq.service.metrics.exposition` writes them
out), and the atomic write of a textfile collector's file."""

from __future__ import annotations

import os
import tempfile

import attrs


@attrs.frozen
class Gauge:
    """One gauge sample: a metric name (without ``persistq_``), help text, labels and
    a value."""

    name: str
    help: str
    labels: tuple[tuple[str, str], ...]
    value: float


def write_textfile(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in its folder, then a
    rename), as node_exporter's textfile collector requires: it never reads half."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".persistq-metrics-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
