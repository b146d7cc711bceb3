"""/refund through the Bot API emulator (Stars: refundStarPayment) and the Stripe emulator (the
Refunds API through the real SDK): in full, in part, asking before creating debt, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import load_secrets
from ledger import adminlog
from ledger.stripe_events import REFUND_KEY as WEBHOOK_REFUND_KEY
from payments.stripe_checkout import make_client
from payments.stripe_refunds import REFUND_KEY
from sandbox.stripe_api import StripeEmulator
from sandbox.telegram_api import TelegramEmulator

from .admin_fixtures import AdminFront, admin_shop, make_front  # noqa: F401  (fixture)
from .conftest import PAYLOAD_SECRET


def test_stripe_refund_keys_match_the_webhook() -> None:
    assert REFUND_KEY == WEBHOOK_REFUND_KEY


async def test_stars_refund_in_full_once(admin_shop: AdminFront) -> None:
    amy = admin_shop.user("Amy")
    charge = await admin_shop.pay_stars(amy, 1000)
    [payment] = await admin_shop.db.payments(amy)
    prompt = await admin_shop.admin_says(f"/refund {payment.id}")
    assert "770 Stars" in prompt.text and "Refund 10.00 TFC" in prompt.buttons[0]["text"]
    data = prompt.buttons[0]["callback_data"]
    await asyncio.gather(admin_shop.press(admin_shop.admin, prompt.message_id, data=data),
                         admin_shop.press(admin_shop.admin, prompt.message_id, data=data))
    done = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "770 Stars refunded by Telegram")
    assert "10.00 TFC of credits taken back" in done.text
    refunds = [c for c in admin_shop.emu.calls if c.method == "refundStarPayment"]
    assert len(refunds) == 1 and refunds[0].ok and refunds[0].params["telegram_payment_charge_id"] == charge
    balance = await admin_shop.db.balance(amy)
    assert (balance.posted, balance.debt) == (0, 0)
    # Telegram's refunded_payment message arrives too: it converges on the same clawback.
    await admin_shop.emu.wait_for(lambda: any(m.data.get("refunded_payment") for m in admin_shop.emu.messages(amy)))
    await asyncio.sleep(0.3)
    assert admin_shop.sql("SELECT count(*), sum(amount) FROM transfers WHERE kind = 'clawback'") == [(1, 1000)]
    assert [e.action for e in await admin_shop.db.read(lambda conn: adminlog.recent(conn))] == ["refund"]
    again = await admin_shop.admin_says(f"/refund {charge}")
    assert "already refunded in full" in again.text
    assert (await admin_shop.db.audit()).ok


async def test_stars_refund_in_part_is_refused_since_telegram_refunds_only_in_full(
        admin_shop: AdminFront) -> None:
    amy = admin_shop.user("Amy")
    await admin_shop.pay_stars(amy, 1000)
    reply = await admin_shop.admin_says("/refund 1 4")
    assert "only in full" in reply.text and not reply.buttons
    assert not [c for c in admin_shop.emu.calls if c.method == "refundStarPayment"]


async def test_stars_refund_of_spent_credits_asks_before_creating_debt(admin_shop: AdminFront) -> None:
    amy = admin_shop.user("Amy")
    await admin_shop.pay_stars(amy, 1000)
    await admin_shop.db.adjust("spend", amy, -600, admin_id=1, reason="spent on a VM")
    prompt = await admin_shop.admin_says("/refund 1")
    assert "already spent" in prompt.text and "debt of 6.00 TFC" in prompt.text
    assert prompt.buttons[0]["callback_data"].endswith(":debt")
    await admin_shop.confirm(prompt)
    done = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "taken back")
    assert "-6.00 TFC (debt)" in done.text
    assert (await admin_shop.db.balance(amy)).debt == 600
    assert (await admin_shop.db.audit()).ok


async def test_refund_that_becomes_debt_after_the_prompt_asks_again(admin_shop: AdminFront) -> None:
    amy = admin_shop.user("Amy")
    await admin_shop.pay_stars(amy, 1000)
    prompt = await admin_shop.admin_says("/refund 1")
    assert prompt.buttons[0]["callback_data"].endswith(":go")
    await admin_shop.db.adjust("spend", amy, -1000, admin_id=1, reason="spent meanwhile")
    await admin_shop.confirm(prompt)
    asked = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "spent meanwhile")
    assert asked.buttons[0]["callback_data"].endswith(":debt")
    assert not [c for c in admin_shop.emu.calls if c.method == "refundStarPayment"]
    await admin_shop.confirm(asked)
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "taken back")
    assert (await admin_shop.db.balance(amy)).debt == 1000


@pytest.fixture
async def stripe_shop(emu: TelegramEmulator, stripe_emulator: StripeEmulator,
                      tmp_path: Path) -> AsyncIterator[AdminFront]:
    front = make_front(emu, tmp_path, stripe=True)
    front.config.stripe.api_base = stripe_emulator.base_url
    front.secrets = load_secrets({"BOT_TOKEN": emu.token, "PAYLOAD_SECRET": PAYLOAD_SECRET,
                                  "STRIPE_SECRET_KEY": stripe_emulator.api_key,
                                  "STRIPE_WEBHOOK_SECRET": "whsec_test"})
    await front.start()
    try:
        yield front
    finally:
        await front.stop()


async def _paid_session(front: AdminFront, stripe_emulator: StripeEmulator, user_id: int, cents: int) -> str:
    client = make_client(stripe_emulator.api_key, stripe_emulator.base_url)
    session = await client.v1.checkout.sessions.create_async(params={
        "mode": "payment", "success_url": "https://t.me/x", "cancel_url": "https://t.me/x",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": cents,
                                                      "product_data": {"name": "credits"}}}],
    })
    stripe_emulator.pay_session(session.id)
    await front.db.record_payment("stripe", session.id, user_id=user_id, amount=cents, provider_amount=cents,
                                  provider_currency="usd")
    return session.id


async def test_stripe_refund_in_part_then_the_rest(stripe_shop: AdminFront, stripe_emulator: StripeEmulator) -> None:
    amy = stripe_shop.user("Amy")
    await stripe_shop.send(amy, "/start")
    session_id = await _paid_session(stripe_shop, stripe_emulator, amy, 2000)
    prompt = await stripe_shop.admin_says(f"/refund {session_id} 7.50")
    assert "7.50 TFC of 20.00 TFC by Stripe" in prompt.text
    data = prompt.buttons[0]["callback_data"]
    await asyncio.gather(stripe_shop.press(stripe_shop.admin, prompt.message_id, data=data),
                         stripe_shop.press(stripe_shop.admin, prompt.message_id, data=data))
    done = await stripe_shop.wait_text(stripe_shop.admin, prompt.message_id, "refunded by Stripe")
    assert "7.50 TFC of credits taken back" in done.text
    refunds = list(stripe_emulator.core.refunds.values())
    assert [r["amount"] for r in refunds] == [750]
    assert (await stripe_shop.db.balance(amy)).available == 1250
    rest = await stripe_shop.admin_says("/refund 1")
    assert "12.50 TFC of 20.00 TFC" in rest.text
    await stripe_shop.confirm(rest)
    await stripe_shop.wait_text(stripe_shop.admin, rest.message_id, "12.50 TFC of credits taken back")
    assert sorted(r["amount"] for r in stripe_emulator.core.refunds.values()) == [750, 1250]
    assert (await stripe_shop.db.balance(amy)).posted == 0
    keys = [k for (k,) in stripe_shop.sql("SELECT key FROM transfers WHERE kind = 'clawback' ORDER BY id")]
    assert keys[0].startswith(REFUND_KEY) and keys[0].endswith(":750") and keys[1].endswith(":2000")
    assert (await stripe_shop.db.audit()).ok


async def test_stripe_refund_made_in_the_dashboard_meanwhile_is_found_not_made_again(
        stripe_shop: AdminFront, stripe_emulator: StripeEmulator) -> None:
    amy = stripe_shop.user("Amy")
    await stripe_shop.send(amy, "/start")
    session_id = await _paid_session(stripe_shop, stripe_emulator, amy, 1000)
    prompt = await stripe_shop.admin_says("/refund 1")
    client = make_client(stripe_emulator.api_key, stripe_emulator.base_url)
    intent = (await client.v1.checkout.sessions.retrieve_async(session_id)).payment_intent
    stripe_emulator.refund_payment(str(intent), None, None)  # refunded in the dashboard meanwhile
    await stripe_shop.confirm(prompt)
    done = await stripe_shop.wait_text(stripe_shop.admin, prompt.message_id, "earlier try")
    assert "10.00 TFC of credits taken back" in done.text
    assert len(stripe_emulator.core.refunds) == 1
    assert (await stripe_shop.db.balance(amy)).posted == 0


async def test_stripe_refund_refused_by_stripe_takes_nothing_back(
        stripe_shop: AdminFront, stripe_emulator: StripeEmulator) -> None:
    amy = stripe_shop.user("Amy")
    await stripe_shop.send(amy, "/start")
    session_id = await _paid_session(stripe_shop, stripe_emulator, amy, 1000)
    prompt = await stripe_shop.admin_says("/refund 1")
    stripe_emulator.dispute_payment(session_id)  # a disputed charge cannot be refunded
    await stripe_shop.confirm(prompt)
    failed = await stripe_shop.wait_text(stripe_shop.admin, prompt.message_id, "Refund refused")
    assert "nothing was taken back" in failed.text
    assert (await stripe_shop.db.balance(amy)).available == 1000
    assert [e.action for e in await stripe_shop.db.read(lambda conn: adminlog.recent(conn))] == ["refund.failed"]


async def test_stripe_refund_with_a_lost_answer_is_pending_then_found_never_made_twice(
        stripe_shop: AdminFront, stripe_emulator: StripeEmulator) -> None:
    amy = stripe_shop.user("Amy")
    await stripe_shop.send(amy, "/start")
    await _paid_session(stripe_shop, stripe_emulator, amy, 2000)
    # Stripe refunds; its answer never comes, nor the answer to the SDK's own retry.
    stripe_emulator.lose_next_answer("/v1/refunds", times=2)
    prompt = await stripe_shop.admin_says("/refund 1 5")
    await stripe_shop.confirm(prompt)
    pending = await stripe_shop.wait_text(stripe_shop.admin, prompt.message_id, "not known yet")
    assert "refused" not in pending.text.lower()
    assert [r["amount"] for r in stripe_emulator.core.refunds.values()] == [500]
    again = await stripe_shop.admin_says("/refund 1 5")  # a new admin request, same payment
    await stripe_shop.confirm(again)
    done = await stripe_shop.wait_text(stripe_shop.admin, again.message_id, "earlier try")
    assert "5.00 TFC of credits taken back" in done.text
    assert [r["amount"] for r in stripe_emulator.core.refunds.values()] == [500]
    assert (await stripe_shop.db.balance(amy)).posted == 1500
    assert (await stripe_shop.db.audit()).ok


async def test_stripe_refund_after_a_stored_500_is_made_once_under_the_next_key(
        stripe_shop: AdminFront, stripe_emulator: StripeEmulator) -> None:
    amy = stripe_shop.user("Amy")
    await stripe_shop.send(amy, "/start")
    await _paid_session(stripe_shop, stripe_emulator, amy, 2000)
    stripe_emulator.fail_next("/v1/refunds")  # stored under the key, replayed to the SDK's retry
    prompt = await stripe_shop.admin_says("/refund 1 5")
    await stripe_shop.confirm(prompt)
    await stripe_shop.wait_text(stripe_shop.admin, prompt.message_id, "5.00 TFC refunded by Stripe")
    assert [r["amount"] for r in stripe_emulator.core.refunds.values()] == [500]
    assert (await stripe_shop.db.balance(amy)).posted == 1500
