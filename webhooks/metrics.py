"""`GET /metrics`: the shop's figures in Prometheus' text format, on a listener of its own.

The counters and histograms of `core.metrics` (process-wide, with prometheus_client's process
and Python collectors), then the states read from the ledger at this scrape (`ledger.gauges`,
index reads only): parked payments, the outbox backlog and the age of its oldest message, the
Stripe inbox's backlog and the age of its oldest event, and
deployments by state. When the database does not answer, `gridshop_ledger_up` is 0 and those
gauges are left out; the counters are still served.

This app is bound to `server.metrics_host`:`server.metrics_port` (off while the port is 0),
never to the public webhook listener: business figures stay off the internet unless the
operator binds them there on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ledger import Ledger, gauges

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# The classic text format every Prometheus reads (what `generate_latest` writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _LedgerGauges(Collector):
    """The figures of the last `refresh`, as metric families."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._figures: gauges.Gauges | None = None
        self._now = 0

    async def refresh(self, timeout_s: float) -> None:
        try:
            self._figures = await asyncio.wait_for(self._ledger.read(gauges.read), timeout_s)
        except Exception as exc:  # the scrape says the ledger is down; it never fails itself
            log.warning("metrics: the ledger did not answer: %s", exc)
            self._figures = None
        self._now = self._ledger.now()

    def collect(self) -> Iterator[Metric]:
        figures = self._figures
        yield GaugeMetricFamily("gridshop_ledger_up", "1 when the ledger answered this scrape.",
                                value=0 if figures is None else 1)
        if figures is None:
            return
        yield GaugeMetricFamily("gridshop_parked_payments",
                                "Payments parked for an admin (/parked) and not resolved.",
                                value=figures.parked)
        yield GaugeMetricFamily("gridshop_outbox_pending",
                                "Messages queued for Telegram and not sent yet.",
                                value=figures.outbox_pending)
        oldest = 0 if figures.outbox_oldest is None else max(0, self._now - figures.outbox_oldest)
        yield GaugeMetricFamily("gridshop_outbox_oldest_pending_age_seconds",
                                "Age of the oldest message not sent yet (0 when none is).",
                                value=oldest)
        yield GaugeMetricFamily("gridshop_stripe_inbox_events",
                                "Stripe events answered 200 and not applied yet (the inbox).",
                                value=figures.stripe_inbox)
        waited = (0 if figures.stripe_inbox_oldest is None
                  else max(0, self._now - figures.stripe_inbox_oldest))
        yield GaugeMetricFamily("gridshop_stripe_inbox_oldest_age_seconds",
                                "Age of the oldest Stripe event not applied yet (0 when none is).",
                                value=waited)
        by_state = GaugeMetricFamily("gridshop_deployments", "Deployments by state (cancelled "
                                     "ones are not counted).", labels=["state"])
        for state, count in figures.deployments.items():
            by_state.add_metric([state], count)
        yield by_state


class Metrics:
    """The handler: refresh the ledger's figures, then render every metric."""

    def __init__(self, ledger: Ledger, timeout_s: float = 2.0) -> None:
        self._gauges = _LedgerGauges(ledger)
        self._registry = CollectorRegistry(auto_describe=True)
        self._registry.register(self._gauges)
        self._timeout_s = timeout_s

    async def handle(self, request: web.Request) -> web.Response:
        await self._gauges.refresh(self._timeout_s)
        body = generate_latest(REGISTRY) + generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def make_metrics_app(ledger: Ledger) -> web.Application:
    """The metrics listener's application: `GET /metrics` only."""
    app = web.Application()
    app.router.add_get(METRICS_PATH, Metrics(ledger).handle)
    return app
