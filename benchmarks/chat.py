"""Chat `/balance` from 200 users at once, beside a bare PTB echo bot, in the same run.

Each user sends `/balance` and, once answered, sends it again (a closed loop, `--rounds` times);
timed from the user's message to the bot's answer. First every user has used the shop once
(one unmeasured round), as the people who ask for their balance have.

1. Without flood control: the Bot API emulator without its limits, gridshop with
   `telegram.rate_limit = false`, against the bare echo bot (PTB defaults): updates/s and p99.
2. With flood control: the emulator with Telegram's limits (30 messages a second overall, one
   a second per chat), gridshop as configured by default: the answers per second it reaches,
   and no request answered 429.

gridshop runs as `gridshop run` (its own process, its ledger on a real SQLite file).

Run: python benchmarks/chat.py [--users 200] [--rounds 5] [--limited-rounds 2]
The last line is: chat: per_s=... bare_per_s=... ... too_many_requests=<n> ratio=<per_s/bare>
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from common import load_line, parser
from telegram_bench import (
    Answers,
    BotProcess,
    shop_config,
    start_bare,
    start_gridshop,
    summary,
)

from sandbox.telegram_api import TelegramEmulator


async def conversations(emu: TelegramEmulator, users: list[int],
                        rounds: int) -> tuple[list[float], float]:
    answers = Answers(emu)
    latencies: list[float] = []

    async def user(user_id: int) -> None:
        for _ in range(rounds):
            answer = answers.expect(user_id)
            start = time.perf_counter()
            await emu.send_text(user_id, "/balance")
            await asyncio.wait_for(answer, 120)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(user(u) for u in users))
    return latencies, time.perf_counter() - start


async def measure(emu: TelegramEmulator, bot: BotProcess, users: list[int],
                  rounds: int) -> tuple[list[float], float]:
    try:
        await conversations(emu, users, 1)  # every user has used the shop before
        return await conversations(emu, users, rounds)
    finally:
        await bot.stop()


async def bench(n_users: int, rounds: int, limited_rounds: int) -> None:
    async with TelegramEmulator(rate_limit=False) as emu:
        users = [int(emu.add_user(f"U{i}")["id"]) for i in range(n_users)]
        bare = summary("bare PTB echo", *await measure(emu, await start_bare(emu), users, rounds))
    tmp = Path(tempfile.mkdtemp(prefix="gridshop-bench-chat-"))
    async with TelegramEmulator(rate_limit=False) as emu:
        users = [int(emu.add_user(f"U{i}")["id"]) for i in range(n_users)]
        shop = await start_gridshop(emu, shop_config(tmp / "free", rate_limit=False))
        free = summary("gridshop, no flood control", *await measure(emu, shop, users, rounds))
    async with TelegramEmulator() as emu:  # Telegram's limits
        users = [int(emu.add_user(f"U{i}")["id"]) for i in range(n_users)]
        shop = await start_gridshop(emu, shop_config(tmp / "limited"))
        limited = summary("gridshop, flood control", *await measure(emu, shop, users,
                                                                    limited_rounds))
        refused = sum(1 for c in emu.calls if c.error_code == 429)
    print(f"with flood control: {limited['per_s']:.1f} answers/s against Telegram's ~30/s "
          f"overall; answered 429 by the emulator: {refused}")
    print(load_line())
    print(f"chat: per_s={free['per_s']:.0f} bare_per_s={bare['per_s']:.0f} "
          f"p99_ms={free['p99_ms']:.0f} bare_p99_ms={bare['p99_ms']:.0f} "
          f"p99_ratio={free['p99_ms'] / bare['p99_ms']:.2f} limited_per_s={limited['per_s']:.1f} "
          f"too_many_requests={refused} ratio={free['per_s'] / bare['per_s']:.2f}")


def main() -> None:
    args = parser(__doc__, {"users": (int, 200, ""), "rounds": (int, 5, "measured rounds"),
                            "limited-rounds": (int, 2, "rounds with flood control")}).parse_args()
    asyncio.run(bench(args.users, args.rounds, args.limited_rounds))


if __name__ == "__main__":
    main()
