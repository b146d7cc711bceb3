"""Concurrent callers against one balance and one payment: the single writer must sell exactly
what the balance covers and credit a payment exactly once, however the calls interleave; and
so must several instances (stores) on one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest

from ledger import (
    PAYABLE_GRID,
    Hold,
    InsufficientFunds,
    Ledger,
    Purchase,
    Transfer,
)

from .helpers import fund, rows

BALANCE = 1_000
PRICE = 7
SPENDERS = 200


async def _spend_all(ledger: Ledger, how: str, account: int, user: int) -> list[object]:
    if how == "transfer":
        calls = [ledger.transfer(f"spend:{i}", account, PAYABLE_GRID, PRICE) for i in range(SPENDERS)]
    elif how == "place_hold":
        calls = [ledger.place_hold(f"hold:{i}", account, PRICE) for i in range(SPENDERS)]
    else:
        orders = await asyncio.gather(*(
            ledger.create_order(f"order:{i}", user, "purchase", PRICE, service_id="vm-small")
            for i in range(SPENDERS)
        ))
        calls = [ledger.purchase(order.id, user) for order in orders]
    return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.parametrize("how", ["transfer", "place_hold", "purchase"])
async def test_concurrent_spends_sell_exactly_what_the_balance_covers(
    ledger: Ledger, db_path, how: str
) -> None:
    account = await fund(ledger, 1, BALANCE)
    results = await _spend_all(ledger, how, account, 1)

    expected_type = {"transfer": Transfer, "place_hold": Hold, "purchase": Purchase}[how]
    ok = [r for r in results if isinstance(r, expected_type)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(ok) == BALANCE // PRICE
    assert len(refused) == SPENDERS - BALANCE // PRICE
    assert all("available" in str(r) for r in refused)

    balance = await ledger.balance(1)
    if how == "transfer":
        assert (balance.posted, balance.held) == (BALANCE - len(ok) * PRICE, 0)
    else:
        assert (balance.posted, balance.held) == (BALANCE, len(ok) * PRICE)
    assert balance.available == BALANCE % PRICE >= 0
    # Nothing negative, at any point of the history either.
    assert rows(db_path, "SELECT count(*) FROM accounts WHERE kind = 'user' AND balance < 0") == [(0,)]
    assert rows(db_path, "SELECT min(debit_balance_after) FROM transfers WHERE debit_account_id = ?",
                (account,))[0][0] in (None, BALANCE % PRICE)
    report = await ledger.audit()
    assert report.ok, report.violations


async def test_one_external_id_paid_100_times_at_once_is_credited_once(
    ledger: Ledger, db_path
) -> None:
    results = await asyncio.gather(*(
        ledger.record_payment("stars", "tg-charge-1", user_id=7, amount=500, provider_amount=250,
                              provider_currency="XTR")
        for _ in range(100)
    ))
    assert sum(result.new for result in results) == 1
    assert len({result.payment.id for result in results}) == 1
    assert (await ledger.balance(7)).posted == 500
    assert rows(db_path, "SELECT count(*) FROM payments") == [(1,)]
    assert rows(db_path, "SELECT count(*), sum(amount) FROM transfers WHERE kind = 'payment'") == [(1, 500)]
    assert (await ledger.audit()).ok


async def test_double_tapped_confirm_places_one_purchase(ledger: Ledger, db_path) -> None:
    await fund(ledger, 3, 10_000)
    order = await ledger.create_order("order:tap", 3, "purchase", 2_500, service_id="vm-medium")
    results = await asyncio.gather(*(ledger.purchase(order.id, 3) for _ in range(20)))
    assert len({(r.hold.id, r.deployment_id) for r in results}) == 1
    assert rows(db_path, "SELECT count(*), sum(amount) FROM holds") == [(1, 2_500)]
    assert rows(db_path, "SELECT count(*) FROM deployments") == [(1,)]
    balance = await ledger.balance(3)
    assert (balance.posted, balance.held, balance.available) == (10_000, 2_500, 7_500)
    assert (await ledger.get_order(order.id)).state == "placed"
    assert (await ledger.audit()).ok


async def test_concurrent_spends_from_many_users_and_payments_interleaved(ledger: Ledger) -> None:
    """Spends race top-ups: a spend may only use money whose payment committed before it."""
    accounts = [await fund(ledger, user, 50) for user in range(1, 6)]

    async def spender(index: int) -> object:
        account = accounts[index % 5]
        try:
            return await ledger.transfer(f"s:{index}", account, PAYABLE_GRID, 10)
        except InsufficientFunds as exc:
            return exc

    async def payer(index: int) -> object:
        return await ledger.record_payment("stripe", f"p:{index}", user_id=index % 5 + 1,
                                           amount=10, provider_amount=10, provider_currency="usd")

    results = await asyncio.gather(*(
        spender(i) if i % 3 else payer(i) for i in range(300)
    ))
    spent = sum(isinstance(r, Transfer) for r in results)
    paid = sum(not isinstance(r, (Transfer, InsufficientFunds)) for r in results)
    posted = [(await ledger.balance(user)).posted for user in range(1, 6)]
    assert sum(posted) == 5 * 50 + paid * 10 - spent * 10
    assert min(posted) >= 0
    assert (await ledger.audit()).ok


# --- several processes on one PostgreSQL database ----------------------------------------------
# Each Ledger below has its own store (its own writer and reader connections), as each
# `gridshop run` instance has: their transactions really run at the same time in PostgreSQL.

INSTANCES = 3


@pytest.fixture
async def instances(pg_url: str) -> AsyncIterator[list[Ledger]]:
    opened = [await Ledger.open(pg_url) for _ in range(INSTANCES)]
    try:
        yield opened
    finally:
        for instance in opened:
            await instance.close()


@pytest.mark.parametrize("how", ["transfer", "place_hold", "purchase"])
async def test_spends_from_several_instances_sell_exactly_what_the_balance_covers(
    instances: list[Ledger], pg_url: str, how: str
) -> None:
    account = await fund(instances[0], 1, BALANCE)
    orders = []
    if how == "purchase":
        orders = await asyncio.gather(*(
            instances[0].create_order(f"order:{i}", 1, "purchase", PRICE, service_id="vm-small")
            for i in range(SPENDERS)))

    def spend(i: int) -> Awaitable[object]:
        ledger = instances[i % INSTANCES]
        if how == "transfer":
            return ledger.transfer(f"spend:{i}", account, PAYABLE_GRID, PRICE)
        if how == "place_hold":
            return ledger.place_hold(f"hold:{i}", account, PRICE)
        return ledger.purchase(orders[i].id, 1)

    results = await asyncio.gather(*(spend(i) for i in range(SPENDERS)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    ok = [r for r in results if isinstance(r, (Transfer, Hold, Purchase))]
    assert len(ok) == BALANCE // PRICE, [r for r in results if r not in ok and r not in refused]
    assert len(refused) == SPENDERS - BALANCE // PRICE
    assert (await instances[1].balance(1)).available == BALANCE % PRICE
    assert rows(pg_url, "SELECT count(*) FROM accounts WHERE balance - held < 0 AND kind = 'user'") == [(0,)]
    report = await instances[2].audit()
    assert report.ok, report.violations


async def test_one_payment_delivered_to_every_instance_at_once_is_credited_once(
    instances: list[Ledger], pg_url: str
) -> None:
    results = await asyncio.gather(*(
        instances[i % INSTANCES].record_payment(
            "stripe", f"cs_{n}", user_id=n, amount=500, provider_amount=500,
            provider_currency="usd")
        for n in range(1, 21) for i in range(INSTANCES)))
    # Every delivery is answered as a success (none refused, none "retry later")...
    assert all(not isinstance(r, BaseException) for r in results)
    # ... and each payment is credited once, whichever instance got there first.
    assert sum(r.new for r in results) == 20
    assert rows(pg_url, "SELECT count(*), sum(amount) FROM transfers WHERE kind = 'payment'") == [
        (20, 20 * 500)]
    # User accounts opened from three instances at once get distinct ids.
    assert rows(pg_url, "SELECT count(DISTINCT id) FROM accounts WHERE kind = 'user'") == [(20,)]
    assert (await instances[0].audit()).ok


async def test_a_confirm_tapped_on_every_instance_places_one_purchase(
    instances: list[Ledger], pg_url: str
) -> None:
    await fund(instances[0], 3, 10_000)
    order = await instances[0].create_order("order:tap", 3, "purchase", 2_500, service_id="vm-medium")
    results = await asyncio.gather(*(instances[i % INSTANCES].purchase(order.id, 3)
                                     for i in range(12)))
    assert len({(r.hold.id, r.deployment_id) for r in results}) == 1
    assert rows(pg_url, "SELECT count(*), sum(amount) FROM holds") == [(1, 2_500)]
    assert rows(pg_url, "SELECT count(*) FROM deployments") == [(1,)]
    assert (await instances[1].audit()).ok
