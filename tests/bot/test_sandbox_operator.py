"""The sandbox's operator panel acts on the running shop: moving the clock on brings a VM's
expiry warning and then its removal, as the shop's own periods job does, and bad panel input is
refused and changes nothing. Driven over the web chat's HTTP API and the emulator's control
surface, without a browser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.sandbox_cmd import Sandbox
from bot.sandbox_config import BUYER_ID
from sandbox.telegram_api import TelegramEmulator

DAY = 86_400


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(tmp_path, port=0)
    await box.start()
    assert box.grid is not None
    box.grid.latency_s = 0.2
    try:
        yield box
    finally:
        await box.stop()


async def tap(tg: TelegramEmulator, user: int, label: str) -> None:
    """Press the button containing `label` on the bot's latest message that has one."""
    def found() -> tuple[int, str] | None:
        for message in reversed(tg.bot_messages(user)):
            for button in message.buttons:
                if label in button["text"] and "callback_data" in button:
                    return message.message_id, button["text"]
        return None
    message_id, text = await tg.wait_for(found, timeout=20)
    await tg.press_button(user, message_id, text=text)


async def said(tg: TelegramEmulator, user: int, needle: str) -> str:
    return (await tg.wait_for(lambda: next((m.text for m in tg.bot_messages(user)
                                            if needle in (m.text or "")), None), timeout=20))


async def post(sandbox: Sandbox, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url + path.lstrip("/"), json=body) as resp:
            return resp.status, await resp.json()


async def test_moving_the_clock_on_warns_then_removes_an_unrenewed_vm(sandbox: Sandbox) -> None:
    tg = sandbox.telegram
    assert tg is not None
    await tg.send_text(BUYER_ID, "/buy")
    await tap(tg, BUYER_ID, "Small VM")
    await tap(tg, BUYER_ID, "Buy for 4.00 TFC")
    await tap(tg, BUYER_ID, "Stars")
    invoice = await tg.wait_for(lambda: next((m for m in tg.bot_messages(BUYER_ID) if m.invoice), None), 20)
    assert (await tg.pay_invoice(BUYER_ID, invoice.message_id)).paid
    await said(tg, BUYER_ID, "is ready.")
    assert not any("expires on" in (m.text or "") for m in tg.bot_messages(BUYER_ID))

    assert await post(sandbox, "/api/operator/clock", {"seconds": 27 * DAY}) == (200, {"ok": True})
    warning = await said(tg, BUYER_ID, "expires on")
    assert "auto-renew is off" in warning

    assert (await post(sandbox, "/api/operator/clock", {"seconds": 3 * DAY + 60}))[0] == 200
    await said(tg, BUYER_ID, "was removed from the grid")
    async with aiohttp.ClientSession() as http:
        async with http.get(sandbox.url + "api/state") as resp:
            assert resp.status == 200


@pytest.mark.parametrize(("path", "body"), [
    ("/api/operator/grid", {"latency_s": -1, "failure_rate": 0}),
    ("/api/operator/grid", {"latency_s": 1, "failure_rate": 1.5}),
    ("/api/operator/grid", {"latency_s": "soon", "failure_rate": 0}),
    ("/api/operator/clock", {"seconds": -DAY}),
    ("/api/operator/clock", {"seconds": 10_000 * DAY}),
    ("/api/chats/42/send", {"text": "/start"}),
    ("/api/chats/6000000002/send", {"text": "   "}),
])
async def test_bad_panel_input_is_refused_and_changes_nothing(sandbox: Sandbox, path: str,
                                                              body: dict[str, Any]) -> None:
    assert sandbox.grid is not None
    before = (sandbox.grid.latency_s, sandbox.grid.failure_rate, sandbox.clock.offset_s)
    status, answer = await post(sandbox, path, body)
    assert status == 400 and answer["error"]
    assert (sandbox.grid.latency_s, sandbox.grid.failure_rate, sandbox.clock.offset_s) == before
    assert sandbox.telegram is not None and sandbox.telegram.messages(BUYER_ID) == []


async def stripe_top_up(sandbox: Sandbox, user: int) -> str:
    """The user tops up 10 TFC on the Stripe Checkout page with 4242...; returns the charge id."""
    tg, stripe = sandbox.telegram, sandbox.stripe
    assert tg is not None and stripe is not None
    await tg.send_text(user, "/topup")
    await tap(tg, user, "10.00 TFC")
    await tap(tg, user, "Pay with Stripe")
    url = await tg.wait_for(lambda: next((b["url"] for m in tg.bot_messages(user) for b in m.buttons
                                          if "url" in b), None), timeout=20)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"method": "card", "number": "4242424242424242",
                                        "expiry": "12/34", "cvc": "123"}) as resp:
            assert resp.status == 200
    await said(tg, user, "paid with 10.00 TFC by card (Stripe)")
    [charge] = stripe.charges()
    return str(charge["id"])


async def test_a_refund_from_the_stripe_dashboard_takes_the_credits_back(sandbox: Sandbox) -> None:
    charge = await stripe_top_up(sandbox, BUYER_ID)
    status, refund = await post(sandbox, "/api/stripe/refund", {"charge": charge})
    assert status == 200 and refund["amount"] == 1000
    assert sandbox.telegram is not None
    await said(sandbox.telegram, BUYER_ID, "10.00 TFC returned to your card and taken off your balance")
    assert (await post(sandbox, "/api/stripe/refund", {"charge": charge}))[0] == 400  # nothing left


async def test_a_chargeback_from_the_stripe_dashboard_follows_its_lifecycle(sandbox: Sandbox) -> None:
    charge = await stripe_top_up(sandbox, BUYER_ID)
    tg, stripe, config = sandbox.telegram, sandbox.stripe, sandbox.config
    assert tg is not None and stripe is not None and config is not None
    assert (await post(sandbox, "/api/stripe/dispute", {"charge": charge}))[0] == 200
    await said(tg, BUYER_ID, "which took the money back: 10.00 TFC taken off")
    [admin] = config.admin.user_ids
    await said(tg, admin, "Stripe dispute")
    [dispute] = stripe.disputes()
    assert (await post(sandbox, "/api/stripe/dispute/close", {"dispute": dispute["id"], "won": True}))[0] == 200
    await said(tg, BUYER_ID, "money came back: 10.00 TFC credited again")
    status, answer = await post(sandbox, "/api/stripe/dispute/close", {"dispute": dispute["id"], "won": False})
    assert status == 400 and "already" in answer["error"]


async def test_a_refund_the_bank_returns_gives_the_credits_back(sandbox: Sandbox) -> None:
    charge = await stripe_top_up(sandbox, BUYER_ID)
    assert sandbox.telegram is not None
    refund = (await post(sandbox, "/api/stripe/refund", {"charge": charge}))[1]
    await said(sandbox.telegram, BUYER_ID, "10.00 TFC returned to your card")
    assert (await post(sandbox, "/api/stripe/refund/fail", {"refund": refund["id"]}))[0] == 200
    await said(sandbox.telegram, BUYER_ID, "could not be completed by your bank")


async def test_a_kept_folder_brings_back_balances_and_added_users(tmp_path: Path) -> None:
    async with Sandbox(tmp_path, port=0) as first:
        status, linus = await post(first, "/api/users", {"first_name": "Linus"})
        assert status == 200
        await stripe_top_up(first, linus["id"])
    async with Sandbox(tmp_path, port=0) as again:
        async with aiohttp.ClientSession() as http:
            async with http.get(again.url + "api/state") as resp:
                users = (await resp.json())["users"]
        assert [u["first_name"] for u in users] == ["Ada", "Grace", "Linus"]
        assert again.telegram is not None
        sent = await again.telegram.send_text(linus["id"], "/balance")
        reply = await again.telegram.wait_for_bot_message(linus["id"], after_message_id=sent["message_id"],
                                                          timeout=20)
        assert "10.00 TFC" in (reply.text or "")
        assert (await post(again, "/api/users", {"first_name": "Mia"}))[1]["id"] != linus["id"]
