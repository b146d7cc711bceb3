"""Reconciliation: events Stripe failed to deliver, and sessions of open orders, are applied once."""

from __future__ import annotations

from ledger import Ledger
from ledger.stripe_events import Policy
from payments.stripe_reconcile import RESCAN_S, StripeReconciler
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


async def test_one_event_that_cannot_be_applied_never_stops_the_ones_after_it(
        ledger: Ledger) -> None:
    async with running_shop(ledger) as shop:
        shop.emu.deliverer.url = f"{shop.url}/nowhere"  # type: ignore[union-attr]
        first, second = await shop.order(amount=1000), await shop.order(amount=700, user_id=43)
        stuck = await shop.pay(first)
        await shop.pay(second)
        # Stripe keeps failing to show the first session: its event cannot be applied now.
        shop.emu.fail_next(f"/v1/checkout/sessions/{stuck}", method="GET", times=2)
        reconciler = StripeReconciler(ledger, shop.checkout.client)
        report = await reconciler.run_once()
        assert report.events.get("credited") == 1 and await shop.available(43) == 700
        assert await shop.available(42) == 0 and any(stuck[:12] in e or "evt_" in e
                                                      for e in report.errors)
        again = await reconciler.run_once()  # the cursor held back: the stuck one is met again
        assert again.credited() == 1 and await shop.available(42) == 1000
        assert again.skipped >= 1  # the second order's event is not applied twice


async def test_events_are_listed_by_type_from_a_stored_cursor_and_applied_ones_skipped(
        ledger: Ledger) -> None:
    async with running_shop(ledger) as shop:
        shop.emu.deliverer.url = f"{shop.url}/nowhere"  # type: ignore[union-attr]
        await shop.pay(await shop.order(amount=1000))
        reconciler = StripeReconciler(ledger, shop.checkout.client)
        first = await reconciler.run_once()
        assert first.credited() == 1 and first.cursor is not None
        listed = [q for m, q in shop.emu.requests if q.startswith("/v1/events")]
        assert listed and "types" in listed[-1] and "checkout.session.completed" in listed[-1]
        assert "created" in listed[-1] and "delivery_success=false" in listed[-1]
        second = await reconciler.run_once()
        assert second.events == {} and second.skipped == 1 and second.cursor >= first.cursor
        assert str(first.cursor - RESCAN_S) in [q for m, q in shop.emu.requests
                                                if q.startswith("/v1/events")][-1]
        assert await shop.available() == 1000 and await shop.payment_count() == 1
