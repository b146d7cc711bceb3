"""An order that stops being open leaves no payable Stripe link behind: its open Checkout
Sessions are expired at Stripe (through the real SDK and the emulator), once, and an unknown
outcome is tried again on the next pass."""

from __future__ import annotations

import pytest

from ledger import Ledger, stripe_sessions
from payments.stripe_session_expiry import StripeSessionExpiry
from sandbox.stripe_api import ControlError
from tests.webhooks.harness import Shop, running_shop


async def pay_with_stars(shop: Shop, order_id: int, amount: int) -> None:
    order = await shop.ledger.get_order(order_id)
    await shop.ledger.record_payment("stars", f"tg-charge-{order_id}", user_id=order.user_id,
                                     amount=amount, provider_amount=amount,
                                     provider_currency="XTR", order_id=order_id)


async def test_order_paid_with_stars_expires_its_stripe_link(ledger: Ledger) -> None:
    async with running_shop(ledger) as shop:
        order = await shop.order(amount=1500)
        sid = await shop.session_of(order)
        await pay_with_stars(shop, order.id, 1500)
        expiry = StripeSessionExpiry(ledger, shop.checkout.client)
        report = await expiry.run_once()
        assert report.expired == [sid]
        assert (shop.emu.get_object(sid) or {})["status"] == "expired"
        with pytest.raises(ControlError):
            shop.emu.pay_session(sid)  # the customer cannot be charged a second time
        assert (await expiry.run_once()).expired == []
        [known] = await ledger.read(lambda c: stripe_sessions.of_order(c, order.id))
        assert known.state == "expired"
        await shop.emu.wait_for_deliveries()
        assert (await ledger.get_order(order.id)).state == "paid"
        assert await shop.available() == 1500


async def test_every_older_link_of_a_paid_order_is_expired(ledger: Ledger) -> None:
    async with running_shop(ledger) as shop:
        order = await shop.order(amount=1500)
        old = await shop.session_of(order)
        second = await shop.checkout._create(order, shop.emu.now() + 3600)
        await ledger.write(lambda c, n: stripe_sessions.record(c, n, order.id, second.id,
                                                               second.expires_at))
        shop.emu.pay_session(second.id)
        await shop.emu.wait_for_deliveries()
        report = await StripeSessionExpiry(ledger, shop.checkout.client).run_once()
        assert report.expired == [old]
        assert await shop.available() == 1500


async def test_unknown_outcome_is_tried_again_and_a_session_paid_meanwhile_is_recorded(
        ledger: Ledger) -> None:
    async with running_shop(ledger, webhook=False) as shop:
        a, b = await shop.order(amount=900), await shop.order(amount=900, user_id=43)
        sa, sb = await shop.session_of(a), await shop.session_of(b)
        await pay_with_stars(shop, a.id, 900)
        await pay_with_stars(shop, b.id, 900)
        shop.emu.pay_session(sb)  # the customer paid the old link before the shop expired it
        expiry = StripeSessionExpiry(ledger, shop.checkout.client)
        shop.emu.fail_next(f"/v1/checkout/sessions/{sa}/expire")
        first = await expiry.run_once()
        assert first.unknown == [sa] and first.closed_meanwhile == [sb]
        assert (shop.emu.get_object(sa) or {})["status"] == "open"
        assert (await expiry.run_once()).expired == [sa]
