"""The ledger on PostgreSQL: throughput through the public API beside raw asyncpg, and with
one, two and three instances (processes) sharing the database.

1. Transfers per second through `Ledger.transfer` with 200 concurrent callers on a
   `postgresql://` store, beside raw asyncpg running the same SQL (a SERIALIZABLE transaction
   per batch of the size the group commit reached; in it, per transfer, a savepoint, the
   idempotency-key lookup, the guarded debit, the credit and the insert) in the same run.
2. The same API load from 1, 2 and 3 processes at once, each its own instance (own writer and
   readers), the 200 callers shared out between them, all on the same accounts: transfers per
   second of them all (their serialization conflicts are retried inside).

Run: python benchmarks/ledger.py --database postgresql://USER@HOST/DB [--transfers N]
(the database must exist; the benchmark empties it first). The last line is:
ledger_pg: transfers_per_s=<int> raw_asyncpg_per_s=<int> ratio=<float> instances_1_2_3=<a>/<b>/<c>
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import Ledger  # noqa: E402
from ledger.pg_sql import to_postgres  # noqa: E402
from ledger.schema import ADJUSTMENTS  # noqa: E402

ACCOUNTS = 200
FUNDING = 10**12


async def _reset(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def _funded(url: str) -> list[int]:
    """A fresh ledger in the database, ACCOUNTS users funded; their account ids."""
    await _reset(url)
    ledger = await Ledger.open(url)
    try:
        accounts = [await ledger.user_account(1_000_000 + i) for i in range(ACCOUNTS)]
        await asyncio.gather(*(ledger.transfer(f"fund:{a}", ADJUSTMENTS, a, FUNDING,
                                               kind="adjustment") for a in accounts))
    finally:
        await ledger.close()
    return accounts


async def _api_load(ledger: Ledger, accounts: list[int], callers: range, per_caller: int,
                    tag: str) -> int:
    async def caller(index: int) -> None:
        debit, credit = accounts[index % ACCOUNTS], accounts[(index + 1) % ACCOUNTS]
        for n in range(per_caller):
            await ledger.transfer(f"t:{tag}:{index}:{n}", debit, credit, 1 + n % 7)

    await asyncio.gather(*(caller(i) for i in callers))
    return len(callers) * per_caller


async def bench_api(url: str, transfers: int, callers: int) -> tuple[float, float]:
    """(transfers per second, mean batch) through the public API, one instance."""
    accounts = await _funded(url)
    ledger = await Ledger.open(url)
    try:
        before = ledger.store.batches_committed
        start = time.perf_counter()
        done = await _api_load(ledger, accounts, range(callers), transfers // callers, "api")
        elapsed = time.perf_counter() - start
        batches = ledger.store.batches_committed - before
    finally:
        await ledger.close()
    return done / elapsed, done / max(1, batches)


async def bench_raw(url: str, transfers: int, batch: int) -> float:
    """The same statements straight through asyncpg, `batch` transfers per transaction."""
    accounts = await _funded(url)
    conn = await asyncpg.connect(url)
    try:
        lookup = await conn.prepare(to_postgres("SELECT id FROM transfers WHERE key = ?"))
        debit_sql = await conn.prepare(to_postgres(
            "UPDATE accounts SET balance = balance - ? "
            "WHERE id = ? AND (allow_negative = 1 OR balance - held >= ?) RETURNING balance"))
        credit_sql = await conn.prepare(to_postgres(
            "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance"))
        insert = await conn.prepare(to_postgres(
            "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, "
            "memo, order_id, hold_id, payment_id, debit_balance_after, credit_balance_after, "
            "created_at) VALUES (?, ?, ?, ?, 'transfer', '', NULL, NULL, NULL, ?, ?, ?) "
            "RETURNING id"))
        # asyncpg leaves a statement prepared but never run half-open: a BEGIN right after
        # it is refused ("SET TRANSACTION ISOLATION LEVEL must be called before any query").
        await lookup.fetchrow("none")
        start = time.perf_counter()
        done = 0
        while done < transfers:
            await conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            for n in range(done, min(transfers, done + batch)):
                debit, credit = accounts[n % ACCOUNTS], accounts[(n + 1) % ACCOUNTS]
                amount, key = 1 + n % 7, f"t:{n}"
                await conn.execute("SAVEPOINT op")
                await lookup.fetchrow(key)
                d = await debit_sql.fetchval(amount, debit, amount)
                c = await credit_sql.fetchval(amount, credit)
                await insert.fetchval(key, debit, credit, amount, d, c, int(time.time()))
                await conn.execute("RELEASE op")
            await conn.execute("COMMIT")
            done = min(transfers, done + batch)
        elapsed = time.perf_counter() - start
    finally:
        await conn.close()
    return transfers / elapsed


async def _worker(url: str, index: int, instances: int, per_caller: int, callers: int,
                  start_at: float) -> dict[str, float]:
    """One instance of the multi-instance run (a process of its own)."""
    ledger = await Ledger.open(url)
    try:
        accounts = await ledger.read(lambda conn: [r[0] for r in conn.execute(
            "SELECT id FROM accounts WHERE kind = 'user' ORDER BY id").fetchall()])
        await asyncio.sleep(max(0.0, start_at - time.time()))
        began = time.time()
        done = await _api_load(ledger, accounts, range(index, callers, instances), per_caller,
                               f"i{instances}.{index}")
        return {"done": done, "began": began, "ended": time.time()}
    finally:
        await ledger.close()


def bench_instances(url: str, instances: int, transfers: int, callers: int) -> float:
    """Transfers per second of `instances` processes at once, all on the same accounts."""
    asyncio.run(_funded(url))
    per_caller = transfers // callers
    start_at = time.time() + 3.0  # every process connected and ready before the start
    procs = [subprocess.Popen(
        [sys.executable, __file__, "--worker", url, str(i), str(instances), str(per_caller),
         str(callers), str(start_at)], stdout=subprocess.PIPE, text=True)
        for i in range(instances)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError(f"instance exited with {proc.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    done = sum(r["done"] for r in results)
    return done / (max(r["ended"] for r in results) - min(r["began"] for r in results))


def main(url: str, transfers: int, callers: int) -> None:
    rate, batch = asyncio.run(bench_api(url, transfers, callers))
    print(f"ledger API on PostgreSQL: {rate:.0f} transfers/s, {callers} callers, mean batch {batch:.0f}")
    raw = asyncio.run(bench_raw(url, transfers, max(1, round(batch))))
    print(f"raw asyncpg: {raw:.0f} transfers/s in batches of {max(1, round(batch))}")
    scaled = []
    for instances in (1, 2, 3):
        scaled.append(bench_instances(url, instances, transfers, callers))
        print(f"{instances} instance(s), {callers} callers between them: {scaled[-1]:.0f} transfers/s")
    print(f"ledger_pg: transfers_per_s={rate:.0f} raw_asyncpg_per_s={raw:.0f} "
          f"ratio={rate / raw:.2f} instances_1_2_3={'/'.join(f'{s:.0f}' for s in scaled)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        url, index, instances, per_caller, callers, start_at = sys.argv[2:8]
        print(json.dumps(asyncio.run(_worker(url, int(index), int(instances), int(per_caller),
                                             int(callers), float(start_at)))))
    else:
        raise SystemExit("run it as: python benchmarks/ledger.py --database postgresql://...")
