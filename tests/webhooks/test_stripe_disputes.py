"""Disputes and failed refunds follow Stripe's lifecycle, end to end through the emulator's
signed webhooks: an inquiry moves nothing, funds withdrawn are taken back, funds reinstated
(a won chargeback) are given back, a refund that fails or is cancelled gives the credits back
exactly once; the user is told at each step."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from ledger import Ledger, stripe_state
from tests.webhooks.harness import ADMINS, Shop, running_shop


@pytest.fixture
async def shop(ledger: Ledger) -> AsyncIterator[Shop]:
    async with running_shop(ledger) as s:
        yield s


async def user_texts(shop: Shop) -> list[str]:
    return [n.text for n in await shop.notifications(42)]


async def redeliver_all(shop: Shop) -> None:
    for event in shop.emu.events():
        shop.emu.redeliver(event["id"])
    await shop.emu.wait_for_deliveries()


async def test_inquiry_moves_nothing_and_tells_the_user(shop: Shop) -> None:
    sid = await shop.pay(await shop.order(amount=2500))
    dispute = shop.emu.dispute_payment(sid, inquiry=True)
    await shop.emu.wait_for_deliveries()
    assert await shop.posted() == 2500
    assert any("Your bank asked us" in t for t in await user_texts(shop))
    flag = await shop.ledger.read(lambda conn: stripe_state.account_flag(conn, 42))
    assert flag is not None and dispute["id"] in flag
    shop.emu.close_dispute(dispute["id"], won=True)
    await redeliver_all(shop)
    assert await shop.posted() == 2500
    texts = await user_texts(shop)
    assert sum("inquiry about your card payment" in t for t in texts) == 1
    assert {n.chat_id for n in await shop.notifications()} >= set(ADMINS)
    assert (await shop.ledger.audit()).ok


async def test_chargeback_won_takes_back_then_gives_back_once(shop: Shop) -> None:
    sid = await shop.pay(await shop.order(amount=2500))
    dispute = shop.emu.dispute_payment(sid)
    await shop.emu.wait_for_deliveries()
    assert await shop.posted() == 0
    assert any("25.00 TFC taken off your balance" in t for t in await user_texts(shop))
    shop.emu.close_dispute(dispute["id"], won=True)
    await shop.emu.wait_for_deliveries()
    await redeliver_all(shop)
    assert await shop.posted() == 2500
    texts = await user_texts(shop)
    assert sum("25.00 TFC credited again" in t for t in texts) == 1
    payment = await shop.ledger.get_payment("stripe", sid)
    assert payment is not None and payment.refunded == 0
    assert (await shop.ledger.audit()).ok


async def test_chargeback_lost_keeps_the_credits_taken_back(shop: Shop) -> None:
    sid = await shop.pay(await shop.order(amount=2500))
    dispute = shop.emu.dispute_payment(sid)
    shop.emu.close_dispute(dispute["id"], won=False)
    await shop.emu.wait_for_deliveries()
    await redeliver_all(shop)
    assert await shop.posted() == 0
    assert any("decided for the cardholder" in t for t in await user_texts(shop))
    assert (await shop.ledger.audit()).ok


@pytest.mark.parametrize("seed", range(3))
async def test_dispute_events_in_any_order_end_in_the_same_state(shop: Shop, seed: int) -> None:
    sid = await shop.pay(await shop.order(amount=2500))
    await shop.collect_only()
    dispute = shop.emu.dispute_payment(sid)
    shop.emu.close_dispute(dispute["id"], won=True)
    events = [e for e in shop.emu.events() if e["type"].startswith("charge.dispute.")] * 2
    random.Random(seed).shuffle(events)
    for event in events:
        assert await shop.post_event(event) == 200
    assert await shop.posted() == 2500
    assert (await shop.ledger.audit()).ok


@pytest.mark.parametrize("status", ["failed", "canceled"])
async def test_failed_refund_gives_the_credits_back_once(shop: Shop, status: str) -> None:
    sid = await shop.pay(await shop.order(amount=2000))
    charge = shop.charge_of(sid)
    refund = shop.emu.refund_payment(charge, amount=800)
    await shop.emu.wait_for_deliveries()
    assert await shop.posted() == 1200
    shop.emu.fail_refund(refund["id"], status)
    await shop.emu.wait_for_deliveries()
    await redeliver_all(shop)
    assert await shop.posted() == 2000
    texts = await user_texts(shop)
    assert sum("could not be completed by your bank" in t for t in texts) == 1
    payment = await shop.ledger.get_payment("stripe", sid)
    assert payment is not None and payment.refunded == 0
    # Refunded again for the same amount later: taken back again, once.
    shop.emu.refund_payment(charge, amount=800)
    await shop.emu.wait_for_deliveries()
    await redeliver_all(shop)
    assert await shop.posted() == 1200
    assert (await shop.ledger.audit()).ok


async def test_refund_that_failed_before_its_event_arrived_moves_nothing(shop: Shop) -> None:
    sid = await shop.pay(await shop.order(amount=2000))
    await shop.collect_only()
    refund = shop.emu.refund_payment(shop.charge_of(sid), amount=800)
    shop.emu.fail_refund(refund["id"])
    for event in shop.emu.events():
        if event["type"] in ("charge.refunded", "refund.updated", "charge.refund.updated"):
            assert await shop.post_event(event) == 200
    assert await shop.posted() == 2000
    assert (await shop.ledger.audit()).ok
