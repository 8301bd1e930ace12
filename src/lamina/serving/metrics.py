"""The server's Prometheus metrics: requests, latency, errors and the predictions it gives."""

from __future__ import annotations

import collections

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# Latency buckets in seconds: from a fast single row to a slow large batch.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Regression predictions are counted in these buckets of the target's own unit.
VALUE_BUCKETS = (-1e6, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e6)


class ServerMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("lamina_requests_total", "HTTP requests", ["path", "status"], registry=self.registry)
        self.errors = Counter("lamina_errors_total", "HTTP responses with a 4xx or 5xx status", ["path", "status"],
                              registry=self.registry)
        self.latency = Histogram("lamina_request_seconds", "request latency", ["path"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.classes = Counter("lamina_predictions_total", "predicted classes", ["model", "prediction"],
                               registry=self.registry)
        self.values = Histogram("lamina_predicted_value", "predicted values (regression)", ["model"],
                                buckets=VALUE_BUCKETS, registry=self.registry)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)
        if status >= 400:
            self.errors.labels(path, str(status)).inc()

    def observe_predictions(self, model: str, predictions: np.ndarray) -> None:
        """`predictions` [rows]: floats (regression) or classes."""
        if predictions.dtype.kind == "f":
            for value in predictions.tolist():
                self.values.labels(model).observe(value)
        else:
            for label, count in collections.Counter(map(str, predictions.tolist())).items():
                self.classes.labels(model, label).inc(count)

    def text(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
