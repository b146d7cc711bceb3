"""The Stripe path through the whole shop as `gridshop run` assembles it (`serve`): the bot asks
the Stripe emulator for a Checkout Session, the emulator's signed webhooks reach the shop's own
HTTP server, and the user sees the outcome in the Telegram emulator."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, format_tfc, load_config, load_secrets
from bot.runtime import serve
from handlers import texts
from ledger import Ledger
from sandbox.stripe_api import StripeEmulator
from sandbox.telegram_api import TelegramEmulator

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD_SECRET = "runtime-stripe-test-secret"
API_KEY = "sk_test_runtime_stripe"
WEBHOOK_SECRET = "whsec_runtime_stripe"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO ada@laptop"
SMALL_VM = 400  # cents: vm-small costs 4.00 TFC


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class World:
    config: Config
    tg: TelegramEmulator
    stripe: StripeEmulator


@pytest.fixture
async def tg() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(rate_limit=False)
    await emulator.start()
    yield emulator
    await emulator.stop()


@asynccontextmanager
async def running_shop(tmp_path: Path, tg: TelegramEmulator, *, grid_fails: bool = False,
                       metrics_port: int = 0, **stripe_options: Any) -> AsyncIterator[World]:
    """The shipped config.toml with Stripe on, pointed at both emulators; `serve` runs inside.
    With `grid_fails`, every deployment fails at its first attempt (and is refunded); with a
    `metrics_port`, GET /metrics is served there."""
    config = load_config(ROOT / "config.toml")
    config.database.path = tmp_path / "shop.db"
    config.grid.sim_state_path = tmp_path / "grid.sqlite3"
    config.grid.sim_latency_s = 0.0
    if grid_fails:
        config.grid.sim_failure_rate, config.grid.max_attempts = 1.0, 1
    config.server.port = free_port()
    config.server.metrics_port = metrics_port
    config.telegram.api_base = tg.url
    config.telegram.bot_username = "GridShopTestBot"
    stripe = StripeEmulator(
        webhook_url=f"http://127.0.0.1:{config.server.port}/webhooks/stripe",
        webhook_secret=WEBHOOK_SECRET, api_key=API_KEY, retry_schedule=(0.05, 0.1, 0.2, 0.5),
        **stripe_options,
    )
    config.stripe.enabled = True
    config.stripe.api_base = (await stripe.start()).rstrip("/")
    secrets = load_secrets({"BOT_TOKEN": tg.token, "PAYLOAD_SECRET": PAYLOAD_SECRET,
                            "STRIPE_SECRET_KEY": API_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET})
    stop = asyncio.Event()
    shop = asyncio.create_task(serve(config, secrets, stop))
    try:
        await tg.wait_for(lambda: bool(tg.commands()), timeout=10)
        yield World(config, tg, stripe)
    finally:
        stop.set()
        await asyncio.wait_for(shop, 30)
        await stripe.stop()  # idempotent: a test may have stopped it already


async def audited_ledger(config: Config) -> Ledger:
    """The shop's database, reopened after `serve` returned; the audit must pass."""
    ledger = await Ledger.open(config.database.path)
    report = await ledger.audit()
    assert report.ok, report.violations
    return ledger


# --- chat helpers ------------------------------------------------------------------------------


def texts_of(tg: TelegramEmulator, user: int) -> list[str]:
    return [m.text or "" for m in tg.bot_messages(user)]


def count(tg: TelegramEmulator, user: int, needle: str) -> int:
    return sum(needle in t for t in texts_of(tg, user))


async def press(tg: TelegramEmulator, user: int, message_id: int, label: str, *, exact: bool = False) -> str:
    """Press the button of that message whose text contains (or is) `label`; return the query id."""
    message = next(m for m in tg.bot_messages(user) if m.message_id == message_id)
    text = next(b["text"] for b in message.buttons if (b["text"] == label if exact else label in b["text"]))
    query = await tg.press_button(user, message_id, text=text)
    return query["id"]


async def button_appears(tg: TelegramEmulator, user: int, label: str):  # type: ignore[no-untyped-def]
    """Wait until the bot's last message has a button containing `label`; return the message."""
    await tg.wait_for(lambda: any(label in b["text"] for b in tg.last_bot_message(user).buttons), timeout=10)
    return tg.last_bot_message(user)


async def callback_answer(tg: TelegramEmulator, query_id: str) -> dict[str, Any]:
    return await tg.wait_for(lambda: tg.callback_answer(query_id), timeout=10)


def message_of(tg: TelegramEmulator, user: int, message_id: int) -> Any:
    return next(m for m in tg.bot_messages(user) if m.message_id == message_id)


async def back_to_choices(tg: TelegramEmulator, user: int, order_message: int) -> None:
    """On an order message showing its Stripe link, tap « Other ways to pay (the choices again)."""
    if not any(b["text"] == texts.BTN_PAY_STRIPE for b in message_of(tg, user, order_message).buttons):
        await press(tg, user, order_message, texts.BTN_OTHER_WAYS)
        await tg.wait_for(lambda: any(b["text"] == texts.BTN_PAY_STRIPE
                                      for b in message_of(tg, user, order_message).buttons), timeout=10)


async def stripe_link(tg: TelegramEmulator, user: int, choices_id: int) -> tuple[int, str]:
    """Tap "Pay with Stripe" on the payment choices; return (order id, checkout URL) of the link,
    which the order message itself shows (no message of its own)."""
    await back_to_choices(tg, user, choices_id)
    messages = len(tg.bot_messages(user))
    query_id = await press(tg, user, choices_id, texts.BTN_PAY_STRIPE)
    await tg.wait_for(lambda: any(b.get("url") for b in message_of(tg, user, choices_id).buttons), timeout=10)
    link = message_of(tg, user, choices_id)
    answered = await callback_answer(tg, query_id)
    assert not answered.get("show_alert"), answered
    assert len(tg.bot_messages(user)) == messages
    match = re.search(r"order #(\d+)", link.text or "")
    assert match, link.text
    button = link.buttons[0]
    assert button["text"] == texts.BTN_OPEN_STRIPE and button["url"].startswith("http"), button
    assert link.buttons[1]["text"] == texts.BTN_OTHER_WAYS
    return int(match.group(1)), button["url"]


def choices_order(tg: TelegramEmulator, user: int, choices_id: int) -> int:
    """The order id in the callback data (`v1:pay:<order>:<method>`) of the payment choices."""
    message = next(m for m in tg.bot_messages(user) if m.message_id == choices_id)
    data = next(b["callback_data"] for b in message.buttons if b["text"] == texts.BTN_PAY_STRIPE)
    return int(data.split(":")[2])


def session_of(stripe: StripeEmulator, order_id: int) -> dict[str, Any]:
    """The one Checkout Session the shop made for this order."""
    sessions = [s for s in stripe.core.sessions.values() if s["client_reference_id"] == str(order_id)]
    assert len(sessions) == 1, sessions
    return stripe.get_object(sessions[0]["id"])  # type: ignore[return-value]


async def start_user(tg: TelegramEmulator, name: str, *, ssh_key: bool = False) -> tuple[int, int]:
    """A new user who sent /start (and /sshkey); returns (user id, last bot message id)."""
    user = tg.add_user(name)["id"]
    await tg.send_text(user, "/start")
    last = await tg.wait_for_bot_message(user, timeout=10)
    if ssh_key:
        await tg.send_text(user, f"/sshkey {KEY}")
        last = await tg.wait_for_bot_message(user, after_message_id=last.message_id, timeout=10)
        assert "SSH key saved" in (last.text or "")
    return user, last.message_id


async def small_vm_choices(tg: TelegramEmulator, user: int, after: int) -> int:
    """/buy → Small VM → Buy; returns the payment choices message id."""
    await tg.send_text(user, "/buy")
    catalog = await tg.wait_for_bot_message(user, after_message_id=after, timeout=10)
    await press(tg, user, catalog.message_id, "Small VM")
    card = await button_appears(tg, user, "Buy")
    await press(tg, user, card.message_id, "Buy")
    choices = await button_appears(tg, user, texts.BTN_PAY_STRIPE)
    return choices.message_id


async def topup_choices(tg: TelegramEmulator, user: int, after: int, amount: int) -> int:
    """/topup → the preset button of `amount` cents; returns the payment choices message id."""
    await tg.send_text(user, "/topup")
    prompt = await tg.wait_for_bot_message(user, after_message_id=after, timeout=10)
    await press(tg, user, prompt.message_id, format_tfc(amount), exact=True)
    choices = await button_appears(tg, user, texts.BTN_PAY_STRIPE)
    assert f"{format_tfc(amount)} of credits" in (choices.text or "")
    return choices.message_id


# --- the tests ---------------------------------------------------------------------------------


async def test_buy_now_paid_on_stripe_is_credited_once_and_deployed(tmp_path: Path, tg: TelegramEmulator) -> None:
    async with running_shop(tmp_path, tg) as world:
        stripe = world.stripe
        user, last = await start_user(tg, "Ada", ssh_key=True)
        choices = await small_vm_choices(tg, user, last)

        order_id, url = await stripe_link(tg, user, choices)
        session = session_of(stripe, order_id)
        assert url == session["url"]
        assert (session["amount_total"], session["currency"], session["status"]) == (SMALL_VM, "usd", "open")
        assert session["success_url"] == (f"https://t.me/GridShopTestBot?start=paid_{order_id}"
                                          "&session_id={CHECKOUT_SESSION_ID}")

        # A second tap before paying gives the same session back, not a second one.
        assert await stripe_link(tg, user, choices) == (order_id, url)
        session_of(stripe, order_id)

        # The customer pays on Stripe's page: the webhook credits, places the buy-now purchase,
        # and the worker deploys it until the status message shows how to connect.
        stripe.pay_session(session["id"])
        await stripe.wait_for_deliveries()
        assert all(a.ok for a in stripe.delivery_attempts), stripe.delivery_attempts
        # The order message goes through its states: paid and queued, then ready; no other message.
        messages = len(tg.bot_messages(user))
        await tg.wait_for(lambda: "ssh root@" in (message_of(tg, user, choices).text or ""), timeout=20)
        paid = [c.params.get("text", "") for c in tg.calls if c.method == "editMessageText" and c.ok
                and c.params.get("message_id") == str(choices) and "Paid with" in c.params.get("text", "")]
        assert len(paid) == 1 and paid[0].startswith(f"✅ Paid with {format_tfc(SMALL_VM)} by card (Stripe).")
        # Nothing is left to pay with: the order message's only button leads to the VM.
        assert [b["text"] for b in message_of(tg, user, choices).buttons] == ["🖥 My VM"]
        await asyncio.sleep(0.3)
        assert len(tg.bot_messages(user)) == messages and count(tg, user, "ssh root@") == 1

    ledger = await audited_ledger(world.config)
    try:
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held) == (0, 0)  # 4.00 paid on Stripe, 4.00 settled
        assert (await ledger.audit()).payments == 1
        order = await ledger.get_order(order_id)
        assert order.state != "open"
    finally:
        await ledger.close()


async def test_topup_on_stripe_is_credited_once_despite_duplicate_and_reordered_webhooks(
    tmp_path: Path, tg: TelegramEmulator
) -> None:
    async with running_shop(tmp_path, tg, duplicate_deliveries=True, reorder=True, seed=7) as world:
        stripe = world.stripe
        user, last = await start_user(tg, "Grace")
        choices = await topup_choices(tg, user, last, 1000)
        order_id, url = await stripe_link(tg, user, choices)
        session = session_of(stripe, order_id)
        assert url == session["url"] and session["amount_total"] == 1000

        stripe.pay_session(session["id"])
        await stripe.wait_for_deliveries()
        [completed] = stripe.events("checkout.session.completed")
        assert sum(a.event_id == completed["id"] and a.ok for a in stripe.delivery_attempts) == 2
        # And once more, for good measure, after the shop has already seen it twice.
        stripe.redeliver(completed["id"])
        await stripe.wait_for_deliveries()

        await tg.wait_for(lambda: count(tg, user, "paid with") == 1, timeout=10)
        await asyncio.sleep(0.3)  # the outbox had every chance to send a second receipt
        receipt = message_of(tg, user, choices)  # the order message: link gone, the receipt in its place
        assert receipt.text == (f"✅ Top-up #{order_id}: {format_tfc(1000)} of credits, paid with "
                                f"{format_tfc(1000)} by card (Stripe).\nBalance: {format_tfc(1000)}.")
        assert receipt.buttons == [] and count(tg, user, "paid with") == 1

        # Stripe sends the customer back through the success_url deep link: the order shows paid.
        assert session["success_url"] == (f"https://t.me/GridShopTestBot?start=paid_{order_id}"
                                          "&session_id={CHECKOUT_SESSION_ID}")
        before = tg.bot_messages(user)[-1].message_id
        await tg.send_text(user, f"/start paid_{order_id}")
        status = await tg.wait_for_bot_message(user, after_message_id=before, timeout=10)
        assert f"#{order_id}" in (status.text or "") and "credits" in (status.text or "")
        assert texts.ORDER_STATES["open"] not in (status.text or "")

    ledger = await audited_ledger(world.config)
    try:
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held) == (1000, 0)
        assert (await ledger.audit()).payments == 1
        assert (await ledger.get_order(order_id)).state != "open"
    finally:
        await ledger.close()


async def test_stripe_refund_claws_back_once_and_tells_the_user(tmp_path: Path, tg: TelegramEmulator) -> None:
    async with running_shop(tmp_path, tg) as world:
        stripe = world.stripe
        user, last = await start_user(tg, "Linus")
        choices = await topup_choices(tg, user, last, 2500)
        order_id, _ = await stripe_link(tg, user, choices)
        session = session_of(stripe, order_id)
        paid = stripe.pay_session(session["id"])
        await stripe.wait_for_deliveries()
        await tg.wait_for(lambda: count(tg, user, "paid with") == 1, timeout=10)

        stripe.refund_payment(paid["payment_intent"])
        await stripe.wait_for_deliveries()
        [refunded] = stripe.events("charge.refunded")
        stripe.redeliver(refunded["id"])  # a repeated refund event takes nothing more
        await stripe.wait_for_deliveries()
        assert all(a.ok for a in stripe.delivery_attempts), stripe.delivery_attempts

        await tg.wait_for(lambda: count(tg, user, "Refund") == 1, timeout=10)
        refund = next(t for t in texts_of(tg, user) if "Refund" in t)
        assert format_tfc(2500) in refund
        await asyncio.sleep(0.3)
        assert count(tg, user, "Refund") == 1

    ledger = await audited_ledger(world.config)
    try:
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held) == (0, 0)
    finally:
        await ledger.close()


async def test_stripe_down_leaves_the_order_open_and_payable_with_stars(
    tmp_path: Path, tg: TelegramEmulator
) -> None:
    async with running_shop(tmp_path, tg) as world:
        user, last = await start_user(tg, "Barbara", ssh_key=True)
        choices = await small_vm_choices(tg, user, last)
        await world.stripe.stop()

        before = tg.bot_messages(user)[-1].message_id
        query_id = await press(tg, user, choices, texts.BTN_PAY_STRIPE)
        refused = await callback_answer(tg, query_id)
        assert refused["show_alert"] and refused["text"] == texts.STRIPE_UNAVAILABLE
        assert tg.bot_messages(user)[-1].message_id == before  # no link was sent
        order_id = choices_order(tg, user, choices)
        await tg.send_text(user, f"/start paid_{order_id}")
        status = await tg.wait_for_bot_message(user, after_message_id=before, timeout=10)
        assert f"#{order_id}" in (status.text or "") and texts.ORDER_STATES["open"] in (status.text or "")

        # The same choices still work: Stars pays the order and the VM gets deployed.
        await press(tg, user, choices, "Stars")
        await tg.wait_for(lambda: tg.last_bot_message(user).invoice is not None, timeout=10)
        paid = await tg.pay_invoice(user, tg.last_bot_message(user).message_id)
        assert paid.paid, paid
        await tg.wait_for(lambda: count(tg, user, "ssh root@") >= 1, timeout=20)

    ledger = await audited_ledger(world.config)
    try:
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held) == (0, 0)
        assert (await ledger.audit()).payments == 1
        assert (await ledger.get_order(order_id)).state != "open"
    finally:
        await ledger.close()


async def test_tapping_stripe_again_while_the_webhook_is_late_says_paid_not_pay_another_way(
    tmp_path: Path, tg: TelegramEmulator
) -> None:
    async with running_shop(tmp_path, tg, delay_seconds=1.5) as world:
        stripe = world.stripe
        user, last = await start_user(tg, "Edsger")
        choices = await topup_choices(tg, user, last, 500)
        order_id, _ = await stripe_link(tg, user, choices)
        stripe.pay_session(session_of(stripe, order_id)["id"])

        # Paid on Stripe, the webhook not in yet: the order is still open in the shop. Another tap
        # must not send the customer off to pay a second time another way.
        await back_to_choices(tg, user, choices)
        query_id = await press(tg, user, choices, texts.BTN_PAY_STRIPE)
        answered = await callback_answer(tg, query_id)
        assert answered["show_alert"] and "already paid" in answered["text"], answered
        assert answered["text"] != texts.STRIPE_UNAVAILABLE

        await stripe.wait_for_deliveries()
        await tg.wait_for(lambda: count(tg, user, "paid with") == 1, timeout=10)

    ledger = await audited_ledger(world.config)
    try:
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held) == (500, 0)
    finally:
        await ledger.close()


async def test_coming_back_from_checkout_credits_while_the_webhook_is_failing(
    tmp_path: Path, tg: TelegramEmulator
) -> None:
    async with running_shop(tmp_path, tg) as world:
        stripe = world.stripe
        assert stripe.deliverer is not None
        stripe.deliverer.url += "/nowhere"  # every webhook delivery fails (404)
        user, last = await start_user(tg, "Hedy")
        choices = await topup_choices(tg, user, last, 1000)
        order_id, _ = await stripe_link(tg, user, choices)
        stripe.pay_session(session_of(stripe, order_id)["id"])
        before = tg.bot_messages(user)[-1].message_id
        await tg.send_text(user, f"/start paid_{order_id}")  # Checkout's success link
        status = await tg.wait_for_bot_message(user, after_message_id=before, timeout=10)
        assert texts.ORDER_STATES["open"] not in (status.text or "")
        await tg.wait_for(lambda: count(tg, user, "paid with") == 1, timeout=10)
        await tg.send_text(user, f"/start paid_{order_id}")  # and again: credited once
        await asyncio.sleep(0.3)
        assert count(tg, user, "paid with") == 1
    ledger = await audited_ledger(world.config)
    try:
        assert (await ledger.balance(user)).posted == 1000
    finally:
        await ledger.close()
