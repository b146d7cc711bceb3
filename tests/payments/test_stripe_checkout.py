"""Checkout Sessions through the real SDK and the Stripe emulator: shape, reuse, idempotency
after a crash, Stripe down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ledger import Ledger, stripe_state
from payments.stripe_checkout import CLOCK_SLACK_S, CheckoutUnavailable, OrderNotPayable
from tests.webhooks.harness import Shop, running_shop


@pytest.fixture
async def shop(ledger: Ledger) -> AsyncIterator[Shop]:
    async with running_shop(ledger) as s:
        yield s


def sessions(shop: Shop) -> list[dict]:
    return list(shop.emu.core.sessions.values())


async def test_session_shape(shop: Shop) -> None:
    order = await shop.order(user_id=42, amount=1234)
    url = await shop.checkout.checkout_url(order)
    [s] = sessions(shop)
    assert url == s["url"] and s["status"] == "open" and s["mode"] == "payment"
    assert s["amount_total"] == 1234 and s["currency"] == "usd"
    assert s["client_reference_id"] == str(order.id)
    assert s["metadata"] == {"order_id": str(order.id), "telegram_user_id": "42"}
    assert s["success_url"] == f"https://t.me/GridShopBot?start=paid_{order.id}"
    assert s["cancel_url"] == s["success_url"]
    # At least Stripe's 30 minutes when the call lands, even a little late by its own clock.
    assert 30 * 60 < s["expires_at"] - s["created"] <= 30 * 60 + CLOCK_SLACK_S
    ref = await shop.ledger.read(lambda c: stripe_state.order_ref(c, order.id))
    assert ref is not None and (ref.provider_ref, ref.provider_ref_expires_at) == (s["id"], s["expires_at"])


async def test_valid_session_is_reused(shop: Shop) -> None:
    order = await shop.order()
    first = await shop.checkout.checkout_url(order)
    assert await shop.checkout.checkout_url(order) == first
    assert len(sessions(shop)) == 1


async def test_crash_after_create_reuses_the_session_through_the_idempotency_key(shop: Shop) -> None:
    order = await shop.order()
    await shop.checkout.checkout_url(order)
    [s] = sessions(shop)
    # As if we crashed after Stripe answered but before the session id was stored.
    await shop.ledger.write(lambda c, n: stripe_state.set_provider_ref(c, n, order.id, None, s["expires_at"]))
    again = await shop.checkout.checkout_url(order)
    assert again == s["url"] and len(sessions(shop)) == 1


async def test_expired_session_is_replaced(shop: Shop) -> None:
    order = await shop.order()
    await shop.checkout.checkout_url(order)
    [old] = sessions(shop)
    shop.emu.core.sessions[old["id"]]["status"] = "expired"  # expired early, event not delivered yet
    url = await shop.checkout.checkout_url(order)
    assert url != old["url"] and len(sessions(shop)) == 2


async def test_paid_order_is_not_payable_again(shop: Shop) -> None:
    order = await shop.order()
    await shop.pay(order)
    with pytest.raises(OrderNotPayable):
        await shop.checkout.checkout_url(await shop.ledger.get_order(order.id))


async def test_stripe_down_raises_checkout_unavailable_and_the_order_stays_open(shop: Shop) -> None:
    order = await shop.order()
    await shop.emu.stop()
    with pytest.raises(CheckoutUnavailable) as caught:
        await shop.checkout.checkout_url(order)
    assert "try again" in caught.value.user_message
    assert (await shop.ledger.get_order(order.id)).state == "open"
    assert await shop.available() == 0


async def test_stripe_refusing_raises_checkout_unavailable(shop: Shop) -> None:
    order = await shop.order(amount=10)  # under Stripe's 0.50 USD minimum
    with pytest.raises(CheckoutUnavailable):
        await shop.checkout.checkout_url(order)
    assert sessions(shop) == []


async def test_a_session_is_created_even_when_the_call_reaches_stripe_late(shop: Shop) -> None:
    # Stripe checks the 30-minute minimum against its own clock when the call arrives: a call
    # that lands half a minute after we planned it must still be accepted.
    shop.emu.advance_clock(30)
    order = await shop.order(user_id=42, amount=500)
    url = await shop.checkout.checkout_url(order)
    [s] = sessions(shop)
    assert url == s["url"] and s["status"] == "open"
