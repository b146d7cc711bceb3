"""Pre-checkout at 200 payers at once, beside a bare PTB bot, in the same run.

200 users each pay a Stars invoice of the shop, in 2 waves of 100 (the second while the
receipts of the first go out). Timed: from the payer's tap (the emulator sends the
pre_checkout_query) to the bot's answer, which Telegram needs within 10 s. gridshop runs as
`gridshop run` against the Bot API emulator with Telegram's flood limits (30 messages a second
overall, one a second per chat); the bare bot (PTB defaults) answers ok at once. Over the whole
run, receipts included, the emulator must answer no request with 429.

Run: python benchmarks/precheckout.py [--payers 200] [--waves 2]
The last line is: precheckout: p99_ms=... bare_p99_ms=... too_many_requests=<n> ratio=<p99/bare p99>
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from common import load_line, parser
from telegram import Bot
from telegram_bench import (
    PAYLOAD_SECRET,
    shop_config,
    start_bare,
    start_gridshop,
    summary,
    too_many_requests,
)

from ledger import Ledger
from payments.telegram_invoices import send_invoice, stars_invoice
from sandbox.telegram_api import TelegramEmulator


def receipt_of(order_id: int, text: str | None) -> bool:
    """The text is the receipt of top-up `order_id` ("✅ Top-up #7: ..., paid with 770 Stars.")."""
    return text is not None and text.startswith(f"✅ Top-up #{order_id}:") and "paid with" in text


async def pay_in_waves(emu: TelegramEmulator, invoices: list[tuple[int, int]],
                       waves: int) -> tuple[list[float], float]:
    latencies: list[float] = []

    async def pay(user_id: int, message_id: int) -> None:
        start = time.perf_counter()
        result = await emu.pay_invoice(user_id, message_id)
        latencies.append(time.perf_counter() - start)
        if not result.paid:
            raise SystemExit(f"payment of user {user_id} was {result.status}: {result.error_message}")

    size = -(-len(invoices) // waves)
    start = time.perf_counter()
    for w in range(waves):
        await asyncio.gather(*(pay(u, m) for u, m in invoices[w * size:(w + 1) * size]))
    return latencies, time.perf_counter() - start


async def bare_run(payers: int, waves: int) -> dict[str, float]:
    async with TelegramEmulator() as emu:
        users = [int(emu.add_user(f"P{i}")["id"]) for i in range(payers)]
        bot = await start_bare(emu)
        try:
            emu.flood.enabled = False
            async with Bot(emu.token, base_url=emu.api_url) as sender:
                invoices = [(u, (await sender.send_invoice(u, "Credits", "Top-up", "bare", "XTR",
                                                           [{"label": "Credits", "amount": 770}]
                                                           )).message_id) for u in users]
            emu.flood.enabled = True
            latencies, elapsed = await pay_in_waves(emu, invoices, waves)
        finally:
            await bot.stop()
        return summary("bare PTB bot, pre-checkout", latencies, elapsed)


async def gridshop_run(payers: int, waves: int) -> tuple[dict[str, float], int, float]:
    tmp = Path(tempfile.mkdtemp(prefix="gridshop-bench-precheckout-"))
    async with TelegramEmulator() as emu:
        users = [int(emu.add_user(f"P{i}")["id"]) for i in range(payers)]
        ledger = await Ledger.open(tmp / "shop.db")
        orders = [await ledger.create_order(f"bench-{u}", u, "topup", 1000) for u in users]
        await ledger.close()
        config = shop_config(tmp)
        shop = await start_gridshop(emu, config)
        try:
            emu.flood.enabled = False  # the invoices are set up before the run
            async with Bot(emu.token, base_url=emu.api_url) as sender:
                invoices = []
                for user, order in zip(users, orders, strict=True):
                    spec = stars_invoice(order, "Credits", "Top-up", stars_per_tfc=77,
                                         secret=PAYLOAD_SECRET)
                    invoices.append((user, (await send_invoice(sender, user, spec)).message_id))
            emu.flood.enabled = True
            before = len(emu.calls)
            latencies, elapsed = await pay_in_waves(emu, invoices, waves)
            figures = summary("gridshop, pre-checkout", latencies, elapsed)
            start = time.perf_counter()
            # What each payer sees: the top-up's receipt. These orders have no order message
            # (made with the ledger, not from the chat's buttons), so it comes as a new message.
            waiting = dict(zip(users, orders, strict=True))

            def all_told() -> bool:  # only the chats still waiting are read (the emulator runs here)
                for u in [u for u, order in waiting.items()
                          if any(receipt_of(order.id, m.text) for m in emu.bot_messages(u))]:
                    del waiting[u]
                return not waiting

            await emu.wait_for(all_told, timeout=120)
            receipts_s = time.perf_counter() - start + elapsed
            refused = sum(1 for c in emu.calls[before:] if c.error_code == 429)
        finally:
            await shop.stop()
        assert too_many_requests(emu) >= refused
        return figures, refused, receipts_s


async def bench(payers: int, waves: int) -> None:
    bare = await bare_run(payers, waves)
    shop, refused, receipts_s = await gridshop_run(payers, waves)
    print(f"receipts: {payers} sent within {receipts_s:.1f} s of the first tap "
          f"({payers / receipts_s:.1f}/s); answered 429 by the emulator: {refused}")
    print(load_line())
    print(f"precheckout: p50_ms={shop['p50_ms']:.0f} p99_ms={shop['p99_ms']:.0f} "
          f"bare_p50_ms={bare['p50_ms']:.0f} bare_p99_ms={bare['p99_ms']:.0f} "
          f"too_many_requests={refused} ratio={shop['p99_ms'] / bare['p99_ms']:.2f}")


def main() -> None:
    args = parser(__doc__, {"payers": (int, 200, ""), "waves": (int, 2, "")}).parse_args()
    asyncio.run(bench(args.payers, args.waves))


if __name__ == "__main__":
    main()
