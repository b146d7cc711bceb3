"""Ledger throughput and read latency, each beside a baseline measured in the same run.

1. Transfers per second through the public `Ledger.transfer` API with 200 concurrent callers at
   synchronous=FULL, beside raw `sqlite3` running the same SQL statements (savepoint, idempotency
   lookup, guarded debit, credit, insert) in batches of the same size, one COMMIT per batch.
2. Balance, last-20-history and 10-entry statement latency through the API with 1e3 and with 1e6 transfers in the db.

Run: python benchmarks/ledger.py [--transfers N] [--callers N] [--big N]
The last line is: ledger: transfers_per_s=<int> raw_sqlite_per_s=<int> ratio=<float>

With `--database postgresql://...` it measures the PostgreSQL store instead (beside raw
asyncpg, and with 1, 2 and 3 instances): benchmarks/ledger_pg.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import Ledger  # noqa: E402
from ledger.schema import ADJUSTMENTS, migrate  # noqa: E402
from ledger.store import connect  # noqa: E402

ACCOUNTS = 200
FUNDING = 10**12


async def _funded_ledger(path: str) -> tuple[Ledger, list[int]]:
    ledger = await Ledger.open(path, synchronous="FULL")
    accounts = [await ledger.user_account(1_000_000 + i) for i in range(ACCOUNTS)]
    await asyncio.gather(*(
        ledger.transfer(f"fund:{a}", ADJUSTMENTS, a, FUNDING, kind="adjustment") for a in accounts
    ))
    return ledger, accounts


async def bench_ledger(path: str, transfers: int, callers: int) -> tuple[float, float]:
    """Return (transfers per second, mean batch size) through the public API."""
    ledger, accounts = await _funded_ledger(path)
    per_caller = transfers // callers
    batches_before = ledger.store.batches_committed

    async def caller(index: int) -> None:
        debit = accounts[index % ACCOUNTS]
        credit = accounts[(index + 1) % ACCOUNTS]
        for n in range(per_caller):
            await ledger.transfer(f"t:{index}:{n}", debit, credit, 1 + n % 7)

    start = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    elapsed = time.perf_counter() - start
    batches = ledger.store.batches_committed - batches_before
    await ledger.close()
    done = per_caller * callers
    return done / elapsed, done / max(1, batches)


def bench_raw(path: str, transfers: int, batch: int) -> float:
    """The same statements through stdlib sqlite3, `batch` transfers per transaction."""
    conn = connect(path, 5000, "FULL")
    migrate(conn)
    conn.execute("BEGIN IMMEDIATE")
    for i in range(ACCOUNTS):
        conn.execute(
            "INSERT INTO accounts (id, code, kind, user_id, balance, created_at) "
            "VALUES (?, ?, 'user', ?, ?, 0)",
            (1000 + i, f"user:{i}", 1_000_000 + i, FUNDING),
        )
    conn.execute("COMMIT")
    execute = conn.execute
    start = time.perf_counter()
    done = 0
    while done < transfers:
        execute("BEGIN IMMEDIATE")
        for n in range(done, min(transfers, done + batch)):
            debit, credit, amount = 1000 + n % ACCOUNTS, 1000 + (n + 1) % ACCOUNTS, 1 + n % 7
            key = f"t:{n}"
            execute("SAVEPOINT op")
            execute("SELECT id FROM transfers WHERE key = ?", (key,)).fetchone()
            d = execute(
                "UPDATE accounts SET balance = balance - ? "
                "WHERE id = ? AND (allow_negative = 1 OR balance - held >= ?) RETURNING balance",
                (amount, debit, amount),
            ).fetchall()[0][0]
            c = execute(
                "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance",
                (amount, credit),
            ).fetchall()[0][0]
            execute(
                "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, "
                "memo, order_id, hold_id, payment_id, debit_balance_after, credit_balance_after, "
                "created_at) VALUES (?, ?, ?, ?, 'transfer', '', NULL, NULL, NULL, ?, ?, ?)",
                (key, debit, credit, amount, d, c, int(time.time())),
            )
            execute("RELEASE op")
        execute("COMMIT")
        done = min(transfers, done + batch)
    elapsed = time.perf_counter() - start
    conn.close()
    return transfers / elapsed


def fill_transfers(path: str, count: int) -> int:
    """Write `count` consistent transfers straight into a fresh ledger db; return a user id."""
    conn = connect(path, 5000, "OFF")
    migrate(conn)
    users = max(10, count // 1000)  # every user has at least 100 transfers to page through
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO accounts (id, code, kind, user_id, created_at) VALUES (?, ?, 'user', ?, 0)",
        [(1000 + i, f"user:{i}", 1_000_000 + i) for i in range(users)],
    )
    balances = [0] * users

    def rows():
        for n in range(count):
            credit = n % users
            balances[credit] += 5
            yield (f"fill:{n}", ADJUSTMENTS, 1000 + credit, 5, "adjustment", "", 0,
                   balances[credit], 0)

    conn.executemany(
        "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, memo, "
        "debit_balance_after, credit_balance_after, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )
    conn.executemany("UPDATE accounts SET balance = ? WHERE id = ?",
                     [(b, 1000 + i) for i, b in enumerate(balances)])
    conn.execute("UPDATE accounts SET balance = ? WHERE id = ?", (-sum(balances), ADJUSTMENTS))
    conn.execute("COMMIT")
    conn.close()
    return 1_000_000


async def read_latency(path: str, user_id: int, rounds: int) -> tuple[float, float, float]:
    """Median microseconds of `balance`, of a 20-entry `history` page and of a 10-entry
    `statement` page (the chat's /history)."""
    ledger = await Ledger.open(path)
    try:
        for _ in range(50):  # warm the page cache
            await ledger.balance(user_id)
            await ledger.history(user_id, 20)
            await ledger.statement(user_id, 10)
        balance, history, statement = [], [], []
        for _ in range(rounds):
            t = time.perf_counter()
            await ledger.balance(user_id)
            balance.append(time.perf_counter() - t)
            t = time.perf_counter()
            page = await ledger.history(user_id, 20)
            history.append(time.perf_counter() - t)
            if len(page) != 20:
                raise RuntimeError(f"expected a full page of 20, got {len(page)}")
            t = time.perf_counter()
            lines = await ledger.statement(user_id, 10)
            statement.append(time.perf_counter() - t)
            if len(lines.entries) != 10:
                raise RuntimeError(f"expected a full statement page of 10, got {len(lines.entries)}")
    finally:
        await ledger.close()
    return tuple(statistics.median(m) * 1e6 for m in (balance, history, statement))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=60_000)
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--big", type=int, default=1_000_000, help="transfers in the big db")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--database", metavar="URL",
                        help="a postgresql:// database to measure the PostgreSQL store on (emptied)")
    args = parser.parse_args()
    if args.database:
        import ledger_pg

        ledger_pg.main(args.database, args.transfers, args.callers)
        return

    with tempfile.TemporaryDirectory() as tmp:
        for n, size in enumerate((1_000, args.big)):
            path = os.path.join(tmp, f"read{n}.db")
            user = fill_transfers(path, size)
            b, h, st = asyncio.run(read_latency(path, user, args.rounds))
            print(f"reads with {size} transfers: balance_us={b:.1f} history20_us={h:.1f} "
                  f"statement10_us={st:.1f}")

        rate, batch = asyncio.run(bench_ledger(os.path.join(tmp, "api.db"), args.transfers, args.callers))
        print(f"ledger API: {rate:.0f} transfers/s, {args.callers} callers, mean batch {batch:.0f}")
        raw = bench_raw(os.path.join(tmp, "raw.db"), args.transfers, max(1, round(batch)))
        print(f"raw sqlite3: {raw:.0f} transfers/s in batches of {max(1, round(batch))}")
    print(f"ledger: transfers_per_s={rate:.0f} raw_sqlite_per_s={raw:.0f} ratio={rate / raw:.2f}")


if __name__ == "__main__":
    main()
