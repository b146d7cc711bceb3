"""The shop at scale: users' reads, admin reads, a broadcast and a credit with 1e3 and with 1e6
transfers among 1e5 users, each 1e6 figure beside its 1e3 twin measured in the same run.

The databases are built directly with SQL in the schema's shape (users, their accounts, paid
top-ups, purchases settled to the grid and the commission, their deployments, spread over a
year, balances consistent so the audit passes), in a child process so the builder's memory does
not count; the rows go in at the schema before migration v13, whose backfill then fills the
/stats roll-ups from them. They are cached between runs under $GRIDSHOP_BENCH_CACHE (default
~/.cache/gridshop-bench), keyed on the schema version and the sizes; a run works on a copy.
Everything measured then goes through the real API: `Ledger` reads, `ledger.stats.collect` and
`handlers.admin_stats.chart_png` as /stats calls them, `Ledger.audit`, `Ledger.export_csv`,
`ledger.broadcasts` chunk by chunk as /broadcast queues them, `payment_credit` as a Stars
payment is credited.

Figures (median of each read, in ms):
  - user reads alone: balance, history page of 20, the user's orders, pre-checkout's get_order;
  - the same while an admin runs, over and over, /audit, /stats, an export (CSV to a file), and
    while a broadcast is queued (to 1e6 users in the big db: users without accounts are added);
  - /stats (text figures, and with the chart), the audit, the export;
  - a Stars credit idle and during the broadcast;
  - RSS (peak, this process) and the database size.

Run: python benchmarks/scale.py [--small 1000] [--big 1000000] [--users 100000]
The last line is: scale: ... ratio=<float>, the worst 1e6/1e3 ratio of a user-facing read
(target <= 1.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import Ledger, broadcasts, payment_credit  # noqa: E402
from ledger import admin_state as state  # noqa: E402
from ledger import stats as shop_stats  # noqa: E402
from ledger.schema import (  # noqa: E402
    MIGRATIONS,
    PAYABLE_GRID,
    REVENUE_COMMISSION,
    ROLLUPS_VERSION,
    SOURCE_STARS,
    migrate,
)

BUILDER_VERSION = 2  # bump when the built data changes shape
YEAR_S = 365 * 86_400
TOPUP, PRICE, COMMISSION = 1000, 800, 80
FIRST_USER = 10_000_000
READS = 200  # samples of each read per phase
# The users whose reads are timed: the first REGULARS users have REGULAR_CYCLES top-ups and
# purchases each in both databases, so a read returns the same rows at 1e3 as at 1e6 transfers
# (the same user, the same page, a database a thousand times larger).
REGULARS, REGULAR_CYCLES = 30, 10
BROADCAST_WINDOW_S = 3.0
READ_TIMEOUT_S = 10.0  # a read waiting longer is counted as 10 s
PHASE_CAP_S = 20.0  # a phase of reads ends after this, however few samples it has
# --skip-audit: for code whose audit is quadratic (before v9's transfers_by_order), which at 1e6
# transfers would not finish.
SKIP_AUDIT = "--skip-audit" in sys.argv

# --- building a database ---------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get("GRIDSHOP_BENCH_CACHE", Path.home() / ".cache" / "gridshop-bench"))


def cached_db(transfers: int, users: int, now: int) -> Path:
    """The cached database for these sizes, built first if missing."""
    name = f"scale-schema{len(MIGRATIONS)}-b{BUILDER_VERSION}-{transfers}t-{users}u.db"
    path = cache_dir() / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(path), str(transfers), str(users),
                        str(now)], check=True)
        print(f"built {name} in {time.perf_counter() - started:.1f} s (cached in {path.parent})")
    return path


def build(path: str, transfers: int, users: int, now: int) -> None:
    """Write the database at `path`: `users` users with accounts and `transfers // 3` cycles of
    (Stars top-up paid, purchase settled to the grid and the commission, its deployment)."""
    tmp = path + ".part"
    for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
        Path(leftover).unlink(missing_ok=True)

    conn = sqlite3.connect(tmp, isolation_level=None)
    # The rows go in at the schema before the /stats roll-ups; migrating on then fills the
    # roll-ups from them, as it does for a shop upgrading (rather than a trigger per row).
    migrate(conn, upto=ROLLUPS_VERSION - 1)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    conn.execute("BEGIN")
    start = now - YEAR_S
    conn.executemany(
        "INSERT INTO users (user_id, username, first_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((FIRST_USER + n, f"user{n}", f"User {n}", start + n * YEAR_S // users,
          start + n * YEAR_S // users) for n in range(users)))
    cycles = transfers // 3
    balance = [0] * users
    system = {SOURCE_STARS: 0, PAYABLE_GRID: 0, REVENUE_COMMISSION: 0}
    step = YEAR_S // max(1, cycles)
    recent = now - 30 * 86_400

    def rows() -> Any:
        regular = REGULARS * REGULAR_CYCLES
        for c in range(cycles):
            u = c % REGULARS if c < regular else REGULARS + (c - regular) % (users - REGULARS)
            t = start + c * step
            account = 1000 + u
            system[SOURCE_STARS] -= TOPUP
            balance[u] += TOPUP
            yield ("transfer", (3 * c + 1, f"stars:{c}", SOURCE_STARS, account, TOPUP, "payment",
                                "stars payment", 2 * c + 1, None, c + 1, system[SOURCE_STARS],
                                balance[u], t))
            balance[u] -= PRICE - COMMISSION
            system[PAYABLE_GRID] += PRICE - COMMISSION
            yield ("transfer", (3 * c + 2, f"settle:{c}:grid", account, PAYABLE_GRID, PRICE - COMMISSION,
                                "settlement", "", 2 * c + 2, c + 1, None, balance[u],
                                system[PAYABLE_GRID], t + 60))
            balance[u] -= COMMISSION
            system[REVENUE_COMMISSION] += COMMISSION
            yield ("transfer", (3 * c + 3, f"settle:{c}:commission", account, REVENUE_COMMISSION,
                                COMMISSION, "settlement", "", 2 * c + 2, c + 1, None, balance[u],
                                system[REVENUE_COMMISSION], t + 60))
            uid = FIRST_USER + u
            yield ("order", (2 * c + 1, f"topup:{c}", uid, "topup", None, TOPUP, "paid", t, t))
            yield ("order", (2 * c + 2, f"buy:{c}", uid, "purchase", "vm-small", PRICE, "completed", t, t + 60))
            yield ("payment", (c + 1, "stars", f"stx{c}", uid, 2 * c + 1, TOPUP, 1000, "XTR", 3 * c + 1, t))
            yield ("hold", (c + 1, f"hold:{c}", account, PRICE, "posted", 2 * c + 2, "purchase vm-small",
                            t + 7200, t, t + 60, f"settle:{c}", PRICE))
            ready = t >= recent
            yield ("deployment", (c + 1, 2 * c + 2, uid, "vm-small", c + 1,
                                  "ready" if ready else "cancelled", t, t + 60, f"gs{c:08x}_1", 30,
                                  t, t + 60, t + 30 * 86_400 if ready else None))

    sql = {
        "transfer": "INSERT INTO transfers (id, key, debit_account_id, credit_account_id, amount, kind, "
                    "memo, order_id, hold_id, payment_id, debit_balance_after, credit_balance_after, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "order": "INSERT INTO orders (id, key, user_id, kind, service_id, amount, state, created_at, "
                 "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "payment": "INSERT INTO payments (id, provider, external_id, user_id, order_id, amount, "
                   "provider_amount, provider_currency, transfer_id, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "hold": "INSERT INTO holds (id, key, account_id, amount, state, order_id, memo, expires_at, "
                "created_at, resolved_at, resolve_key, posted_amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "deployment": "INSERT INTO deployments (id, order_id, user_id, service_id, hold_id, state, "
                      "created_at, updated_at, name, period_days, started_at, ready_at, expires_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    }
    pending: dict[str, list[tuple[Any, ...]]] = {k: [] for k in sql}
    for table, row in rows():
        batch = pending[table]
        batch.append(row)
        if len(batch) >= 20_000:
            conn.executemany(sql[table], batch)
            batch.clear()
    for table, batch in pending.items():
        conn.executemany(sql[table], batch)
    conn.executemany(
        "INSERT INTO accounts (id, code, kind, user_id, balance, created_at) VALUES (?, ?, 'user', ?, ?, ?)",
        ((1000 + n, f"user:{FIRST_USER + n}", FIRST_USER + n, balance[n], start + n * YEAR_S // users)
         for n in range(users)))
    conn.executemany("UPDATE accounts SET balance = ? WHERE id = ?", [(b, a) for a, b in system.items()])
    conn.execute("COMMIT")
    migrate(conn)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    os.replace(tmp, path)


def add_users(path: Path, total: int) -> int:
    """Bring the users table to `total` users (those added have no account: people who only
    looked); returns how many were added."""
    conn = sqlite3.connect(path, isolation_level=None)
    have = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO users (user_id, first_name, created_at, updated_at) VALUES (?, '', 0, 0)",
                     ((FIRST_USER + n,) * 1 for n in range(have, total)))
    conn.execute("COMMIT")
    conn.close()
    return total - have


# --- measuring ---------------------------------------------------------------------------------

Read = Callable[[int], Awaitable[Any]]


def reads(ledger: Ledger, users: int, orders: int) -> dict[str, Read]:
    """The user-facing reads, each for a random user (or order) index."""
    async def history(n: int) -> Any:
        return await ledger.history(FIRST_USER + n % REGULARS, 20)

    async def pre_checkout(n: int) -> Any:  # the regulars' orders: ids 1 .. 2 * REGULARS * cycles
        return await ledger.get_order(1 + n % (2 * REGULARS * REGULAR_CYCLES))

    return {
        "balance": lambda n: ledger.balance(FIRST_USER + n % REGULARS),
        "history": history,
        "orders": lambda n: ledger.orders(FIRST_USER + n % REGULARS, 10),
        "get_order": pre_checkout,
    }


async def time_reads(funcs: dict[str, Read], samples: int, active: users_busy_t = None) -> dict[str, float]:
    """Median ms of each read, `samples` each, interleaved, while `active()` says go on."""
    rng = random.Random(7)
    times: dict[str, list[float]] = {name: [] for name in funcs}
    n = 0
    began = time.perf_counter()
    while n < samples or (active is not None and active() and n < samples * 20):
        if time.perf_counter() - began > PHASE_CAP_S:
            break  # reads stuck behind an admin read (the code before its own connection)
        for name, fn in funcs.items():
            arg = rng.randrange(1 << 30)
            started = time.perf_counter()
            try:
                await asyncio.wait_for(fn(arg), READ_TIMEOUT_S)
            except TimeoutError:  # counted at the timeout: a lower bound
                pass
            times[name].append((time.perf_counter() - started) * 1000)
        n += 1
        await asyncio.sleep(0.001)  # a user's read every ms or so, not a flood
    return {name: statistics.median(v) for name, v in times.items()}


users_busy_t = Callable[[], bool] | None


async def behind(funcs: dict[str, Read], admin: Callable[[], Awaitable[Any]], samples: int) -> dict[str, float]:
    """The reads' medians while `admin()` runs over and over (at least once to its end)."""
    done = asyncio.Event()
    runs = 0

    async def keep_running() -> None:
        nonlocal runs
        while not done.is_set():
            await admin()
            runs += 1

    task = asyncio.create_task(keep_running())
    await asyncio.sleep(0)
    try:
        figures = await time_reads(funcs, samples, lambda: runs == 0)
    finally:
        done.set()
        await task
    return figures


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


async def stats_text(ledger: Ledger) -> shop_stats.Stats:
    until = ledger.now() + 1
    since = shop_stats.day_start(until - 1) - 29 * shop_stats.DAY_S
    read = getattr(ledger, "read_admin", ledger.read)  # (the code before admin reads had their own)
    return await read(lambda conn: shop_stats.collect(conn, since, until))


async def stats_with_chart(ledger: Ledger) -> bytes:
    from handlers.admin_stats import chart_png
    figures = await stats_text(ledger)
    if asyncio.iscoroutinefunction(chart_png):
        return await chart_png(figures.days)
    return await asyncio.to_thread(chart_png, figures.days)  # the code before: in a thread


async def export(ledger: Ledger, sink: str) -> int:
    with open(sink, "w", newline="") as out:
        return await ledger.export_csv(out)


class Credits:
    """Stars payments credited through payment_credit, one at a time, each its own new order."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.n = 0

    async def one(self) -> float:
        self.n += 1
        n = self.n
        user = FIRST_USER + n
        order = await self.ledger.create_order(f"bench-topup:{n}", user, "topup", 500)
        started = time.perf_counter()
        await self.ledger.write(partial(
            payment_credit.credit_order_payment, provider="stars", external_id=f"bench-stx{n}",
            user_id=user, order_id=order.id, provider_amount=500, provider_currency="XTR",
            hold_ttl_s=7200))
        return (time.perf_counter() - started) * 1000

    async def median(self, count: int, active: users_busy_t = None) -> float:
        times = []
        while len(times) < count or (active is not None and active() and len(times) < count * 20):
            times.append(await self.one())
            await asyncio.sleep(0.005)
        return statistics.median(times)


async def broadcast(ledger: Ledger, window_s: float) -> tuple[int, float]:
    """Queue a broadcast chunk by chunk as /broadcast does, for `window_s`; (queued, seconds)."""
    admin = 1
    opened = await ledger.write(lambda conn, now: state.open_request(
        conn, now, "bench-broadcast", admin, "broadcast", {"text": "Maintenance"}, chat_id=admin))
    request = opened.request
    started = time.perf_counter()
    queued = await ledger.write(partial(broadcasts.start, request=request, text="Maintenance",
                                        rate=25.0))
    assert queued is not None
    while not queued.complete and time.perf_counter() - started < window_s:
        queued = await ledger.write(partial(broadcasts.queue_next, request_id=request.id,
                                            text="Maintenance", rate=25.0))
    return queued.count, time.perf_counter() - started


def _clock_of(path: Path) -> Callable[[], float]:
    """The shop's clock an hour after the db's last transfer (its build day, however old the cache)."""
    conn = sqlite3.connect(path)
    last = conn.execute("SELECT max(created_at) FROM transfers").fetchone()[0] or int(time.time())
    conn.close()
    offset = last + 3600 - time.time()
    return lambda: time.time() + offset


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(path: Path, users: int, total_users: int, label: str) -> dict[str, Any]:
    fig: dict[str, Any] = {"db_mb": os.path.getsize(path) / 1e6}
    clock = _clock_of(path)
    ledger = await Ledger.open(path, synchronous="FULL", clock=clock)
    try:
        orders = await ledger.read(lambda conn: conn.execute("SELECT max(id) FROM orders").fetchone()[0])
        funcs = reads(ledger, users, orders)
        await time_reads(funcs, 50)  # warm the caches
        fig["alone"] = await time_reads(funcs, READS)
        fig["stats_ms"] = await timed(lambda: stats_text(ledger))
        fig["stats_chart_ms"] = await timed(lambda: stats_with_chart(ledger))
        fig["audit_ms"] = await timed(ledger.audit, 1) if not SKIP_AUDIT else float("nan")
        sink = str(path) + ".csv"
        fig["export_ms"] = await timed(lambda: export(ledger, sink), 1)
        fig["behind_audit"] = (await behind(funcs, ledger.audit, READS) if not SKIP_AUDIT
                               else {name: float("nan") for name in funcs})
        fig["behind_stats"] = await behind(funcs, lambda: stats_with_chart(ledger), READS)
        fig["behind_export"] = await behind(funcs, lambda: export(ledger, sink), READS)
        os.unlink(sink)
        credits = Credits(ledger)
        await credits.median(5)
        fig["credit_idle_ms"] = await credits.median(40)
        await ledger.close()
        fig["broadcast_users"] = total_users
        if total_users > users:
            add_users(path, total_users)
        ledger = await Ledger.open(path, synchronous="FULL", clock=clock)
        credits.ledger = ledger
        funcs = reads(ledger, users, orders)
        task = asyncio.create_task(broadcast(ledger, BROADCAST_WINDOW_S))
        await asyncio.sleep(0.05)
        fig["behind_broadcast"] = await time_reads(funcs, READS // 2, lambda: not task.done())
        fig["credit_broadcast_ms"] = await credits.median(20, lambda: not task.done())
        queued, seconds = await task
        fig["broadcast_rate"] = queued / seconds
        fig["rss_mb"] = rss_peak_mb()
    finally:
        await ledger.close()
    print(f"[{label}] done", flush=True)
    return fig


def show(small: dict[str, Any], big: dict[str, Any], sizes: tuple[int, int]) -> float:
    """Print the figures side by side; return the worst 1e6/1e3 ratio of a user-facing read."""
    a, b = (f"{s:.0e}".replace("+0", "") for s in sizes)
    print(f"{'figure':38} {a + ' transfers':>16} {b + ' transfers':>16} {'ratio':>7}")

    def row(name: str, x: float, y: float, unit: str = "ms") -> float:
        ratio = y / x if x else float("inf")
        print(f"{name:38} {x:13.3f} {unit:2} {y:13.3f} {unit:2} {ratio:7.2f}")
        return ratio

    worst = 0.0
    for phase in ("alone", "behind_audit", "behind_stats", "behind_export", "behind_broadcast"):
        for read in small[phase]:
            worst = max(worst, row(f"{read} ({phase.replace('_', ' ')})", small[phase][read], big[phase][read]))
    stats_ratio = row("/stats text", small["stats_ms"], big["stats_ms"])
    chart_ratio = row("/stats with chart", small["stats_chart_ms"], big["stats_chart_ms"])
    row("audit", small["audit_ms"], big["audit_ms"])
    row("export (CSV to a file)", small["export_ms"], big["export_ms"])
    row("credit, idle", small["credit_idle_ms"], big["credit_idle_ms"])
    row(f"credit, broadcast to {small['broadcast_users']:.0e} / {big['broadcast_users']:.0e}",
        small["credit_broadcast_ms"], big["credit_broadcast_ms"])
    row("broadcast queued (messages/s)", small["broadcast_rate"], big["broadcast_rate"], "/s")
    row("RSS peak", small["rss_mb"], big["rss_mb"], "MB")
    row("database size", small["db_mb"], big["db_mb"], "MB")
    credit_ratio = big["credit_broadcast_ms"] / big["credit_idle_ms"]
    print(f"at 1e6: credit during the broadcast / idle = {credit_ratio:.2f} (target <= 2)")
    print(f"scale: stats_ratio={stats_ratio:.2f} chart_ratio={chart_ratio:.2f} "
          f"credit_broadcast_ratio={credit_ratio:.2f} rss_mb={big['rss_mb']:.0f} ratio={worst:.2f}")
    return worst


async def run_one(label: str, path: Path, users: int, total_users: int, work: Path) -> dict[str, Any]:
    copy = work / f"{label}.db"
    shutil.copyfile(path, copy)
    return await measure(copy, users, total_users, label)


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--build":
        build(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="transfers in the small db")
    parser.add_argument("--big", type=int, default=1_000_000, help="transfers in the big db")
    parser.add_argument("--users", type=int, default=100_000, help="users with an account")
    parser.add_argument("--broadcast-users", type=int, default=1_000_000,
                        help="users the big db's broadcast goes to")
    parser.add_argument("--skip-audit", action="store_true", help="measure no audit")
    parser.add_argument("--one", choices=["small", "big"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    now = int(time.time()) // 86_400 * 86_400  # the day of the build: the cache key holds
    started = time.perf_counter()
    if args.one:  # one measurement in a fresh process, so its RSS is its own
        transfers = args.small if args.one == "small" else args.big
        total = args.users if args.one == "small" else args.broadcast_users
        path = cached_db(transfers, args.users, now)
        with tempfile.TemporaryDirectory(prefix="gridshop-scale-") as work:
            fig = asyncio.run(run_one(args.one, path, args.users, total, Path(work)))
        print(json.dumps(fig))
        return
    small_db = cached_db(args.small, args.users, now)
    big_db = cached_db(args.big, args.users, now)
    del small_db, big_db
    figures = {}
    for one in ("small", "big"):
        out = subprocess.run([sys.executable, __file__, "--one", one, "--small", str(args.small),
                              "--big", str(args.big), "--users", str(args.users),
                              "--broadcast-users", str(args.broadcast_users),
                              *(["--skip-audit"] if args.skip_audit else [])],
                             check=True, capture_output=True, text=True)
        figures[one] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"(measured in {time.perf_counter() - started:.0f} s)")
    show(figures["small"], figures["big"], (args.small, args.big))


if __name__ == "__main__":
    main()
