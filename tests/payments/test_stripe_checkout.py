"""Checkout Sessions through the real SDK and the Stripe emulator: shape, reuse, idempotency
after a crash, Stripe down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ledger import Ledger, stripe_sessions, stripe_state
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
    assert s["cancel_url"] == f"https://t.me/GridShopBot?start=paid_{order.id}"
    assert s["success_url"] == s["cancel_url"] + "&session_id={CHECKOUT_SESSION_ID}"
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


async def test_a_500_stored_under_the_checkout_key_does_not_block_the_order(shop: Shop) -> None:
    order = await shop.order()
    shop.emu.fail_next("/v1/checkout/sessions")
    url = await shop.checkout.checkout_url(order)  # a new plan, hence a new key, at once
    [s] = sessions(shop)
    assert url == s["url"]
    # The plan the 500 was stored under is never tried again: the next call reuses the session.
    assert await shop.checkout.checkout_url(order) == url and len(sessions(shop)) == 1


async def test_a_500_on_every_try_is_unavailable_then_the_next_tap_works(shop: Shop) -> None:
    order = await shop.order()
    shop.emu.fail_next("/v1/checkout/sessions", times=2)
    with pytest.raises(CheckoutUnavailable):
        await shop.checkout.checkout_url(order)
    url = await shop.checkout.checkout_url(order)
    assert [s["url"] for s in sessions(shop)] == [url]


async def test_a_session_made_behind_a_500_is_found_not_made_twice(shop: Shop) -> None:
    order = await shop.order()
    shop.emu.lose_next_answer("/v1/checkout/sessions")  # made at Stripe, the answer lost
    with pytest.raises(CheckoutUnavailable):
        await shop.checkout.checkout_url(order)
    [made] = sessions(shop)
    ref = await shop.ledger.read(lambda c: stripe_state.order_ref(c, order.id))
    assert ref is not None and ref.provider_ref_expires_at == made["expires_at"]
    # Its key now meets a stored 500 (as when Stripe failed after making it): looked up.
    key = shop.checkout.idempotency_key(order.id, made["expires_at"])
    record = shop.emu._idempotency[key]
    record.status, record.body = 500, b'{"error": {"type": "api_error", "message": "x"}}'
    assert await shop.checkout.checkout_url(order) == made["url"]
    assert len(sessions(shop)) == 1


async def test_a_shop_clock_minutes_behind_stripes_still_makes_sessions(shop: Shop) -> None:
    shop.emu.skew_clock(5 * 60)  # Stripe is 5 minutes ahead of us
    order = await shop.order(amount=500)
    url = await shop.checkout.checkout_url(order)
    [s] = sessions(shop)
    assert url == s["url"] and s["expires_at"] - shop.emu.now() >= 30 * 60
    other = await shop.order(amount=700)
    await shop.checkout.checkout_url(other)  # the clock is known now: no refusal at all
    assert len(sessions(shop)) == 2


async def test_every_session_of_an_order_is_recorded(shop: Shop) -> None:
    order = await shop.order()
    await shop.checkout.checkout_url(order)
    [s] = sessions(shop)
    shop.emu.core.sessions[s["id"]]["status"] = "expired"
    await shop.checkout.checkout_url(order)
    recorded = await shop.ledger.read(lambda c: stripe_sessions.of_order(c, order.id))
    assert [r.session_id for r in recorded] == [x["id"] for x in reversed(sessions(shop))]
