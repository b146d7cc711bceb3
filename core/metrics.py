"""What the shop counts while it runs, for `GET /metrics` (Prometheus' text format).

These are process-wide, in prometheus_client's default registry (with its process and Python
collectors), and move as things happen: a payment credited for the first time, a webhook
answered, a grid call failed, a ledger write committed. What is a state of the database rather
than an event (the outbox backlog, parked payments, deployments by state) is read from the
ledger at scrape time instead (`webhooks.metrics`). Every name starts with `gridshop_`;
docs/deploy.md lists them with thresholds worth alerting on.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

__all__ = [
    "GRID_ERRORS",
    "LEDGER_READ_WAIT_SECONDS",
    "LEDGER_WRITE_SECONDS",
    "PAYMENTS_CREDITED",
    "WEBHOOK_RESPONSES",
]

PAYMENTS_CREDITED = Counter(
    "gridshop_payments_credited", "Payments credited for the first time (a redelivery does not count).",
    ["provider"])
WEBHOOK_RESPONSES = Counter(
    "gridshop_webhook_responses", "Answers of the webhook endpoints, by endpoint and HTTP status.",
    ["endpoint", "status"])
GRID_ERRORS = Counter(
    "gridshop_grid_errors", "Failed grid calls (deploy, cancel), by operation and error class.",
    ["operation", "error"])



class BatchHistogram:
    """A histogram, exposed as prometheus_client's `Histogram` is (`_bucket`, `_count`, `_sum`,
    `_created`), that also takes a whole batch of observations under one lock: the ledger's
    writer observes every request of a group commit at once, so the per-request price on the
    event loop is one bisect instead of prometheus_client's several calls and locks."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 registry: CollectorRegistry = REGISTRY) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(sorted(float(b) for b in buckets))
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf's own
        self._sum = 0.0
        self._created = time.time()
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, amount: float) -> None:
        with self._lock:
            self._counts[bisect_left(self._bounds, amount)] += 1
            self._sum += amount

    def observe_many(self, amounts: Iterable[float]) -> None:
        bounds, counts, total = self._bounds, self._counts, 0.0
        with self._lock:
            for amount in amounts:
                counts[bisect_left(bounds, amount)] += 1
                total += amount
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        buckets, cumulative = [], 0
        for bound, count in zip((*self._bounds, float("inf")), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        yield HistogramMetricFamily(self._name, self._documentation, buckets=buckets,
                                    sum_value=total)
        yield GaugeMetricFamily(f"{self._name}_created", self._documentation,
                                value=self._created)


# From a few milliseconds (a group commit on a quiet disk) to the busy timeout.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LEDGER_WRITE_SECONDS = BatchHistogram(
    "gridshop_ledger_write_seconds",
    "Time from a ledger write being asked to its COMMIT (or refusal), queueing included.",
    buckets=_LATENCY_BUCKETS)
LEDGER_READ_WAIT_SECONDS = BatchHistogram(
    "gridshop_ledger_read_wait_seconds",
    "Time a ledger read waits for the reader connection before it starts.",
    buckets=_LATENCY_BUCKETS)
