"""The ledger's standing rules: immutable transfers, history, balances of strangers, the audit
catching tampering, and the commission's one rounding rule."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    PAYABLE_GRID,
    REVENUE_COMMISSION,
    Balance,
    HoldAlreadyResolved,
    HoldExpired,
    Ledger,
    rate_to_ppm,
    split_commission,
)
from tests.conftest import FakeClock

from .helpers import execute, fund, rows

# --- immutability ---------------------------------------------------------------------------


async def test_transfers_cannot_be_updated_or_deleted(ledger: Ledger, db_path: Path) -> None:
    alice = await fund(ledger, 1, 500)
    bob = await ledger.user_account(2)
    transfer = await ledger.transfer("t", alice, bob, 100)
    for sql in (
        "UPDATE transfers SET amount = 1 WHERE id = ?",
        "UPDATE transfers SET memo = 'edited' WHERE id = ?",
        "DELETE FROM transfers WHERE id = ?",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="transfers are immutable"):
            execute(db_path, sql, params=(transfer.id,))
    with pytest.raises(sqlite3.DatabaseError, match="transfers are immutable"):
        execute(db_path, "DELETE FROM transfers")
    assert rows(db_path, "SELECT count(*), sum(amount) FROM transfers") == [(2, 600)]
    assert (await ledger.audit()).ok


# --- balances and history -------------------------------------------------------------------


async def test_balance_of_an_unknown_user_is_zero(ledger: Ledger, db_path: Path) -> None:
    before = rows(db_path, "SELECT count(*) FROM accounts")
    balance = await ledger.balance(424242)
    assert balance == Balance(0, 0, 0)
    assert (balance.available, balance.debt) == (0, 0)
    assert await ledger.history(424242) == []
    assert rows(db_path, "SELECT count(*) FROM accounts") == before  # reading opens nothing


async def test_history_is_newest_first_signed_and_pages(ledger: Ledger) -> None:
    alice = await fund(ledger, 1, 1_000, "pay-a")
    bob = await fund(ledger, 2, 1_000, "pay-b")
    expected = [1_000]  # signed amounts from alice's side, oldest first
    for i in range(12):
        if i % 3 == 0:
            await ledger.transfer(f"in-{i}", bob, alice, 10 + i)
            expected.append(10 + i)
        else:
            await ledger.transfer(f"out-{i}", alice, bob, 20 + i)
            expected.append(-(20 + i))
    hold = await ledger.place_hold("h", alice, 100)
    await ledger.post_hold(hold.id, "post", [(PAYABLE_GRID, 60), (REVENUE_COMMISSION, 30)])
    expected += [-60, -30]

    full = await ledger.history(1, limit=100)
    assert [e.amount for e in full] == expected[::-1]
    ids = [e.transfer_id for e in full]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    balance = await ledger.balance(1)
    assert full[0].balance_after == balance.posted == sum(expected)
    for newer, older in zip(full, full[1:], strict=False):
        assert newer.balance_after - newer.amount == older.balance_after
    assert full[-1].balance_after == 1_000 and full[-1].kind == "payment"

    pages, before_id = [], None
    for _ in range(10):  # bounded: a paging bug must fail, not loop forever
        page = await ledger.history(1, limit=4, before_id=before_id)
        if not page:
            break
        assert len(page) <= 4
        pages.append(page)
        before_id = page[-1].transfer_id
    assert [len(p) for p in pages] == [4, 4, 4, 3]
    assert [e for page in pages for e in page] == full
    # Bob's side of the same transfers has the opposite signs.
    bob_amounts = {e.transfer_id: e.amount for e in await ledger.history(2, limit=100)}
    for entry in full:
        if entry.transfer_id in bob_amounts:
            assert bob_amounts[entry.transfer_id] == -entry.amount
    assert alice != bob


# --- the audit catches tampering -----------------------------------------------------------


async def _sound_ledger(ledger: Ledger) -> tuple[int, int]:
    alice = await fund(ledger, 1, 1_000, "pay-a")
    bob = await ledger.user_account(2)
    await ledger.transfer("t", alice, bob, 300)
    hold = await ledger.place_hold("h", alice, 200)
    await ledger.settle_hold(hold.id, "s")
    await ledger.place_hold("h2", alice, 100)
    report = await ledger.audit()
    assert report.ok, report.violations
    return alice, bob


def _tamper(db_path: Path, *statements: str) -> None:
    execute(db_path, *statements)


async def test_audit_detects_a_corrupted_balance(ledger: Ledger, db_path: Path) -> None:
    alice, _ = await _sound_ledger(ledger)
    _tamper(db_path, f"UPDATE accounts SET balance = balance + 500 WHERE id = {alice}")
    report = await ledger.audit()
    assert not report.ok
    assert any(f"account {alice}" in v and "transfers say" in v for v in report.violations)
    assert any("sum to 500" in v for v in report.violations)


async def test_audit_detects_a_corrupted_hold(ledger: Ledger, db_path: Path) -> None:
    alice, _ = await _sound_ledger(ledger)
    _tamper(db_path, f"UPDATE accounts SET held = 0 WHERE id = {alice}")
    report = await ledger.audit()
    assert any(f"account {alice}" in v and "pending holds 100" in v for v in report.violations)


async def test_audit_detects_a_credit_without_its_payment(ledger: Ledger, db_path: Path) -> None:
    await _sound_ledger(ledger)
    _tamper(db_path, "DELETE FROM payments")
    report = await ledger.audit()
    assert not report.ok
    assert any("credits a payment that is not recorded" in v for v in report.violations)


async def test_audit_detects_a_payment_credited_twice(ledger: Ledger, db_path: Path) -> None:
    alice, _ = await _sound_ledger(ledger)
    payment_id = rows(db_path, "SELECT id FROM payments")[0][0]
    _tamper(
        db_path,
        "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, memo, "
        f"payment_id, debit_balance_after, credit_balance_after, created_at) VALUES ('dup', 1, "
        f"{alice}, 1000, 'payment', 'stripe payment', {payment_id}, 0, 0, 0)",
        f"UPDATE accounts SET balance = balance + 1000 WHERE id = {alice}",
        "UPDATE accounts SET balance = balance - 1000 WHERE id = 1",
    )
    report = await ledger.audit()
    assert any("credited 2 times" in v for v in report.violations), report.violations


async def test_audit_detects_an_unexplained_negative_balance(ledger: Ledger, db_path: Path) -> None:
    alice, bob = await _sound_ledger(ledger)
    _tamper(
        db_path,
        "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, memo, "
        f"debit_balance_after, credit_balance_after, created_at) VALUES ('over', {bob}, {alice}, "
        "400, 'transfer', '', -100, 0, 0)",
        f"UPDATE accounts SET balance = balance - 400 WHERE id = {bob}",
        f"UPDATE accounts SET balance = balance + 400 WHERE id = {alice}",
    )
    report = await ledger.audit()
    assert any("without a clawback" in v for v in report.violations), report.violations
    assert any(f"account {bob} is at -100" in v for v in report.violations)
    assert report.total_debt == 100


async def test_debt_from_a_clawback_is_sound_and_blocks_spending(db_path: Path) -> None:
    clock = FakeClock()
    async with await Ledger.open(db_path, clock=clock) as ledger:
        alice = await fund(ledger, 1, 1_000, "pay-a")
        await ledger.transfer("spend", alice, PAYABLE_GRID, 700)
        hold = await ledger.place_hold("h", alice, 200)
        await ledger.clawback("stripe", "pay-a", "refund", 1_000, reason="dispute", flag="dispute")
        assert (await ledger.balance(1)).debt == 700
        # The hold was covered when placed; settling it after the clawback deepens the debt.
        await ledger.settle_hold(hold.id, "settle")
        balance = await ledger.balance(1)
        assert (balance.posted, balance.held, balance.available, balance.debt) == (-900, 0, 0, 900)
        report = await ledger.audit()
        assert report.ok, report.violations
        assert report.total_debt == 900


# --- holds expire ---------------------------------------------------------------------------


async def test_a_hold_expires_at_its_time_and_can_then_only_be_voided(db_path: Path) -> None:
    clock = FakeClock()
    async with await Ledger.open(db_path, clock=clock) as ledger:
        alice = await fund(ledger, 1, 1_000)
        early = await ledger.place_hold("early", alice, 100, ttl_s=60)
        late = await ledger.place_hold("late", alice, 100, ttl_s=60)
        gone = await ledger.place_hold("gone", alice, 100, ttl_s=60)
        clock.advance(59)
        assert await ledger.expire_holds() == []
        await ledger.post_hold(early.id, "post-early", [(PAYABLE_GRID, 100)])  # 1 s to spare
        clock.advance(1)
        with pytest.raises(HoldExpired, match="expired"):
            await ledger.post_hold(late.id, "post-late", [(PAYABLE_GRID, 100)])
        with pytest.raises(HoldExpired):
            await ledger.settle_hold(late.id, "settle-late")
        assert (await ledger.void_hold(late.id, "void-late")).state == "voided"
        expired = await ledger.expire_holds()
        assert [(h.id, h.state) for h in expired] == [(gone.id, "expired")]
        with pytest.raises(HoldExpired):
            await ledger.post_hold(gone.id, "post-gone", [(PAYABLE_GRID, 100)])
        with pytest.raises(HoldAlreadyResolved):
            await ledger.void_hold(gone.id, "void-gone")
        balance = await ledger.balance(1)
        assert (balance.posted, balance.held) == (900, 0)
        assert (await ledger.audit()).ok


# --- commission -----------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "payable", "commission"), [
    (1234, 1111, 123),  # the module's own example
    (5, 4, 1),  # 0.5 rounds up
    (4, 4, 0),  # 0.4 rounds down
    (15, 13, 2),  # 1.5 rounds up
    (25, 22, 3),  # 2.5 rounds up (half up, not to even)
    (14, 13, 1),  # 1.4 rounds down
    (1, 1, 0),
    (0, 0, 0),
    (10**15, 9 * 10**14, 10**14),
])
def test_commission_rounding_examples(amount: int, payable: int, commission: int) -> None:
    assert split_commission(amount, 100_000) == (payable, commission)


def test_commission_rate_conversion() -> None:
    assert rate_to_ppm(Decimal("0.10")) == 100_000
    assert rate_to_ppm("0.025") == 25_000
    assert rate_to_ppm(0) == 0
    for bad in ("0.1234567", "1", "-0.1", Decimal("1.5")):
        with pytest.raises(ValueError):
            rate_to_ppm(bad)
    with pytest.raises(ValueError):
        split_commission(-1, 100_000)


@settings(max_examples=300, deadline=None, database=None)
@given(amount=st.integers(0, 10**15), ppm=st.integers(0, 999_999))
def test_commission_parts_add_up_and_round_half_up(amount: int, ppm: int) -> None:
    payable, commission = split_commission(amount, ppm)
    assert payable + commission == amount and payable >= 0 and commission >= 0
    exact = Decimal(amount) * ppm / 1_000_000
    assert commission - exact <= Decimal("0.5") and exact - commission < Decimal("0.5")


@pytest.mark.parametrize(("ppm", "amount", "payable", "commission"), [
    (100_000, 1234, 1111, 123),
    (100_000, 5, 4, 1),
    (100_000, 1, 1, 0),  # no commission: one split only
    (600_000, 1, 0, 1),  # no payable: one split only
])
async def test_settle_hold_splits_by_the_rule(
    db_path: Path, ppm: int, amount: int, payable: int, commission: int
) -> None:
    async with await Ledger.open(db_path, commission_ppm=ppm) as ledger:
        alice = await fund(ledger, 1, 10_000)
        hold = await ledger.place_hold("h", alice, amount)
        result = await ledger.settle_hold(hold.id, "s")
        expected = [(a, m) for a, m in ((PAYABLE_GRID, payable), (REVENUE_COMMISSION, commission)) if m]
        assert [(t.credit_account_id, t.amount) for t in result.transfers] == expected
        assert (await ledger.account_balance(PAYABLE_GRID)).posted == payable
        assert (await ledger.account_balance(REVENUE_COMMISSION)).posted == commission
        assert (await ledger.balance(1)).posted == 10_000 - amount
        assert (await ledger.audit()).ok
