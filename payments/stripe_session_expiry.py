"""Expire at Stripe the Checkout Sessions of orders that stopped being open.

An order paid another way (Stars, a card invoice, another link), cancelled, failed or expired
must not stay payable through an old link: paying it would charge the customer again. Each
pass finds the sessions the ledger still knows as open, before their own expiry, whose order
is no longer open (`ledger.stripe_sessions.open_of_closed_orders`) and asks Stripe to expire
them (`POST /v1/checkout/sessions/{id}/expire`, idempotent by itself). Stripe refusing
because the session is no longer open means it completed or expired meanwhile: the session is
read back and its state recorded (a payment that beat us is credited by the payment path, as
balance). An unknown outcome (timeout, 5xx) changes nothing here; the next pass tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial

import stripe

from ledger import Ledger, stripe_sessions

log = logging.getLogger(__name__)


@dataclass
class ExpiryReport:
    expired: list[str] = field(default_factory=list)
    closed_meanwhile: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # to try again next pass


class StripeSessionExpiry:
    """Expires the open sessions of closed orders, once per pass."""

    def __init__(self, ledger: Ledger, client: stripe.StripeClient, *,
                 interval_s: float = 15.0, batch: int = 100) -> None:
        self.ledger = ledger
        self.client = client
        self.interval_s = interval_s
        self.batch = batch

    async def run_once(self) -> ExpiryReport:
        report = ExpiryReport()
        now = self.ledger.now()
        due = await self.ledger.read(
            lambda conn: stripe_sessions.open_of_closed_orders(conn, now, self.batch))
        for session in due:
            state = await self._expire(session.session_id)
            if state is None:
                report.unknown.append(session.session_id)
                continue
            await self.ledger.write(partial(stripe_sessions.set_state,
                                            session_id=session.session_id, state=state))
            (report.expired if state == "expired" else report.closed_meanwhile).append(
                session.session_id)
            log.info("order %s: checkout session %s %s at Stripe", session.order_id,
                     session.session_id, state)
        return report

    async def _expire(self, session_id: str) -> str | None:
        """The session's state at Stripe after asking to expire it; None when not known."""
        sessions = self.client.v1.checkout.sessions
        try:
            # No stable idempotency key: expiring is idempotent by itself (a second call is
            # refused as "not open"), and a stored 500 under a fixed key would block it.
            await sessions.expire_async(session_id)
            return "expired"
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                log.error("checkout session %s is unknown to Stripe", session_id)
                return "expired"  # nothing there to pay
            try:  # "Only Checkout Sessions with a status in ["open"] can be expired"
                found = await sessions.retrieve_async(session_id)
            except stripe.StripeError as again:
                log.warning("checkout session %s: state unknown: %s", session_id, again)
                return None
            return found.status if found.status in ("complete", "expired") else None
        except stripe.StripeError as exc:
            log.warning("checkout session %s: expire outcome unknown, next pass tries again: %s",
                        session_id, exc)
            return None
