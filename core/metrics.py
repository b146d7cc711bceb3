"""What the shop counts while it runs, for `GET /metrics` (Prometheus' text format).

These are process-wide, in prometheus_client's default registry (with its process and Python
collectors), and move as things happen: a payment credited for the first time, a webhook
answered, a grid call failed, a ledger write committed. What is a state of the database rather
than an event (the outbox backlog, parked payments, deployments by state) is read from the
ledger at scrape time instead (`webhooks.metrics`). Every name starts with `gridshop_`;
docs/deploy.md lists them with thresholds worth alerting on.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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

# From a few milliseconds (a group commit on a quiet disk) to the busy timeout.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LEDGER_WRITE_SECONDS = Histogram(
    "gridshop_ledger_write_seconds",
    "Time from a ledger write being asked to its COMMIT (or refusal), queueing included.",
    buckets=_LATENCY_BUCKETS)
LEDGER_READ_WAIT_SECONDS = Histogram(
    "gridshop_ledger_read_wait_seconds",
    "Time a ledger read waits for the reader connection before it starts.",
    buckets=_LATENCY_BUCKETS)
