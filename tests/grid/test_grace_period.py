"""Money running out before a VM's period ends, with the periods job on a controllable clock:
the warning says whether the renewal will go through (and by how much it is short, with a
top-up button); at expiry without funds an auto-renewing VM is kept `grace_days` days with one
reminder a day, renewed from its original expiry once the balance covers it, or removed after
the grace period with one message; restarts and double runs send and charge nothing twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grid.periods import PeriodKeeper
from grid.simulated import SimulatedGrid
from ledger import PAYABLE_GRID, REVENUE_COMMISSION, Ledger
from ledger.deployments import DAY_S
from tests.conftest import FakeClock
from tests.grid.test_worker_periods import deployed
from tests.grid.worker_support import deployment, fund, make_grid, options

USER = 11


@pytest.fixture
async def shop(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[Ledger, SimulatedGrid]]:
    async with await Ledger.open(tmp_path / "shop.db", clock=clock) as ledger:
        yield ledger, make_grid(tmp_path, clock=clock)


def keeper(ledger: Ledger, grid: SimulatedGrid) -> PeriodKeeper:
    return PeriodKeeper(ledger, grid, options(grace_days=3, topup_presets=(500, 1000, 2500),
                                              min_topup=100, max_topup=100_000))


async def told(ledger: Ledger) -> list[tuple[str, list[str]]]:
    """(text, callback_data of its buttons) of every message queued for the user, oldest first."""
    rows = await ledger.read(lambda conn: conn.execute(
        "SELECT text, reply_markup FROM notifications WHERE chat_id = ? ORDER BY id", (USER,)).fetchall())
    return [(text, [b["callback_data"] for row in json.loads(markup or '{"inline_keyboard": []}')["inline_keyboard"]
                    for b in row]) for text, markup in rows]


async def test_a_short_balance_is_warned_with_the_shortfall_and_a_top_up_button(
        shop: tuple[Ledger, SimulatedGrid], clock: FakeClock) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, USER, funds=550, auto_renew=True)  # 1.50 TFC left, renewal 4.00
    before = len(await told(ledger))
    clock.now = (dep.expires_at or 0) - 3 * DAY_S
    assert (await keeper(ledger, grid).run_once()).warned == [dep.id]
    [(text, buttons)] = (await told(ledger))[before:]
    assert "your balance is 2.50 TFC short of the 4.00 TFC renewal" in text
    assert "keeps running for 3 more days" in text
    assert buttons == ["v1:top:500"]  # the smallest preset that covers 2.50 TFC


async def test_auto_renew_off_is_warned_with_a_renew_button(shop: tuple[Ledger, SimulatedGrid],
                                                             clock: FakeClock) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, USER, funds=2000, auto_renew=False)
    before = len(await told(ledger))
    clock.now = (dep.expires_at or 0) - 3 * DAY_S
    await keeper(ledger, grid).run_once()
    [(text, buttons)] = (await told(ledger))[before:]
    assert "auto-renew is off: the VM will be removed unless you renew it (4.00 TFC)" in text
    assert buttons == [f"v1:dren:{dep.id}:{dep.expires_at}"]


async def test_grace_reminds_once_a_day_then_renews_from_the_original_expiry(
        shop: tuple[Ledger, SimulatedGrid], clock: FakeClock) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, USER, funds=400, auto_renew=True)  # nothing left for a renewal
    expiry = dep.expires_at or 0
    before = len(await told(ledger))
    for day in range(2):
        clock.now = expiry + day * DAY_S + 60
        for _ in range(2):  # a double run, and a restart (a new keeper) the same day
            report = await keeper(ledger, grid).run_once()
            assert report.in_grace == [dep.id] and report.renewed == [] and report.expired == []
    reminders = (await told(ledger))[before:]
    assert len(reminders) == 2  # one a day
    text, buttons = reminders[0]
    assert "could not be renewed" in text and "4.00 TFC short of the 4.00 TFC renewal" in text
    assert buttons == ["v1:top:500"]
    assert (await deployment(ledger, dep.id)).state == "ready" and await grid.live_contracts(dep.name or "") == 1

    await fund(ledger, USER, 500, "top-up in grace")
    report = await keeper(ledger, grid).run_once()
    assert report.renewed == [dep.id]
    renewed = await deployment(ledger, dep.id)
    assert renewed.expires_at == expiry + 30 * DAY_S  # paid from the original expiry: no free days
    assert ((await ledger.balance(USER)).posted, (await ledger.account_balance(PAYABLE_GRID)).posted,
            (await ledger.account_balance(REVENUE_COMMISSION)).posted) == (100, 720, 80)
    assert (await keeper(ledger, grid).run_once()).renewed == []  # charged once
    assert (await ledger.audit()).ok


async def test_after_the_grace_period_the_vm_is_removed_with_one_message(
        shop: tuple[Ledger, SimulatedGrid], clock: FakeClock) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, USER, funds=400, auto_renew=True)
    expiry = dep.expires_at or 0
    for day in range(3):
        clock.now = expiry + day * DAY_S
        await keeper(ledger, grid).run_once()
    before = len(await told(ledger))
    clock.now = expiry + 3 * DAY_S
    report = await keeper(ledger, grid).run_once()
    assert report.expired == [dep.id] and report.cancelled == [dep.id]
    assert (await keeper(ledger, grid).run_once()).cancelled == []
    [(text, buttons)] = (await told(ledger))[before:]
    assert "was removed from the grid: the balance did not cover the renewal by the end of the grace period" in text
    assert buttons == []
    assert await grid.live_contracts(dep.name or "") == 0
    assert (await ledger.balance(USER)).posted == 0  # the grace days were not charged
    assert (await ledger.audit()).ok


async def test_no_grace_days_removes_at_expiry_as_before(shop: tuple[Ledger, SimulatedGrid],
                                                         clock: FakeClock) -> None:
    ledger, grid = shop
    dep = await deployed(ledger, grid, USER, funds=400, auto_renew=True)
    clock.now = dep.expires_at or 0
    report = await PeriodKeeper(ledger, grid, options(grace_days=0)).run_once()
    assert report.expired == [dep.id] and report.in_grace == []
