"""Prometheus metrics of the gateway, in a registry of its own (one per app, so tests can build many)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

# From a few ms (a cached translation) to the client's patience with a large page on CPU.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LINE_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "ocrstack_gateway_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "ocrstack_gateway_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.stage = Histogram(
            "ocrstack_gateway_stage_seconds",
            "Time per pipeline stage",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lines = Histogram(
            "ocrstack_gateway_lines_per_image", "Lines read per image", buckets=LINE_BUCKETS, registry=r
        )
        self.translations = Counter(
            "ocrstack_gateway_translations", "Texts sent to the translator", ["translator"], registry=r
        )
        self.translation_errors = Counter(
            "ocrstack_gateway_translation_errors",
            "Texts whose translation failed",
            ["translator"],
            registry=r,
        )

        self.shed = Counter(
            "ocrstack_gateway_shed_requests",
            "Requests refused by admission control (full, queue_deadline: 503; deadline: 504)",
            ["route", "reason"],
            registry=r,
        )

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            if stage != "total":
                self.stage.labels(stage).observe(ms / 1000)
