"""Stripe reconciliation: find what the webhooks missed and apply it, once.

At start and then periodically: list the events Stripe has not delivered successfully
(`delivery_success=false`) and apply them through the same path as the webhook; then re-read
the Checkout Sessions of open orders that point at one, and credit those paid (or expire those
expired). Everything goes through `apply_event`, so an event applied twice changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import stripe

from ledger import Ledger, stripe_state

from .stripe_dispatch import RetryLater, handle_event
from .stripe_events import DEFAULT_POLICY, HANDLED_EVENTS, Policy

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """Counts of one reconciliation round, by outcome status."""

    events: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def credited(self) -> int:
        return self.events.get("credited", 0) + self.sessions.get("credited", 0)


class StripeReconciler:
    """Applies missed Stripe events and re-reads open orders' sessions."""

    def __init__(self, ledger: Ledger, client: stripe.StripeClient, policy: Policy = DEFAULT_POLICY, *,
                 interval_s: float = 300.0, max_events: int = 1000) -> None:
        self.ledger = ledger
        self.client = client
        self.policy = policy
        self.interval_s = interval_s
        self.max_events = max_events

    async def run_once(self) -> ReconcileReport:
        report = ReconcileReport()
        try:
            await self._missed_events(report)
        except (stripe.StripeError, RetryLater) as exc:
            report.errors.append(f"events: {exc}")
        try:
            await self._open_sessions(report)
        except (stripe.StripeError, RetryLater) as exc:
            report.errors.append(f"sessions: {exc}")
        if report.errors:
            log.warning("stripe reconciliation incomplete: %s", "; ".join(report.errors))
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile now and every `interval_s` until `stop` is set."""
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.credited():
                    log.warning("stripe reconciliation credited %d missed payment(s)", report.credited())
            except Exception:
                log.exception("stripe reconciliation failed")
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except TimeoutError:
                pass

    async def _missed_events(self, report: ReconcileReport) -> None:
        page = await self.client.v1.events.list_async(
            params={"delivery_success": False, "limit": 100}
        )
        missed = []
        async for event in page.auto_paging_iter():
            if event.type in HANDLED_EVENTS:
                missed.append(event.to_dict())
            if len(missed) >= self.max_events:
                break
        for raw in reversed(missed):  # listed newest first; apply in creation order
            outcome = await handle_event(self.ledger, raw, self.policy, self.client)
            report.events[outcome.status] = report.events.get(outcome.status, 0) + 1

    async def _open_sessions(self, report: ReconcileReport) -> None:
        refs = await self.ledger.read(stripe_state.open_orders_with_ref)
        for ref in refs:
            assert ref.provider_ref is not None
            session = (await self.client.v1.checkout.sessions.retrieve_async(ref.provider_ref)).to_dict()
            if session.get("payment_status") == "paid":
                kind = "checkout.session.completed"
            elif session.get("status") == "expired":
                kind = "checkout.session.expired"
            else:
                continue
            raw = {"id": f"reconcile:{ref.provider_ref}", "type": kind, "data": {"object": session}}
            outcome = await handle_event(self.ledger, raw, self.policy, self.client)
            report.sessions[outcome.status] = report.sessions.get(outcome.status, 0) + 1
