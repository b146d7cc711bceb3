"""Stripe Checkout links: one Checkout Session per order, reused while it is valid.

The chat calls `StripeCheckout.checkout_url(order)` for a "Pay with Stripe" button. The
session's expiry is planned and stored on the order BEFORE Stripe is called, and the
idempotency key is derived from the order id and that plan, so a retry after a crash gets the
same session back instead of creating a second one. Stripe down or refusing raises
`CheckoutUnavailable` (with a message for the user); nothing is charged and the order stays open.

Two answers change the plan (and so the key): a 5xx, which Stripe stores under the key and
replays to every retry, after a look through the recent sessions for one this plan made
anyway; and `expires_at` refused, when Stripe's clock is ahead of ours: plans follow Stripe's
clock as its answers' Date header shows it. Every session made is recorded for the order
(`ledger.stripe_sessions`), so the ones left open when the order stops being open are expired.
"""

from __future__ import annotations

import logging
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import stripe

from core import notices
from core.locks import NameLocks
from core.money import format_tfc
from ledger import Ledger, stripe_sessions, stripe_state
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

    user_message = notices.CHECKOUT_UNAVAILABLE


class CheckoutUnavailable(CheckoutError):
    """Stripe could not be reached or refused the request; nothing was charged."""


class OrderNotPayable(CheckoutError):
    """The order is no longer open (already paid, expired, failed or cancelled)."""

    def __init__(self, message: str, user_message: str) -> None:
        super().__init__(message)
        self.user_message = user_message


def make_client(api_key: str, api_base: str, max_network_retries: int = 1) -> ShopStripeClient:
    """An async Stripe client pointed at `api_base` (Stripe, or the emulator).

    It speaks HTTP through aiohttp (the SDK's `AIOHTTPClient`): the shop calls only the
    `_async` methods, and httpx's connection pool costs more CPU per request than the rest of a
    webhook together once many requests are in flight (docs/benchmarks.md)."""
    return ShopStripeClient(api_key, api_base, max_network_retries)


class ShopStripeClient(stripe.StripeClient):
    """`stripe.StripeClient` over aiohttp, with `aclose()` for its connection pool."""

    def __init__(self, api_key: str, api_base: str, max_network_retries: int) -> None:
        self.http = stripe.AIOHTTPClient()
        super().__init__(api_key, base_addresses={"api": api_base.rstrip("/")},
                         http_client=self.http, max_network_retries=max_network_retries)

    async def aclose(self) -> None:
        """Close the pooled connections (at shutdown)."""
        await self.http.close_async()  # type: ignore[no-untyped-call]


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
        self._locks = NameLocks()  # one order's link is planned once at a time
        self.clock_offset = 0  # Stripe's clock minus ours, from its Date header

    def return_url(self, order_id: int) -> str:
        """Where Checkout's cancel button leads: back to the bot, on the order."""
        return f"https://t.me/{self.bot_username}?start=paid_{order_id}"

    def success_url(self, order_id: int) -> str:
        """Where a paid Checkout leads: the order in the bot, with the session id Stripe fills
        in for `{CHECKOUT_SESSION_ID}`. Telegram passes only `start` (64 characters, too short
        for a session id) to the bot, so `/start paid_<order>` reads the order's sessions."""
        return f"{self.return_url(order_id)}&session_id={{CHECKOUT_SESSION_ID}}"

    def idempotency_key(self, order_id: int, expires_at: int) -> str:
        return f"gridshop-checkout-order-{order_id}-{expires_at}"

    def stripe_now(self) -> int:
        """Stripe's clock as last seen in its answers' Date header (ours when never seen)."""
        return self.ledger.now() + self.clock_offset

    def _learn_clock(self, headers: Any) -> None:
        try:
            date = headers.get("Date") or headers.get("date") if headers else None
            stripe_now = parsedate_to_datetime(date).timestamp() if date else None
        except (TypeError, ValueError, AttributeError):
            stripe_now = None
        if stripe_now is not None:
            offset = int(stripe_now - self.ledger.now())
            if offset != self.clock_offset:
                log.info("Stripe's clock is %+d s from ours", offset)
            self.clock_offset = offset

    async def checkout_url(self, order: Order) -> str:
        """The URL of the order's Checkout Session: the still-valid one, or a new one."""
        async with self._locks.hold(order.id):
            return await self._checkout_url(order.id)

    async def _checkout_url(self, order_id: int) -> str:
        ref = await self.ledger.read(lambda conn: stripe_state.order_ref(conn, order_id))
        if ref is None:
            raise OrderNotPayable(f"order {order_id} does not exist", notices.CHECKOUT_NO_ORDER)
        self._check_open(ref.order)
        now = self.stripe_now()
        if ref.provider_ref and (ref.provider_ref_expires_at or 0) > now + REUSE_MARGIN_S:
            url = await self._reusable(ref.order, ref.provider_ref)
            if url is not None:
                return url
        session = None
        planned = ref.provider_ref_expires_at
        if ref.provider_ref is None and planned is not None and planned > now + REUSE_MARGIN_S:
            # A create that may have reached Stripe before a crash: the same plan and key get
            # the same session back. If it never reached Stripe, the plan may now be too short.
            session = await self._try_create(ref.order, planned)
        for _ in range(2):
            if session is not None:
                break
            # A new plan never repeats the previous one's expiry, hence never its key: a 500
            # Stripe stored under the old key cannot block the order.
            planned = max(self.stripe_now() + self.expiry_s, (planned or 0) + 1)
            await self.ledger.write(partial(stripe_state.set_provider_ref, order_id=order_id,
                                            ref=None, expires_at=planned))
            session = await self._try_create(ref.order, planned)
        if session is None:
            raise CheckoutUnavailable(f"Stripe checkout failed twice for order {order_id}")

        await self.ledger.write(partial(stripe_sessions.adopt, order_id=order_id, session_id=session.id,
                                        expires_at=session.expires_at))
        log.info("order %s: checkout session %s until %s", order_id, session.id, session.expires_at)
        return str(session.url)

    async def _try_create(self, order: Order, expires_at: int) -> Any | None:
        """The session for this plan, or None when the plan must change: Stripe refused its
        `expires_at` (our clock is off: Stripe's is learnt from the answer), or answered 5xx
        and no session was made under it (Stripe replays a stored 500 for the key)."""
        try:
            session = await self._create(order, expires_at)
        except stripe.InvalidRequestError as exc:
            if exc.param != "expires_at":
                raise self._unavailable(order, exc) from exc
            self._learn_clock(exc.headers)
            return None
        except stripe.APIError as exc:
            if (exc.http_status or 0) < 500:
                raise self._unavailable(order, exc) from exc
            self._learn_clock(exc.headers)
            log.warning("order %s: Stripe answered %s to the checkout create; looking it up",
                        order.id, exc.http_status)
            return await self._made_anyway(order, expires_at)
        except stripe.StripeError as exc:
            # A timeout or a dropped answer: the same key next time gets what Stripe did.
            raise self._unavailable(order, exc) from exc
        self._learn_clock(getattr(session.last_response, "headers", None))
        return session

    async def _made_anyway(self, order: Order, expires_at: int) -> Any | None:
        """A session Stripe made for this order and plan although its answer was a 5xx."""
        try:
            page = await self.client.v1.checkout.sessions.list_async(params={"limit": 100})
            async for session in page.auto_paging_iter():
                if session.created < expires_at - MAX_LIFETIME_S - REUSE_MARGIN_S:
                    break  # older than any session of this plan can be
                if session.client_reference_id == str(order.id) and session.expires_at == expires_at:
                    return session
        except stripe.StripeError as exc:
            raise self._unavailable(order, exc) from exc
        return None

    def _check_open(self, order: Order) -> None:
        if order.state != "open":
            raise OrderNotPayable(
                f"order {order.id} is {order.state}",
                notices.checkout_order_closed(order.id, order.state),
            )

    async def _reusable(self, order: Order, session_id: str) -> str | None:
        try:
            session = await self.client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.StripeError as exc:
            raise self._unavailable(order, exc) from exc
        if session.status == "open" and session.url:
            return str(session.url)
        if session.status == "complete":
            raise OrderNotPayable(
                f"order {order.id}: session {session_id} is complete",
                notices.CHECKOUT_ALREADY_PAID,
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
            "success_url": self.success_url(order.id),
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
