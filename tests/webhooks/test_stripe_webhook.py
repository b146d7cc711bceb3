"""`POST /webhooks/stripe` end to end: the Stripe emulator delivers signed events from the real
SDK's sessions to the real aiohttp server, which applies them to a ledger on a real file."""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ledger import PAYABLE_GRID, Ledger, stripe_state
from sandbox.stripe_webhooks import sign_payload
from tests.webhooks.harness import ADMINS, SECRET, Shop, running_shop


@pytest.fixture
async def shop(ledger: Ledger) -> AsyncIterator[Shop]:
    async with running_shop(ledger) as s:
        yield s


async def order_state(shop: Shop, order_id: int) -> str:
    return (await shop.ledger.get_order(order_id)).state


async def test_pay_credits_once_and_tells_the_user(shop: Shop) -> None:
    order = await shop.order(amount=1250)
    sid = await shop.pay(order)
    assert await shop.available() == 1250
    assert await order_state(shop, order.id) == "paid"
    payment = await shop.ledger.get_payment("stripe", sid)
    assert payment is not None and payment.amount == 1250 and payment.order_id == order.id
    told = await shop.notifications(42)
    assert len(told) == 1 and "12.50 TFC of credits, paid with 12.50 TFC by card (Stripe)" in told[0].text
    shop.emu.redeliver(shop.emu.events("checkout.session.completed")[0]["id"])
    await shop.emu.wait_for_deliveries()
    assert await shop.available() == 1250 and await shop.payment_count() == 1
    assert len(await shop.notifications(42)) == 1
    assert all(a.ok for a in shop.emu.delivery_attempts)


async def test_a_redelivery_is_answered_200_from_a_read_without_stripe_or_a_write(
        shop: Shop) -> None:
    order = await shop.order(amount=700)
    await shop.collect_only()
    shop.emu.pay_session(await shop.session_of(order))
    [event] = shop.emu.events("checkout.session.completed")
    assert await shop.post_event(event) == 200
    assert await shop.available() == 700
    asked, writes = len(shop.emu.requests), shop.ledger.store.batches_committed
    assert await shop.post_event(event) == 200
    assert len(shop.emu.requests) == asked  # nothing read back from Stripe
    assert shop.ledger.store.batches_committed == writes  # no write transaction
    assert await shop.available() == 700 and await shop.payment_count() == 1
    assert len(await shop.notifications(42)) == 1


async def test_a_redelivery_this_instance_applied_is_answered_without_reading_the_ledger(
        shop: Shop) -> None:
    from core.metrics import LEDGER_READ_WAIT_SECONDS

    def reads() -> float:  # every ledger read observes its wait once
        return next(s.value for m in LEDGER_READ_WAIT_SECONDS.collect() for s in m.samples
                    if s.name.endswith("_count"))

    order = await shop.order(amount=800)
    await shop.collect_only()
    shop.emu.pay_session(await shop.session_of(order))
    [event] = shop.emu.events("checkout.session.completed")
    assert await shop.post_event(event) == 200
    before = reads()
    for _ in range(3):
        assert await shop.post_event(event) == 200
    assert reads() == before
    assert await shop.available() == 800 and await shop.payment_count() == 1


async def test_duplicated_delayed_reordered_deliveries_credit_once(shop: Shop) -> None:
    shop.emu.set_delivery_options(duplicate_deliveries=True, reorder=True, delay_seconds=0.05)
    orders = [await shop.order(user_id=100 + i, amount=500 + i) for i in range(5)]
    for order in orders:
        shop.emu.pay_session(await shop.session_of(order))
    await shop.emu.wait_for_deliveries()
    for event in shop.emu.events("checkout.session.completed"):
        shop.emu.redeliver(event["id"])
    await shop.emu.wait_for_deliveries()
    for i in range(len(orders)):
        assert await shop.available(100 + i) == 500 + i
    assert await shop.payment_count() == 5
    assert (await shop.ledger.audit()).ok


@pytest.mark.parametrize("seed", range(4))
async def test_every_event_three_times_in_random_order_gives_exact_balances(
    shop: Shop, seed: int
) -> None:
    """A paid order, a partial refund, then the rest refunded; another paid and disputed; a
    third paid and untouched. All events, three times each, shuffled: the same end state."""
    a = await shop.order(user_id=1, amount=2000)
    b = await shop.order(user_id=2, amount=3000)
    c = await shop.order(user_id=3, amount=700)
    await shop.collect_only()  # deliver the events ourselves
    sa, sb, sc = [await shop.session_of(o) for o in (a, b, c)]
    for sid in (sa, sb, sc):
        shop.emu.pay_session(sid)
    shop.emu.refund_payment(shop.charge_of(sa), amount=500)
    shop.emu.refund_payment(shop.charge_of(sa))
    shop.emu.dispute_payment(shop.charge_of(sb))
    events = shop.emu.events() * 3
    random.Random(seed).shuffle(events)
    for event in events:
        assert await shop.post_event(event) == 200
    assert (await shop.posted(1), await shop.posted(2), await shop.posted(3)) == (0, 0, 700)
    assert await shop.payment_count() == 3
    assert await shop.ledger.read(lambda conn: stripe_state.account_flag(conn, 2)) is not None
    assert (await shop.ledger.audit()).ok


async def test_forged_missing_stale_and_tampered_signatures_are_refused(shop: Shop) -> None:
    order = await shop.order(amount=900)
    await shop.collect_only()
    sid = await shop.session_of(order)
    shop.emu.pay_session(sid)
    event = shop.emu.events("checkout.session.completed")[0]
    assert await shop.post_event(event, secret="whsec_forged") == 400
    assert await shop.post_event(event, timestamp=int(time.time()) - 301) == 400
    assert await shop.post_raw(b'{"id": "evt_x"}', {}) == 400
    body = json.dumps(event).encode()
    header = sign_payload(body, SECRET)
    tampered = copy.deepcopy(event)
    tampered["data"]["object"]["amount_total"] = 1
    assert await shop.post_raw(json.dumps(tampered).encode(), {"Stripe-Signature": header}) == 400
    malformed = b'{"id": "evt_1", "type": '
    assert await shop.post_raw(malformed, {"Stripe-Signature": sign_payload(malformed, SECRET)}) == 400
    assert await shop.available() == 0 and await shop.payment_count() == 0
    assert await shop.kept() == [] and await shop.notifications() == []
    assert await order_state(shop, order.id) == "open"
    assert await shop.post_raw(body, {"Stripe-Signature": header}) == 200
    assert await shop.available() == 900


async def test_oversized_body_is_413(shop: Shop) -> None:
    body = b'{"pad": "' + b"x" * (256 * 1024) + b'"}'
    assert await shop.post_raw(body, {"Stripe-Signature": sign_payload(body, SECRET)}) == 413
    assert await shop.kept() == []


async def test_async_payment_success_credits_after_settlement(shop: Shop) -> None:
    order = await shop.order(amount=4000)
    sid = await shop.session_of(order)
    shop.emu.pay_session(sid, "async_pending")
    await shop.emu.wait_for_deliveries()
    assert await shop.available() == 0 and await order_state(shop, order.id) == "open"
    shop.emu.settle_async_payment(sid, succeeded=True)
    await shop.emu.wait_for_deliveries()
    assert await shop.available() == 4000 and await order_state(shop, order.id) == "paid"


async def test_async_payment_failure_fails_the_order_and_tells_the_user(shop: Shop) -> None:
    order = await shop.order(amount=4000)
    await shop.pay(order, "async_failed")
    assert await shop.available() == 0 and await order_state(shop, order.id) == "failed"
    told = await shop.notifications(42)
    assert len(told) == 1 and "failed" in told[0].text


async def test_expired_session_expires_the_order_but_never_unpays(shop: Shop) -> None:
    order = await shop.order(amount=800)
    sid = await shop.session_of(order)
    shop.emu.expire_session(sid)
    await shop.emu.wait_for_deliveries()
    assert await order_state(shop, order.id) == "expired"

    paid = await shop.order(amount=800)
    psid = await shop.pay(paid)
    late = copy.deepcopy(shop.emu.events("checkout.session.completed")[0])
    late["id"], late["type"] = "evt_late_expired", "checkout.session.expired"
    late["data"]["object"].update(status="expired", payment_status="unpaid")
    assert late["data"]["object"]["id"] == psid
    assert await shop.post_event(late) == 200
    assert await order_state(shop, paid.id) == "paid" and await shop.available() == 800


async def test_refunds_partial_full_and_replayed_claw_back_once_into_debt(shop: Shop) -> None:
    order = await shop.order(amount=2000)
    sid = await shop.pay(order)
    account = await shop.ledger.user_account(42)
    await shop.ledger.transfer("spend-1", account, PAYABLE_GRID, 1500, kind="test")
    charge = shop.charge_of(sid)
    shop.emu.refund_payment(charge, amount=300)
    await shop.emu.wait_for_deliveries()
    assert await shop.posted() == 200
    shop.emu.refund_payment(charge)  # the remaining 1700
    await shop.emu.wait_for_deliveries()
    for event in shop.emu.events("charge.refunded"):
        shop.emu.redeliver(event["id"])
    await shop.emu.wait_for_deliveries()
    balance = await shop.ledger.balance(42)
    assert balance.posted == -1500 and balance.debt == 1500
    payment = await shop.ledger.get_payment("stripe", sid)
    assert payment is not None and payment.refunded == 2000
    assert any("debt" in n.text for n in await shop.notifications(42))
    assert {n.chat_id for n in await shop.notifications()} >= set(ADMINS)
    assert (await shop.ledger.audit()).ok


async def test_dispute_claws_back_flags_the_user_and_tells_admins(shop: Shop) -> None:
    order = await shop.order(amount=2500)
    sid = await shop.pay(order)
    shop.emu.dispute_payment(sid)
    await shop.emu.wait_for_deliveries()
    shop.emu.redeliver(shop.emu.events("charge.dispute.created")[0]["id"])
    await shop.emu.wait_for_deliveries()
    assert await shop.posted() == 0
    flag = await shop.ledger.read(lambda conn: stripe_state.account_flag(conn, 42))
    assert flag is not None and "dispute" in flag
    told = [n for n in await shop.notifications() if n.chat_id in ADMINS]
    assert len(told) == len(ADMINS) and all("dispute" in n.text for n in told)


async def test_amount_mismatch_is_not_credited_but_kept_and_flagged(shop: Shop) -> None:
    order = await shop.order(amount=1000)
    session = await shop.checkout.client.v1.checkout.sessions.create_async(params={
        "mode": "payment", "success_url": "https://t.me/GridShopBot",
        "client_reference_id": str(order.id),
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "usd", "unit_amount": 100, "product_data": {"name": "cheap"}}}],
    })
    shop.emu.pay_session(session.id)
    await shop.emu.wait_for_deliveries()
    assert await shop.available() == 0 and await shop.payment_count() == 0
    kept = await shop.kept()
    assert len(kept) == 1 and "amount 100 instead of 1000" in kept[0].reason
    ref = await shop.ledger.read(lambda conn: stripe_state.order_ref(conn, order.id))
    assert ref is not None and ref.flag is not None and "mismatch" in ref.flag
    assert {n.chat_id for n in await shop.notifications()} == set(ADMINS)


async def test_unknown_order_is_200_and_kept(shop: Shop) -> None:
    session = await shop.checkout.client.v1.checkout.sessions.create_async(params={
        "mode": "payment", "success_url": "https://t.me/GridShopBot",
        "client_reference_id": "999999",
        "line_items": [{"quantity": 1, "price_data": {
            "currency": "usd", "unit_amount": 1000, "product_data": {"name": "x"}}}],
    })
    shop.emu.pay_session(session.id)
    await shop.emu.wait_for_deliveries()
    assert all(a.ok for a in shop.emu.delivery_attempts)
    kept = await shop.kept()
    assert [k.kind for k in kept] == ["checkout.session.completed"]
    assert "unknown order 999999" in kept[0].reason


async def test_unknown_event_type_is_200_and_ignored(shop: Shop) -> None:
    event = {"id": "evt_customer", "object": "event", "type": "customer.created",
             "data": {"object": {"id": "cus_1", "object": "customer"}}}
    assert await shop.post_event(event) == 200
    assert await shop.kept() == [] and await shop.notifications() == []


async def test_crash_between_commit_and_2xx_then_retry_is_a_no_op(ledger: Ledger) -> None:
    crashed: list[str] = []

    @web.middleware
    async def crash_after_commit(request: web.Request, handler: web.Handler) -> web.StreamResponse:
        response = await handler(request)  # the ledger write has committed here
        if request.path == "/webhooks/stripe" and not crashed:
            crashed.append("once")
            raise web.HTTPInternalServerError()
        return response

    async with running_shop(ledger, middlewares=[crash_after_commit],
                            enabled_events=["checkout.session.completed"]) as shop:
        order = await shop.order(amount=1100)
        await shop.pay(order)
        statuses = [a.status for a in shop.emu.delivery_attempts]
        assert statuses == [500, 200]
        assert await shop.available() == 1100 and await shop.payment_count() == 1
        assert len(await shop.notifications(42)) == 1


async def test_buy_now_places_the_purchase_in_the_same_transaction(shop: Shop) -> None:
    order = await shop.order(amount=400, service="vm-small", buy_now=True)
    await shop.pay(order)
    assert await order_state(shop, order.id) == "placed"
    balance = await shop.ledger.balance(42)
    assert (balance.posted, balance.held, balance.available) == (400, 400, 0)
    deployments = await shop.ledger.read(
        lambda conn: conn.execute("SELECT count(*) FROM deployments").fetchone()[0])
    assert deployments == 1


async def test_refund_event_before_completed_credits_then_claws_back(shop: Shop) -> None:
    order = await shop.order(amount=1500)
    await shop.collect_only()
    sid = await shop.session_of(order)
    shop.emu.pay_session(sid)
    shop.emu.dispute_payment(sid)
    dispute = shop.emu.events("charge.dispute.created")[0]
    assert await shop.post_event(dispute) == 200
    assert await shop.posted() == 0 and await shop.payment_count() == 1
    assert await shop.post_event(shop.emu.events("checkout.session.completed")[0]) == 200
    assert await shop.posted() == 0 and await shop.payment_count() == 1
