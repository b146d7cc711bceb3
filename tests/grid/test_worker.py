"""The deployment worker on the simulated grid and a real SQLite ledger: settle, refund, retry."""

from __future__ import annotations

import random
from pathlib import Path

from grid.deployer import Deployment, VmSpec
from grid.errors import TransientGridError
from grid.simulated import SimulatedGrid
from ledger import PAYABLE_GRID, REVENUE_COMMISSION, Ledger, outbox, shop_meta, split_commission
from ledger import deployments as jobs
from tests.grid.worker_support import (
    SERVICES,
    buy,
    deployment,
    fixed_shop_id,
    fund,
    make_grid,
    make_worker,
    messages,
)

PRICE = {s.id: s.price_minor for s in SERVICES}


async def balances(ledger: Ledger) -> tuple[int, int]:
    payable = await ledger.account_balance(PAYABLE_GRID)
    commission = await ledger.account_balance(REVENUE_COMMISSION)
    return payable.posted, commission.posted


async def test_happy_path_settles_90_10_and_tells_the_user(ledger: Ledger, tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    await fund(ledger, 42, 10_000)
    purchase = await buy(ledger, 42, "vm-odd")

    assert await make_worker(ledger, grid).run_once() == 1

    dep = await deployment(ledger, purchase.deployment_id)
    shop = await ledger.read(shop_meta.read_shop_id)
    assert shop and len(shop) == 8
    assert dep.state == "ready" and dep.name == f"gs{shop}_{dep.id}"
    assert dep.details["mycelium_ip"] and dep.details["ssh_command"].startswith("ssh root@")
    assert dep.expires_at == dep.ready_at + 30 * 86_400 and dep.period_days == 30
    assert (await ledger.get_order(purchase.order.id)).state == "completed"
    hold = await ledger.read(lambda conn: conn.execute(
        "SELECT state, posted_amount FROM holds WHERE id = ?", (purchase.hold.id,)).fetchone())
    assert tuple(hold) == ("posted", 1235)
    assert await balances(ledger) == (1111, 124)  # 10% of 1235 rounds half up to 124
    balance = await ledger.balance(42)
    assert (balance.posted, balance.held) == (10_000 - 1235, 0)
    assert await grid.live_contracts(dep.name or "") == 1
    sent = await messages(ledger, 42)
    assert len(sent) == 1 and dep.details["mycelium_ip"] in sent[0][0] and sent[0][1] is None
    assert (await ledger.audit()).ok


async def test_status_message_is_edited_as_the_job_moves(ledger: Ledger, tmp_path: Path) -> None:
    await fund(ledger, 42, 10_000)
    purchase = await buy(ledger, 42, "vm-small")
    await ledger.write(lambda conn, now: jobs.attach_status_message(conn, now, purchase.deployment_id, 42, 555))

    await make_worker(ledger, make_grid(tmp_path)).run_once()

    sent = await messages(ledger, 42)
    assert [edit for _, edit in sent] == [555, 555]  # Deploying, then Ready with the details: one message
    assert "being deployed" in sent[0][0] and "is ready" in sent[1][0] and "Mycelium IP" in sent[1][0]


async def test_status_message_found_through_the_outbox_key(ledger: Ledger, tmp_path: Path) -> None:
    await fund(ledger, 42, 10_000)
    purchase = await buy(ledger, 42, "vm-small")
    note = await ledger.write(lambda conn, now: jobs.enqueue_queued_status(conn, now, purchase.deployment_id))
    await ledger.write(lambda conn, now: outbox.mark_sent(conn, now, note, 777))

    await make_worker(ledger, make_grid(tmp_path)).run_once()

    assert [edit for _, edit in await messages(ledger, 42)] == [None, 777, 777]


async def test_failure_restores_the_credits_exactly(ledger: Ledger, tmp_path: Path) -> None:
    grid = make_grid(tmp_path, failure_rate=1.0, failure_kinds=("no_capacity",))
    await fund(ledger, 7, 5_000)
    purchase = await buy(ledger, 7, "vm-odd")
    assert (await ledger.balance(7)).available == 5_000 - 1235

    await make_worker(ledger, grid).run_once()

    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "failed" and dep.error == "no capacity on the grid for this service right now"
    assert "does not have enough resources" in (dep.error_detail or "")  # the tool's text, for admins
    assert dep.attempts == 0  # a permanent failure is not retried
    balance = await ledger.balance(7)
    assert (balance.posted, balance.held, balance.available) == (5_000, 0, 5_000)
    assert await balances(ledger) == (0, 0)
    assert (await ledger.get_order(purchase.order.id)).state == "failed"
    assert await grid.live_contracts(dep.name or "") == 0
    [(text, _)] = await messages(ledger, 7)
    assert "could not be deployed" in text and "12.35 TFC is back" in text
    assert (await ledger.audit()).ok


class FlakyGrid:
    """Delegates to a grid after failing the first `failures` deploys with a timeout."""

    def __init__(self, grid: SimulatedGrid, failures: int) -> None:
        self.grid, self.failures, self.deploys = grid, failures, 0

    async def deploy(self, spec: VmSpec, name: str) -> Deployment:
        self.deploys += 1
        if self.deploys <= self.failures:
            raise TransientGridError("waiting for deployment timed out")
        return await self.grid.deploy(spec, name)

    async def get(self, name: str) -> Deployment | None:
        return await self.grid.get(name)

    async def cancel(self, name: str) -> None:
        await self.grid.cancel(name)


async def test_transient_failures_are_retried_then_succeed(ledger: Ledger, tmp_path: Path) -> None:
    flaky = FlakyGrid(make_grid(tmp_path), failures=2)
    await fund(ledger, 9, 1_000)
    purchase = await buy(ledger, 9, "vm-small")

    assert await make_worker(ledger, flaky).run_once() == 3  # two retries, then success

    dep = await deployment(ledger, purchase.deployment_id)
    assert (dep.state, dep.attempts, flaky.deploys) == ("ready", 2, 3)
    assert await flaky.grid.contracts_created(dep.name or "") == 1
    assert await balances(ledger) == (360, 40)
    assert (await ledger.audit()).ok


async def test_transient_failures_give_up_after_max_attempts(ledger: Ledger, tmp_path: Path) -> None:
    flaky = FlakyGrid(make_grid(tmp_path), failures=99)
    await fund(ledger, 9, 1_000)
    purchase = await buy(ledger, 9, "vm-small")

    await make_worker(ledger, flaky, max_attempts=3).run_once()

    dep = await deployment(ledger, purchase.deployment_id)
    assert (dep.state, flaky.deploys) == ("failed", 3)
    assert (await ledger.balance(9)).available == 1_000
    assert (await ledger.audit()).ok


async def test_retry_waits_for_its_backoff(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    async with await Ledger.open(tmp_path / "l.db", clock=clock) as ledger:
        flaky = FlakyGrid(make_grid(tmp_path), failures=1)
        await fund(ledger, 9, 1_000)
        purchase = await buy(ledger, 9, "vm-small")
        worker = make_worker(ledger, flaky, backoff_base_s=30, backoff_max_s=600)

        assert await worker.run_once() == 1
        dep = await deployment(ledger, purchase.deployment_id)
        assert (dep.state, dep.next_attempt_at) == ("queued", int(clock()) + 30)
        assert await worker.run_once() == 0
        clock.advance(30)
        assert await worker.run_once() == 1
        assert (await deployment(ledger, purchase.deployment_id)).state == "ready"


async def test_a_lapsed_lease_or_a_restart_resumes_the_job(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    async with await Ledger.open(tmp_path / "l.db", clock=clock) as ledger:
        grid = make_grid(tmp_path)
        await fund(ledger, 9, 2_000)
        first = await buy(ledger, 9, "vm-small", key="a")
        second = await buy(ledger, 9, "vm-small", key="b")
        # a worker that died holding both jobs
        for _ in range(2):
            await ledger.write(lambda conn, now: jobs.claim_next(conn, now, 600))
        worker = make_worker(ledger, grid)
        assert await worker.run_once() == 0  # their leases still run

        clock.advance(601)
        assert await worker.run_once() == 2  # the lease lapsed: resumed
        assert {(await deployment(ledger, p.deployment_id)).state for p in (first, second)} == {"ready"}

        third = await buy(ledger, 9, "vm-small", key="c")
        await ledger.write(lambda conn, now: jobs.claim_next(conn, now, 600))
        assert await worker.run_once() == 0
        assert await worker.recover() == 1  # at startup every job in flight is resumed
        assert await worker.run_once() == 1
        assert (await deployment(ledger, third.deployment_id)).state == "ready"
        assert (await ledger.audit()).ok


async def test_a_lapsed_hold_is_refused_before_deploying(tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    async with await Ledger.open(tmp_path / "l.db", clock=clock, hold_ttl_s=60) as ledger:
        grid = make_grid(tmp_path)
        await fund(ledger, 9, 1_000)
        purchase = await buy(ledger, 9, "vm-small")
        clock.advance(61)

        await make_worker(ledger, grid).run_once()

        dep = await deployment(ledger, purchase.deployment_id)
        assert dep.state == "failed" and "hold lapsed" in (dep.error or "")
        assert await grid.contracts_created(dep.name or "") == 0
        assert (await ledger.balance(9)).available == 1_000
        assert (await ledger.audit()).ok


async def test_100_purchases_at_30_percent_failures(ledger: Ledger, tmp_path: Path) -> None:
    grid = make_grid(tmp_path, failure_rate=0.3, seed=1234)
    await fixed_shop_id(ledger)  # the seeded draws hash the grid name
    rng = random.Random(5)
    funded, bought = {}, {}
    for user in range(1, 101):
        funded[user] = rng.randint(1_300, 5_000)
        await fund(ledger, user, funded[user])
        service_id = rng.choice([s.id for s in SERVICES])
        bought[user] = (service_id, (await buy(ledger, user, service_id)).deployment_id)

    await make_worker(ledger, grid, concurrency=10).run_once()

    payable = commission = 0
    outcomes = {"ready": 0, "failed": 0}
    for user, (service_id, deployment_id) in bought.items():
        dep = await deployment(ledger, deployment_id)
        balance = await ledger.balance(user)
        assert balance.held == 0
        outcomes[dep.state] += 1
        if dep.state == "ready":
            share, cut = split_commission(PRICE[service_id], ledger.commission_ppm)
            payable, commission = payable + share, commission + cut
            assert balance.posted == funded[user] - PRICE[service_id]
            assert await grid.live_contracts(dep.name or "") == 1
        else:
            assert balance.posted == funded[user]  # refunded to the cent
            assert await grid.live_contracts(dep.name or "") == 0
    # Enough of each for the money checks below to mean something (the exact split depends on
    # how the ten concurrent jobs interleave with the seeded draws).
    assert outcomes["failed"] >= 5 and outcomes["ready"] >= 50, outcomes
    assert await balances(ledger) == (payable, commission)
    report = await ledger.audit()
    assert report.ok, report.violations


async def test_run_loop_picks_up_new_purchases_and_stops(ledger: Ledger, tmp_path: Path) -> None:
    import asyncio

    worker = make_worker(ledger, make_grid(tmp_path, latency_s=0.05), poll_interval_s=5)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await fund(ledger, 3, 2_000)
    ids = [(await buy(ledger, 3, "vm-small", key=f"k{i}")).deployment_id for i in range(3)]
    worker.wake()  # without it the next poll is 5 s away
    for _ in range(200):
        if {(await deployment(ledger, i)).state for i in ids} == {"ready"}:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert {(await deployment(ledger, i)).state for i in ids} == {"ready"}


def test_options_from_the_real_config() -> None:
    from bot.config import load_config
    from grid.worker import WorkerOptions

    config = load_config(Path(__file__).resolve().parents[2] / "config.toml")
    opts = WorkerOptions.from_config(config, concurrency=2)
    assert set(opts.services) == {s.id for s in config.services}
    assert (opts.max_attempts, opts.expiry_warning_days, opts.concurrency) == (3, 3, 2)
    assert opts.lease_s >= 2 * config.grid.tfcmd_timeout_s
    assert opts.services["vm-small"].price_minor == 400
