"""Write to the ledger under load and acknowledge every committed write on stdout.

Run by test_ledger_crash.py as `python crash_writer.py DB RUN`, and killed with SIGKILL at a
random moment. A line `<table> <key>` is printed (and flushed) only AFTER the ledger call that
wrote it returned, so every printed key must be in the database after the kill:
`payment <external id>`, `transfer <key>`, `hold <key>`, `resolve <hold key>`.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ledger import InsufficientFunds, Ledger  # noqa: E402

USERS = range(1, 9)
WORKERS = 48


def ack(table: str, key: str) -> None:
    sys.stdout.write(f"{table} {key}\n")
    sys.stdout.flush()


async def worker(ledger: Ledger, run: int, number: int, accounts: dict[int, int]) -> None:
    rng = random.Random(run * 1000 + number)
    pending: list[tuple[int, str]] = []
    n = 0
    while True:
        n += 1
        key = f"r{run}.w{number}.n{n}"
        choice = rng.random()
        try:
            if choice < 0.35:
                user = rng.choice(USERS)
                await ledger.record_payment(
                    "stripe", f"pay.{key}", user_id=user, amount=rng.randint(100, 2_000),
                    provider_amount=rng.randint(100, 2_000), provider_currency="usd",
                )
                ack("payment", f"pay.{key}")
            elif choice < 0.7:
                src, dst = rng.sample(list(USERS), 2)
                await ledger.transfer(f"tr.{key}", accounts[src], accounts[dst], rng.randint(1, 300))
                ack("transfer", f"tr.{key}")
            elif choice < 0.85 or not pending:
                hold = await ledger.place_hold(f"hold.{key}", accounts[rng.choice(USERS)],
                                               rng.randint(1, 200))
                pending.append((hold.id, hold.key))
                ack("hold", f"hold.{key}")
            else:
                hold_id, hold_key = pending.pop(rng.randrange(len(pending)))
                if rng.random() < 0.5:
                    await ledger.settle_hold(hold_id, f"settle.{hold_key}")
                else:
                    await ledger.void_hold(hold_id, f"void.{hold_key}")
                ack("resolve", hold_key)
        except InsufficientFunds:
            continue


async def main() -> None:
    path, run = sys.argv[1], int(sys.argv[2])
    ledger = await Ledger.open(path, synchronous="FULL")
    accounts = {user: await ledger.user_account(user) for user in USERS}
    await asyncio.gather(*(worker(ledger, run, number, accounts) for number in range(WORKERS)))


if __name__ == "__main__":
    asyncio.run(main())
