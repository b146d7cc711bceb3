"""Stripe Checkout links: one Checkout Session per order, reused while it is valid.

The chat calls `StripeCheckout.checkout_url(order)` for a "Pay with Stripe" button. The
session's expiry is planned and stored on the order BEFORE Stripe is called, and the
idempotency key is derived from the order id and that plan, so a retry after a crash gets the
same session back instead of creating a second one. Stripe down or refusing raises
`CheckoutUnavailable` (with a message for the user); nothing is charged and the order stays open.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import stripe

from core.money import format_tfc
from ledger import Ledger, stripe_state
from ledger.models import Order

log = logging.getLogger(__name__)

# A session or a planned expiry closer than this to its end is not reused.
REUSE_MARGIN_S = 120
# Stripe requires expires_at 30 min to 24 h after it RECEIVES the create call, by its own clock.
# A session planned for exactly 30 min from our clock is refused if the call lands a second
# later, so a lifetime at the minimum gets this much slack; one at the maximum needs none.
MIN_LIFETIME_S, MAX_LIFETIME_S, CLOCK_SLACK_S = 30 * 60, 24 * 3600, 60


class CheckoutError(Exception):
    """Base of the checkout errors; `user_message` is safe to show in the chat."""

    user_message = "Card payment is not available right now. Please try again later or pay another way."


class CheckoutUnavailable(CheckoutError):
    """Stripe could not be reached or refused the request; nothing was charged."""


class OrderNotPayable(CheckoutError):
    """The order is no longer open (already paid, expired, failed or cancelled)."""

    def __init__(self, message: str, user_message: str) -> None:
        super().__init__(message)
        self.user_message = user_message


def make_client(api_key: str, api_base: str, max_network_retries: int = 1) -> stripe.StripeClient:
    """An async-capable Stripe client pointed at `api_base` (Stripe, or the emulator)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base.rstrip("/")},
        http_client=stripe.HTTPXClient(),
        max_network_retries=max_network_retries,
    )


class StripeCheckout:
    """Creates and reuses Checkout Sessions for orders."""

    def __init__(
        self,
        ledger: Ledger,
        client: stripe.StripeClient,
        *,
        bot_username: str,
        expiry_minutes: int = 30,
    ) -> None:
        if not 30 <= expiry_minutes <= 1440:
            raise ValueError("expiry_minutes must be between 30 and 1440 (Stripe's limits)")
        self.ledger = ledger
        self.client = client
        self.bot_username = bot_username
        self.expiry_s = min(max(expiry_minutes * 60, MIN_LIFETIME_S + CLOCK_SLACK_S), MAX_LIFETIME_S)
        self._locks: dict[int, asyncio.Lock] = {}

    def return_url(self, order_id: int) -> str:
        return f"https://t.me/{self.bot_username}?start=paid_{order_id}"

    def idempotency_key(self, order_id: int, expires_at: int) -> str:
        return f"gridshop-checkout-order-{order_id}-{expires_at}"

    async def checkout_url(self, order: Order) -> str:
        """The URL of the order's Checkout Session: the still-valid one, or a new one."""
        lock = self._locks.setdefault(order.id, asyncio.Lock())
        try:
            async with lock:
                return await self._checkout_url(order.id)
        finally:
            if not lock.locked() and not lock._waiters:  # type: ignore[attr-defined]
                self._locks.pop(order.id, None)

    async def _checkout_url(self, order_id: int) -> str:
        ref = await self.ledger.read(lambda conn: stripe_state.order_ref(conn, order_id))
        if ref is None:
            raise OrderNotPayable(f"order {order_id} does not exist", "This order does not exist.")
        self._check_open(ref.order)
        now = self.ledger.now()
        if ref.provider_ref and (ref.provider_ref_expires_at or 0) > now + REUSE_MARGIN_S:
            url = await self._reusable(ref.order, ref.provider_ref)
            if url is not None:
                return url
        session = None
        planned = ref.provider_ref_expires_at
        if ref.provider_ref is None and planned is not None and planned > now + REUSE_MARGIN_S:
            # A create that may have reached Stripe before a crash: the same plan and key get
            # the same session back. If it never reached Stripe, the plan may now be too short.
            try:
                session = await self._create(ref.order, planned)
            except stripe.InvalidRequestError as exc:
                if exc.param != "expires_at":
                    raise self._unavailable(ref.order, exc) from exc
            except stripe.StripeError as exc:
                raise self._unavailable(ref.order, exc) from exc
        if session is None:
            # A new plan never repeats the previous session's expiry, hence never its key.
            planned = max(now + self.expiry_s, (ref.provider_ref_expires_at or 0) + 1)
            await self.ledger.write(
                lambda conn, t: stripe_state.set_provider_ref(conn, t, order_id, None, planned))
            try:
                session = await self._create(ref.order, planned)
            except stripe.StripeError as exc:
                raise self._unavailable(ref.order, exc) from exc
        await self.ledger.write(lambda conn, t: stripe_state.set_provider_ref(
            conn, t, order_id, session.id, session.expires_at))
        log.info("order %s: checkout session %s until %s", order_id, session.id, session.expires_at)
        return session.url

    def _check_open(self, order: Order) -> None:
        if order.state != "open":
            raise OrderNotPayable(
                f"order {order.id} is {order.state}",
                f"Order {order.id} is {order.state}; it cannot be paid again.",
            )

    async def _reusable(self, order: Order, session_id: str) -> str | None:
        try:
            session = await self.client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as exc:
            raise self._unavailable(order, exc) from exc
        if session.status == "open" and session.url:
            return session.url
        if session.status == "complete":
            raise OrderNotPayable(
                f"order {order.id}: session {session_id} is complete",
                "This order was already paid; your credits arrive in a moment.",
            )
        return None

    async def _create(self, order: Order, expires_at: int) -> Any:
        metadata = {"order_id": str(order.id), "telegram_user_id": str(order.user_id)}
        name = f"GridShop {order.service_id}" if order.service_id else "GridShop credit top-up"
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": order.amount,
                    "product_data": {"name": f"{name} ({format_tfc(order.amount)})"},
                },
            }],
            "client_reference_id": str(order.id),
            "metadata": metadata,
            # Copied to the PaymentIntent and its charge, so refund events name the order.
            "payment_intent_data": {"metadata": metadata},
            "expires_at": expires_at,
            "success_url": self.return_url(order.id),
            "cancel_url": self.return_url(order.id),
        }
        return await self.client.v1.checkout.sessions.create_async(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": self.idempotency_key(order.id, expires_at)},
        )

    @staticmethod
    def _unavailable(order: Order, exc: stripe.StripeError) -> CheckoutUnavailable:
        log.warning("order %s: Stripe checkout failed: %s: %s", order.id, type(exc).__name__, exc)
        return CheckoutUnavailable(f"Stripe checkout failed for order {order.id}: {exc}")
