"""Service periods with a controllable clock: warning at T-3d, renewal, expiry, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grid.periods import PeriodKeeper, cancel_deployment
from grid.simulated import SimulatedGrid
from ledger import PAYABLE_GRID, REVENUE_COMMISSION, InsufficientFunds, Ledger
from ledger import deployments as jobs
from ledger.deployments import DAY_S, DeploymentNotFound, DeploymentRecord, DeploymentStateError
from tests.conftest import FakeClock
from tests.grid.worker_support import (
    buy,
    deployment,
    fund,
    make_grid,
    make_worker,
    messages,
    options,
)


@pytest.fixture
async def shop(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Ledger, SimulatedGrid]]:
    async with await Ledger.open(tmp_path / "shop.db", clock=clock) as ledger:
        yield ledger, make_grid(tmp_path, clock=clock)


async def deployed(ledger: Ledger, grid: SimulatedGrid, user: int, funds: int,
                   auto_renew: bool) -> DeploymentRecord:
    await fund(ledger, user, funds)
    purchase = await buy(ledger, user, "vm-small")  # 4.00 TFC for 30 days
    await ledger.write(lambda conn, now: jobs.set_auto_renew(conn, now, purchase.deployment_id, auto_renew))
    await make_worker(ledger, grid).run_once()
    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "ready"
    return dep


async def money(ledger: Ledger, user: int) -> tuple[int, int, int]:
    return ((await ledger.balance(user)).posted, (await ledger.account_balance(PAYABLE_GRID)).posted,
            (await ledger.account_balance(REVENUE_COMMISSION)).posted)


async def test_warned_once_then_renewed_then_cancelled_when_broke(
    shop: tuple[Ledger, SimulatedGrid], clock: FakeClock
) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, 1, funds=900, auto_renew=True)
    keeper = PeriodKeeper(ledger, grid, options())
    first_expiry = dep.expires_at or 0
    assert await money(ledger, 1) == (500, 360, 40)

    clock.now = first_expiry - 3 * DAY_S - 1
    assert (await keeper.run_once()).warned == []
    clock.advance(2)
    assert (await keeper.run_once()).warned == [dep.id]
    clock.advance(DAY_S)
    assert (await keeper.run_once()).warned == []  # once per period
    warnings = [t for t, _ in await messages(ledger, 1) if "expires" in t]
    assert len(warnings) == 1 and "auto-renew is on and your balance covers it: 4.00 TFC" in warnings[0]

    clock.now = first_expiry
    report = await keeper.run_once()
    assert report.renewed == [dep.id] and report.expired == []
    renewed = await deployment(ledger, dep.id)
    assert renewed.expires_at == first_expiry + 30 * DAY_S and renewed.warned_at is None
    assert await money(ledger, 1) == (100, 720, 80)  # one period, the same exact split
    assert (await keeper.run_once()).renewed == []  # not charged twice
    assert await grid.live_contracts(dep.name or "") == 1

    # The next period: warned again, and now the balance (1.00 TFC) cannot pay for it.
    clock.now = (renewed.expires_at or 0) - 3 * DAY_S
    assert (await keeper.run_once()).warned == [dep.id]
    clock.now = renewed.expires_at or 0
    report = await keeper.run_once()
    assert report.expired == [dep.id] and report.cancelled == [dep.id] and report.renewed == []
    gone = await deployment(ledger, dep.id)
    assert gone.state == "cancelled" and "did not cover" in (gone.error or "")
    assert await grid.live_contracts(dep.name or "") == 0
    assert await money(ledger, 1) == (100, 720, 80)
    assert "removed from the grid" in (await messages(ledger, 1))[-1][0]
    assert (await ledger.audit()).ok


async def test_no_auto_renew_cancels_at_expiry_even_when_covered(
    shop: tuple[Ledger, SimulatedGrid], clock: FakeClock
) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, 2, funds=10_000, auto_renew=False)
    keeper = PeriodKeeper(ledger, grid, options())
    clock.now = (dep.expires_at or 0) - 1
    assert (await keeper.run_once()).cancelled == []
    clock.advance(1)
    assert (await keeper.run_once()).cancelled == [dep.id]
    assert await grid.live_contracts(dep.name or "") == 0
    assert (await ledger.balance(2)).posted == 10_000 - 400


async def test_grid_cancel_is_retried_until_it_succeeds(
    shop: tuple[Ledger, SimulatedGrid], clock: FakeClock
) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, 3, funds=400, auto_renew=True)

    class Down(SimulatedGrid):
        async def cancel(self, name: str) -> None:
            raise ConnectionError("chain unreachable")

    clock.now = dep.expires_at or 0
    down = PeriodKeeper(ledger, Down(grid.path, latency_s=0), options())
    report = await down.run_once()
    assert report.expired == [dep.id] and report.cancelled == [] and report.errors
    assert (await deployment(ledger, dep.id)).state == "cancelling"
    assert (await PeriodKeeper(ledger, grid, options()).run_once()).cancelled == [dep.id]
    assert await grid.live_contracts(dep.name or "") == 0


async def test_manual_renew_charges_once_per_period(shop: tuple[Ledger, SimulatedGrid]) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, 4, funds=1_000, auto_renew=False)
    ppm = ledger.commission_ppm

    def renew(conn, now):  # type: ignore[no-untyped-def]
        return jobs.renew(conn, now, dep.id, commission_ppm=ppm, for_expires_at=dep.expires_at, user_id=4)

    first = await ledger.write(renew)
    again = await ledger.write(renew)  # a double tap
    assert first.expires_at == again.expires_at == (dep.expires_at or 0) + 30 * DAY_S
    assert await money(ledger, 4) == (200, 720, 80)
    with pytest.raises(InsufficientFunds):
        await ledger.write(lambda conn, now: jobs.renew(conn, now, dep.id, commission_ppm=ppm))
    assert await money(ledger, 4) == (200, 720, 80)
    with pytest.raises(DeploymentNotFound):
        await ledger.write(lambda conn, now: jobs.renew(conn, now, dep.id, commission_ppm=ppm, user_id=99))
    assert (await ledger.audit()).ok


async def test_cancel_running_and_queued(shop: tuple[Ledger, SimulatedGrid]) -> None:
    ledger, grid = shop
    running = await deployed(ledger, grid, 6, funds=1_000, auto_renew=True)
    with pytest.raises(DeploymentNotFound):
        await cancel_deployment(ledger, grid, running.id, user_id=7)

    done = await cancel_deployment(ledger, grid, running.id, user_id=6)
    assert done.state == "cancelled" and not done.auto_renew
    assert await grid.live_contracts(running.name or "") == 0
    assert (await ledger.balance(6)).posted == 600  # a paid period is not refunded

    queued = await buy(ledger, 6, "vm-small", key="second")
    assert (await ledger.balance(6)).available == 200
    gone = await cancel_deployment(ledger, grid, queued.deployment_id, user_id=6)
    assert gone.state == "cancelled"
    assert (await ledger.balance(6)).available == 600  # the hold is released
    assert (await ledger.get_order(queued.order.id)).state == "cancelled"
    assert await make_worker(ledger, grid).run_once() == 0

    third = await buy(ledger, 6, "vm-small", key="third")
    await ledger.write(lambda conn, now: jobs.claim_next(conn, now, 600))
    with pytest.raises(DeploymentStateError):
        await cancel_deployment(ledger, grid, third.deployment_id, user_id=6)
    assert (await ledger.audit()).ok


async def test_listing_for_the_chat(shop: tuple[Ledger, SimulatedGrid]) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, 8, funds=1_000, auto_renew=False)
    await cancel_deployment(ledger, grid, (await buy(ledger, 8, "vm-small", key="x")).deployment_id)
    mine = await ledger.read(lambda conn: jobs.list_by_user(conn, 8))
    assert [d.id for d in mine] == [dep.id]
    everything = await ledger.read(lambda conn: jobs.list_by_user(conn, 8, include_closed=True))
    assert len(everything) == 2
    on = await ledger.write(lambda conn, now: jobs.set_auto_renew(conn, now, dep.id, True, user_id=8))
    assert on.auto_renew
