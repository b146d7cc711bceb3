"""Stripe reconciliation: find what the webhooks missed and apply it, once.

At start and then periodically: list the events Stripe has not delivered successfully
(`GET /v1/events`, `delivery_success=false`, `types[]` = exactly the handled events,
`created[gte]` = the stored cursor less a re-scan window for late events, every page) and
apply them oldest first through the same path as the webhook, skipping those already applied
(`ledger.cursors`); then re-read the Checkout Sessions of open orders that point at one, and
credit those paid (or expire those expired). Everything goes through `apply_event`, so an
event applied twice changes nothing.

Each event is applied on its own: one that cannot be applied now (Stripe or the ledger
unavailable) is reported and holds the cursor back, so it is met again, but never stops the
events after it; one that fails with anything else (a bug) is kept for the admins
(`provider_events`) and passed. The cursor (`stripe:events`, unix seconds by Stripe's event
clock) never goes further back than Stripe keeps events (30 days).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import stripe

from ledger import Ledger, cursors, stripe_state
from ledger.stripe_events import DEFAULT_POLICY, HANDLED_EVENTS, PROVIDER, Policy, keep_unapplied

from .stripe_dispatch import RetryLater, apply_session, handle_event

CURSOR = "stripe:events"
RESCAN_S = 6 * 3600  # events listed late (Stripe's list is eventually consistent) are met again
RETENTION_S = 30 * 86400  # Stripe lists events of the last 30 days

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """Counts of one reconciliation round, by outcome status."""

    events: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    skipped: int = 0  # listed again but applied already
    cursor: int | None = None  # where the next round starts (before the re-scan window)

    def credited(self) -> int:
        return self.events.get("credited", 0) + self.sessions.get("credited", 0)


class StripeReconciler:
    """Applies missed Stripe events and re-reads open orders' sessions."""

    def __init__(self, ledger: Ledger, client: stripe.StripeClient, policy: Policy = DEFAULT_POLICY, *,
                 interval_s: float = 300.0) -> None:
        self.ledger = ledger
        self.client = client
        self.policy = policy
        self.interval_s = interval_s

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
        now = self.ledger.now()
        stored = await self.ledger.read(lambda conn: cursors.get(conn, CURSOR))
        since = max(int(stored) - RESCAN_S if stored else 0, now - RETENTION_S)
        page = await self.client.v1.events.list_async(params={
            "delivery_success": False, "types": list(HANDLED_EVENTS), "created": {"gte": since},
            "limit": 100,
        })
        missed = [event.to_dict() async for event in page.auto_paging_iter()]
        missed.reverse()  # listed newest first; apply in creation order
        done = await self.ledger.read(
            lambda conn: cursors.applied(conn, PROVIDER, [str(e.get("id")) for e in missed]))
        held_back: int | None = None
        for raw in missed:
            if raw.get("id") in done:
                report.skipped += 1
                continue
            status = await self._apply_one(raw, report)
            if status == "retry" and held_back is None:
                held_back = int(raw.get("created") or since)
        newest = max((int(e.get("created") or 0) for e in missed), default=now)
        report.cursor = held_back if held_back is not None else max(newest, since)
        await self.ledger.write(lambda conn, t: cursors.put(conn, t, CURSOR, str(report.cursor)))

    async def _apply_one(self, raw: dict[str, Any], report: ReconcileReport) -> str:
        """Apply one event; its failure never stops the others."""
        try:
            outcome = await handle_event(self.ledger, raw, self.policy, self.client)
        except RetryLater as exc:
            report.errors.append(f"event {raw.get('id')}: {exc}")
            return "retry"
        except Exception as exc:  # a poisoned event: kept for the admins, the others go on
            log.exception("stripe event %s could not be applied", raw.get("id"))
            payload = json.dumps(raw, sort_keys=True, default=str)
            reason = f"failed to apply: {type(exc).__name__}: {exc}"[:500]
            await self.ledger.write(partial(keep_unapplied, event_id=str(raw.get("id")),
                                            event_type=str(raw.get("type")), payload=payload,
                                            reason=reason))
            report.events["kept"] = report.events.get("kept", 0) + 1
            return "kept"
        report.events[outcome.status] = report.events.get(outcome.status, 0) + 1
        return outcome.status

    async def _open_sessions(self, report: ReconcileReport) -> None:
        refs = await self.ledger.read(stripe_state.open_orders_with_ref)
        for ref in refs:
            assert ref.provider_ref is not None
            try:
                outcome = await apply_session(self.ledger, self.client, ref.provider_ref,
                                              self.policy, "reconcile")
            except (stripe.StripeError, RetryLater) as exc:  # this one later, the others now
                report.errors.append(f"session {ref.provider_ref}: {exc}")
                continue
            if outcome is not None:
                report.sessions[outcome.status] = report.sessions.get(outcome.status, 0) + 1
