"""A payment for an order that can no longer be placed is credit on the balance: a VM order with
an open Stripe link is paid with Stars, its deployment fails and is refunded, and then the old
Stripe link is paid too. The shop credits that payment to the balance, tells the user why, and
answers Stripe's webhook 2xx (it must never be "retry later" forever)."""

from __future__ import annotations

from pathlib import Path

from bot.config import format_tfc
from sandbox.telegram_api import TelegramEmulator
from tests.bot.test_runtime_stripe import (
    SMALL_VM,
    audited_ledger,
    back_to_choices,
    count,
    press,
    running_shop,
    session_of,
    small_vm_choices,
    start_user,
    stripe_link,
    texts_of,
    tg,  # noqa: F401  # the emulator fixture
)


async def test_old_stripe_link_paid_after_the_failed_deploy_is_credited_to_the_balance(
    tmp_path: Path, tg: TelegramEmulator  # noqa: F811
) -> None:
    async with running_shop(tmp_path, tg, grid_fails=True) as world:
        stripe = world.stripe
        user, last = await start_user(tg, "Hedy", ssh_key=True)
        choices = await small_vm_choices(tg, user, last)
        order_id, _ = await stripe_link(tg, user, choices)
        session = session_of(stripe, order_id)

        # Paid another way first: Stars. The deploy fails and the price comes back.
        await back_to_choices(tg, user, choices)
        await press(tg, user, choices, "Stars")
        await tg.wait_for(lambda: tg.last_bot_message(user).invoice is not None, timeout=10)
        paid = await tg.pay_invoice(user, tg.last_bot_message(user).message_id)
        assert paid.paid, paid
        await tg.wait_for(lambda: count(tg, user, "is back") >= 1, timeout=20)

        # Then the still-open Stripe session is paid.
        stripe.pay_session(session["id"])
        await stripe.wait_for_deliveries()
        assert stripe.delivery_attempts and all(a.ok for a in stripe.delivery_attempts), stripe.delivery_attempts
        await tg.wait_for(lambda: count(tg, user, "can no longer be placed") == 1, timeout=10)
        told = next(t for t in texts_of(tg, user) if "can no longer be placed" in t)
        assert f"{format_tfc(SMALL_VM)} credited to your balance" in told and "stays on your balance" in told

    ledger = await audited_ledger(world.config)
    try:
        balance = await ledger.balance(user)
        assert (balance.available, balance.held) == (2 * SMALL_VM, 0)  # the refund and the Stripe payment
        assert {p.provider for p in await ledger.payments(user)} == {"stars", "stripe"}
        assert (await ledger.get_order(order_id)).state == "failed"
        deployments = await ledger.read(lambda conn: conn.execute(
            "SELECT count(*) FROM deployments WHERE order_id = ?", (order_id,)).fetchone()[0])
        assert deployments == 1
    finally:
        await ledger.close()
