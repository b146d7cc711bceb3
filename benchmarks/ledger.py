"""Ledger throughput and read latency, each beside a baseline measured in the same run.

1. Transfers per second through the public `Ledger.transfer` API with 200 concurrent callers at
   synchronous=FULL, beside raw `sqlite3` making the same transfers (same keys, accounts and
   amounts, in the order the group commit ran them) with the statements a transfer runs
   (savepoint, idempotency-key lookup, guarded debit, credit, insert, the inserted id) in
   batches of the size the group commit reached, one COMMIT per batch. Several rounds, the two
   sides alternating, each side on its own file; the figures are medians over the rounds and the
   ratio the median of each round's ratio.
2. Balance, last-20-history and 10-entry statement latency through the API with 1e3 and with
   1e6 transfers in the db.

Run: python benchmarks/ledger.py [--transfers N] [--callers N] [--throughput-rounds N] [--big N]
The last line is: ledger: transfers_per_s=<int> raw_sqlite_per_s=<int> ratio=<float>

With `--database postgresql://...` it measures the PostgreSQL store instead (beside raw
asyncpg, and with 1, 2 and 3 instances): benchmarks/ledger_pg.py.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import load_line  # noqa: E402

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


def _work(index: int, n: int, accounts: list[int]) -> tuple[str, int, int, int]:
    """The n-th transfer of caller `index`: (key, debit, credit, amount). Both sides make the
    same transfers under the same keys, in the same order, so both write the same rows into the
    same places of the key index."""
    return (f"t:{index}:{n}", accounts[index % ACCOUNTS], accounts[(index + 1) % ACCOUNTS],
            1 + n % 7)


async def api_round(ledger: Ledger, accounts: list[int], callers: int, first: int,
                    per_caller: int) -> tuple[float, float]:
    """Round of `per_caller` transfers by each of `callers` concurrent callers through the public
    API (their n-th transfers numbered from `first`): (transfers per second, mean batch)."""
    batches_before = ledger.store.batches_committed

    async def caller(index: int) -> None:
        for n in range(first, first + per_caller):
            key, debit, credit, amount = _work(index, n, accounts)
            await ledger.transfer(key, debit, credit, amount)

    start = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    elapsed = time.perf_counter() - start
    done = per_caller * callers
    return done / elapsed, done / max(1, ledger.store.batches_committed - batches_before)


def raw_connection(path: str) -> tuple[sqlite3.Connection, list[int]]:
    """A raw sqlite3 connection to a fresh ledger file with ACCOUNTS funded user accounts."""
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
    return conn, [1000 + i for i in range(ACCOUNTS)]


def raw_round(conn: sqlite3.Connection, accounts: list[int], callers: int, first: int,
              per_caller: int, batch: int) -> float:
    """The same transfers as `api_round`, in the order the group commit ran them (every
    caller's n-th, then every caller's n+1-th), through stdlib sqlite3: the statements a transfer
    runs (savepoint, key lookup, guarded debit, credit, insert, the inserted id), `batch` per
    transaction, one COMMIT each. Transfers per second."""
    execute = conn.execute
    done, total = 0, per_caller * callers
    start = time.perf_counter()
    while done < total:
        execute("BEGIN IMMEDIATE")
        for at in range(done, min(total, done + batch)):
            key, debit, credit, amount = _work(at % callers, first + at // callers, accounts)
            execute("SAVEPOINT op")
            if execute("SELECT id FROM transfers WHERE key = ?", (key,)).fetchone() is not None:
                raise RuntimeError(f"key {key} used twice")
            d = execute(
                "UPDATE accounts SET balance = balance - ? "
                "WHERE id = ? AND (allow_negative = 1 OR balance - held >= ?) RETURNING balance",
                (amount, debit, amount),
            ).fetchall()[0][0]
            c = execute(
                "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance",
                (amount, credit),
            ).fetchall()[0][0]
            if execute(
                "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, "
                "memo, order_id, hold_id, payment_id, debit_balance_after, credit_balance_after, "
                "created_at) VALUES (?, ?, ?, ?, 'transfer', '', NULL, NULL, NULL, ?, ?, ?)",
                (key, debit, credit, amount, d, c, int(time.time())),
            ).lastrowid is None:
                raise RuntimeError("the insert wrote no row")
            execute("RELEASE op")
        execute("COMMIT")
        done = min(total, done + batch)
    return total / (time.perf_counter() - start)


async def bench_throughput(tmp: str, transfers: int, callers: int,
                           rounds: int) -> tuple[list[float], list[float], list[float]]:
    """`rounds` rounds of transfers/callers transfers each, the API's and raw sqlite3's
    alternating (API first in even rounds, raw first in odd ones, so a drift in the machine's
    load falls on both alike), each side on its own file growing alike. Raw runs in batches of
    the size the API's group commit reached in the same round. Returns per round: the API's
    transfers per second, raw's, and the API's mean batch."""
    ledger, accounts = await _funded_ledger(os.path.join(tmp, "api.db"))
    conn, raw_accounts = raw_connection(os.path.join(tmp, "raw.db"))
    per_caller = max(1, transfers // callers // rounds)
    api: list[float] = []
    raw: list[float] = []
    batches: list[float] = []
    try:
        for r in range(rounds):
            first = r * per_caller
            sides = ["api", "raw"] if r % 2 == 0 else ["raw", "api"]
            for side in sides:
                gc.collect()  # neither side pays for garbage the other left
                if side == "api":
                    rate, batch = await api_round(ledger, accounts, callers, first, per_caller)
                    api.append(rate)
                    batches.append(batch)
                else:
                    # A raw round run before its API round uses the batch of the last one.
                    size = max(1, round(batches[-1] if batches else callers))
                    raw.append(raw_round(conn, raw_accounts, callers, first, per_caller, size))
    finally:
        await ledger.close()
        conn.close()
    return api, raw, batches


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
    parser.add_argument("--transfers", type=int, default=60_000,
                        help="transfers on each side, over all rounds")
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--throughput-rounds", type=int, default=20,
                        help="rounds of API and raw sqlite3, alternating")
    parser.add_argument("--big", type=int, default=1_000_000, help="transfers in the big db")
    parser.add_argument("--rounds", type=int, default=2000, help="timed reads of each kind")
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
            os.remove(path)

        api, raw, batches = asyncio.run(
            bench_throughput(tmp, args.transfers, args.callers, args.throughput_rounds))
    for r, (a, w, b) in enumerate(zip(api, raw, batches, strict=True)):
        print(f"round {r + 1}: ledger API {a:.0f}/s (mean batch {b:.0f}), raw sqlite3 {w:.0f}/s, "
              f"ratio {a / w:.2f}")
    rate, base = statistics.median(api), statistics.median(raw)
    ratio = statistics.median(a / w for a, w in zip(api, raw, strict=True))
    print(f"ledger API: {rate:.0f} transfers/s (median of {len(api)} rounds), {args.callers} "
          f"callers, mean batch {statistics.mean(batches):.0f}")
    print(f"raw sqlite3: {base:.0f} transfers/s (median) in the same batches")
    print(load_line())
    print(f"ledger: transfers_per_s={rate:.0f} raw_sqlite_per_s={base:.0f} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
