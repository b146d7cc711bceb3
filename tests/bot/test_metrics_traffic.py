"""`GET /metrics` of the whole shop as `gridshop run` assembles it, scraped over HTTP before and
after real traffic: a Stripe top-up whose signed webhook the Stripe emulator delivers twice, a
forged webhook, and a Stars buy-now paid through the Bot API emulator whose deployment fails on
the simulated grid. Each counter moves by exactly what happened."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from grid import errors
from sandbox.telegram_api import TelegramEmulator
from tests.bot import test_runtime_stripe as shop
from tests.bot.test_runtime_stripe import tg  # noqa: F401  # the fixture
from tests.metrics_support import moved, scrape, value

GRID_ERROR_CLASSES = {c.__name__ for c in vars(errors).values()
                      if isinstance(c, type) and issubclass(c, errors.GridError)}


async def test_counters_move_with_payments_webhooks_and_grid_failures(
    tmp_path: Path, tg: TelegramEmulator  # noqa: F811
) -> None:
    metrics_port = shop.free_port()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    async with shop.running_shop(tmp_path, tg, grid_fails=True, metrics_port=metrics_port,
                            duplicate_deliveries=True) as world:
        public = f"http://127.0.0.1:{world.config.server.port}"
        async with aiohttp.ClientSession() as http, http.get(f"{public}/metrics") as resp:
            assert resp.status == 404  # not on the public webhook listener
        before = await scrape(url)

        # A Stripe top-up; the emulator delivers each event twice: credited once.
        stripe = world.stripe
        grace, last = await shop.start_user(tg, "Grace")
        order_id, _ = await shop.stripe_link(tg, grace, await shop.topup_choices(tg, grace, last, 1000))
        stripe.pay_session(shop.session_of(stripe, order_id)["id"])
        await stripe.wait_for_deliveries()
        await tg.wait_for(lambda: shop.count(tg, grace, "paid with") == 1, timeout=10)  # the order message
        answered = [a.status for a in stripe.delivery_attempts]
        assert len(answered) >= 2 and set(answered) == {200}, answered

        # A forged event: refused with 400.
        async with aiohttp.ClientSession() as http, http.post(
                f"{public}/webhooks/stripe", data=json.dumps({"type": "checkout.session.completed"}),
                headers={"Stripe-Signature": "t=1,v1=forged"}) as resp:
            assert resp.status == 400

        # A Stars buy-now: credited, then the deployment fails on the grid and is refunded.
        ada, last = await shop.start_user(tg, "Ada", ssh_key=True)
        choices = await shop.small_vm_choices(tg, ada, last)
        await shop.press(tg, ada, choices, "Stars")
        await tg.wait_for(lambda: tg.last_bot_message(ada).invoice is not None, timeout=10)
        assert (await tg.pay_invoice(ada, tg.last_bot_message(ada).message_id)).paid
        await tg.wait_for(lambda: shop.count(tg, ada, "is back") >= 1, timeout=20)
        after = await scrape(url)

    assert moved(before, after, "gridshop_payments_credited_total", provider="stripe") == 1
    assert moved(before, after, "gridshop_payments_credited_total", provider="stars") == 1
    assert moved(before, after, "gridshop_payments_credited_total", provider="telegram_card") == 0
    assert moved(before, after, "gridshop_webhook_responses_total", endpoint="stripe",
                 status="200") == len(answered)
    assert moved(before, after, "gridshop_webhook_responses_total", endpoint="stripe", status="400") == 1
    grid_errors = {labels: after[(name, labels)] - before.get((name, labels), 0)
                   for name, labels in after if name == "gridshop_grid_errors_total"}
    [failed_call] = [dict(labels) for labels, by in grid_errors.items() if by]
    assert sum(grid_errors.values()) == 1, grid_errors  # one deploy attempt (max_attempts = 1)
    assert failed_call["operation"] == "deploy" and failed_call["error"] in GRID_ERROR_CLASSES
    assert value(after, "gridshop_deployments", state="failed") == 1
    assert value(after, "gridshop_deployments", state="queued") == 0
    assert value(after, "gridshop_parked_payments") == 0
    assert moved(before, after, "gridshop_ledger_write_seconds_count") > 0
    assert moved(before, after, "gridshop_ledger_read_wait_seconds_count") > 0
