"""Reconciliation: events Stripe failed to deliver, and sessions of open orders, are applied once."""

from __future__ import annotations

from ledger import Ledger
from payments.stripe_events import Policy
from payments.stripe_reconcile import StripeReconciler
from tests.webhooks.harness import ADMINS, running_shop


async def test_missed_event_is_credited_once(ledger: Ledger) -> None:
    # The endpoint URL points nowhere useful: every delivery fails (404 on an unknown path).
    async with running_shop(ledger) as shop:
        shop.emu.deliverer.url = f"{shop.url}/nowhere"  # type: ignore[union-attr]
        order = await shop.order(amount=2200)
        await shop.pay(order)
        assert await shop.available() == 0
        reconciler = StripeReconciler(ledger, shop.checkout.client, Policy(admin_ids=ADMINS))
        report = await reconciler.run_once()
        assert report.errors == [] and report.credited() == 1
        assert await shop.available() == 2200
        again = await reconciler.run_once()
        assert again.credited() == 0 and await shop.available() == 2200
        assert await shop.payment_count() == 1


async def test_open_order_session_reread_credits_once(ledger: Ledger) -> None:
    # No webhook endpoint at all: events count as delivered, only the session re-read finds it.
    async with running_shop(ledger, webhook=False) as shop:
        order = await shop.order(amount=900)
        expired = await shop.order(amount=900, user_id=43)
        shop.emu.pay_session(await shop.session_of(order))
        shop.emu.expire_session(await shop.session_of(expired))
        reconciler = StripeReconciler(ledger, shop.checkout.client)
        report = await reconciler.run_once()
        assert report.sessions == {"credited": 1, "expired": 1}
        assert await shop.available() == 900
        assert (await ledger.get_order(expired.id)).state == "expired"
        assert (await reconciler.run_once()).credited() == 0
        assert await shop.available() == 900 and await shop.payment_count() == 1


async def test_stripe_down_is_reported_not_raised(ledger: Ledger) -> None:
    async with running_shop(ledger) as shop:
        order = await shop.order()
        await shop.session_of(order)
        await shop.emu.stop()
        report = await StripeReconciler(ledger, shop.checkout.client).run_once()
        assert len(report.errors) == 2 and report.credited() == 0
