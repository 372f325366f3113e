"""Prometheus metrics, one registry per app (so several apps can live in one test process).

With several uvicorn workers set ``PROMETHEUS_MULTIPROC_DIR`` (an empty, writable dir) before
starting: every worker then writes its samples there and ``/metrics`` sums them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _multiproc_dir() -> str | None:
    # prometheus_client itself is configured by this variable; we only follow it
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The service's metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "xuanxue_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "xuanxue_http_request_duration_seconds",
            "request latency by route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "xuanxue_model_info",
            "1 for the model version being served",
            ["version"],
            registry=r,
            multiprocess_mode="liveall",
        )
        self.model_loaded_at = Gauge(
            "xuanxue_model_loaded_timestamp_seconds",
            "when the served model was loaded",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.reloads = Counter(
            "xuanxue_model_reloads",
            "model reload attempts by result (ok, unchanged, refused)",
            ["result"],
            registry=r,
        )
        self.events = Counter(
            "xuanxue_completion_events",
            "completion events received by outcome",
            ["outcome"],
            registry=r,
        )
        self._version: str | None = None

    def set_model(self, version: str, loaded_at: float) -> None:
        if self._version is not None and self._version != version:
            self.model_info.remove(self._version)
        self.model_info.labels(version=version).set(1)
        self.model_loaded_at.set(loaded_at)
        self._version = version

    def render(self) -> tuple[bytes, str]:
        if _multiproc_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
