"""Prometheus metrics: requests, errors and latency per endpoint; seconds per pipeline stage.

Each app owns its registry (two apps in one process, as in tests, do not clash). Under
`ragloom serve --processes N` (prometheus_client's multiprocess mode: `PROMETHEUS_MULTIPROC_DIR`
set) every process records into that folder and any of them renders the sum. Endpoints are
labelled by their route template (`/v1/documents/{doc_id}`), never the raw path, so the
number of series stays bounded.

    ragloom_requests_total{endpoint,method,status}
    ragloom_request_errors_total{endpoint,status}            status >= 400
    ragloom_request_duration_seconds{endpoint}               histogram, whole response
    ragloom_stage_duration_seconds{pipeline,stage}           histogram, from run timings
    ragloom_requests_in_flight                               gauge
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ragloom.server.limits import ASGIApp, Message, Receive, Scope, Send

#: Request latency buckets (seconds): a BM25 hit list takes milliseconds, a generated answer
#: seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
OTHER = "other"
#: prometheus_client's folder for multiprocess mode (`ragloom.server.processes` sets it).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServerMetrics:
    """The server's Prometheus series, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["endpoint", "method", "status"]
        self.requests = Counter(
            "ragloom_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.errors = Counter(
            "ragloom_request_errors",
            "HTTP requests answered with a 4xx or 5xx status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ragloom_request_duration_seconds",
            "Seconds from request to the response's last byte.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "ragloom_stage_duration_seconds",
            "Seconds each pipeline stage took in a request.",
            ["pipeline", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "ragloom_requests_in_flight",
            "HTTP requests being answered.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def observe_stages(self, pipeline: str, timings: Mapping[str, float]) -> None:
        """Record a run's per-stage seconds (its `total` included, as stage `total`)."""
        for stage, seconds in timings.items():
            self.stages.labels(pipeline, stage).observe(float(seconds))

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type (all processes' series summed
        under multiprocess mode)."""
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the paths of a route template (`/v1/documents/{doc_id}`)."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join(".+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def endpoint_label(scope: Scope, templates: Sequence[tuple[str, re.Pattern[str]]]) -> str:
    """The route template that matched (or would have: a 429 is answered before routing)."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    path = scope.get("path", "")
    for template, pattern in templates:
        if pattern.match(path):
            return template
    return OTHER


class MetricsMiddleware:
    """Counts and times every HTTP request, whoever answers it (a limit, auth, a route)."""

    def __init__(
        self, app: ASGIApp, metrics: ServerMetrics, templates: Callable[[], Iterable[str]]
    ):
        self.app = app
        self.metrics = metrics
        self.list_templates = templates
        self._templates: list[tuple[str, re.Pattern[str]]] | None = None

    @property
    def templates(self) -> list[tuple[str, re.Pattern[str]]]:
        """The app's route templates (read once, when the first request has been answered)."""
        if self._templates is None:
            self._templates = [(t, template_pattern(t)) for t in self.list_templates()]
        return self._templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, watched)
        finally:
            self.metrics.in_flight.dec()
            endpoint = endpoint_label(scope, self.templates)
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
            self.metrics.requests.labels(endpoint, scope.get("method", ""), str(status)).inc()
            if status >= 400:
                self.metrics.errors.labels(endpoint, str(status)).inc()
