"""The user's statement (`/history`): a purchase's transfers (grid part and commission) are one
entry, every entry carries the balance after it, pages split no entry and agree with the whole
statement, and a page reads only the account's index entries (the query plan searches the
(account, id) indexes; a page costs as many SQLite steps at 40,000 transfers as at 10,000)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ledger import Ledger
from ledger import deployments as jobs
from ledger.schema import PAYABLE_GRID, SOURCE_STARS
from ledger.statement import _ROWS, StatementEntry, statement

from .helpers import fund

USER = 7


async def _history_of_a_buyer(ledger: Ledger, round: int = 0) -> None:
    """Top up 20.00, buy a VM at 4.00 (settled: 3.60 + 0.40), renew it, buy a second one whose
    deploy fails (nothing charged), and be adjusted by the shop."""
    await fund(ledger, USER, 2000, f"pay-{round}")
    orders = [await ledger.create_order(f"{key}-{round}", USER, "purchase", 400, "vm-small")
              for key in ("o1", "o2")]
    kept, failed = [(await ledger.purchase(order.id, USER)).deployment_id for order in orders]
    await ledger.write(lambda conn, now: jobs.complete_success(
        conn, now, kept, json.dumps({}), 30, f"settle:{kept}", commission_ppm=100_000))
    await ledger.write(lambda conn, now: jobs.renew(conn, now, kept, commission_ppm=100_000))
    await ledger.write(lambda conn, now: jobs.complete_failure(conn, now, failed, "grid full"))
    await ledger.adjust(f"gift-{round}", USER, 150, admin_id=99, reason="sorry for the wait")


async def _all(ledger: Ledger, limit: int) -> list[list[StatementEntry]]:
    pages, before = [], None
    while True:
        page = await ledger.statement(USER, limit=limit, before_id=before)
        pages.append(page.entries)
        if page.next_before is None:
            return pages
        before = page.next_before


async def test_a_purchase_is_one_entry_with_the_balance_after_each(ledger: Ledger) -> None:
    await _history_of_a_buyer(ledger)
    [entries] = await _all(ledger, 100)
    assert [(e.what, e.amount, e.balance_after) for e in entries] == [
        ("adjustment", 150, 1350),
        ("renewal", -400, 1200),
        ("purchase", -400, 1600),
        ("payment", 2000, 2000),
    ]
    assert entries[0].memo == "sorry for the wait"  # not the admin's id
    assert entries[2].service_id == "vm-small" and entries[3].provider == "stripe"
    assert entries[0].balance_after == (await ledger.balance(USER)).posted


async def test_pages_split_no_entry_and_agree_with_the_whole_statement(ledger: Ledger) -> None:
    await _history_of_a_buyer(ledger)
    for round in range(1, 4):  # more split purchases, so page edges fall inside their transfers
        await _history_of_a_buyer(ledger, round)
    [whole] = await _all(ledger, 100)
    assert len(whole) == 16
    for limit in (1, 2, 3, 5):
        pages = await _all(ledger, limit)
        assert all(len(p) == limit for p in pages[:-1]) and 0 < len(pages[-1]) <= limit
        assert [e for p in pages for e in p] == whole
    # Each entry's balance after is the one before it plus its amount, across every page.
    for newer, older in zip(whole, whole[1:], strict=False):
        assert newer.balance_after == older.balance_after + newer.amount


def test_a_page_searches_the_account_indexes_and_scans_no_table(sqlite_path: Path) -> None:
    from ledger.schema import migrate

    conn = sqlite3.connect(sqlite_path)
    migrate(conn)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + _ROWS, (1000, 2**62, 22) * 2 + (22,))]
    assert any("USING INDEX transfers_by_debit (debit_account_id=? AND id<?)" in p for p in plan), plan
    assert any("USING INDEX transfers_by_credit (credit_account_id=? AND id<?)" in p for p in plan), plan
    assert [p for p in plan if p.startswith("SCAN")] == ["SCAN debits", "SCAN credits", "SCAN s"], plan


def _steps_of_a_page(conn: sqlite3.Connection, account_id: int, before: int | None) -> int:
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        statement(conn, account_id, 10, before)
    finally:
        conn.set_progress_handler(None, 0)
    return steps


async def test_a_page_costs_the_same_however_many_transfers_the_ledger_holds(sqlite_path: Path) -> None:
    # SQLite's own step counter; PostgreSQL reads the same two indexes (the query is one text).
    ledger = await Ledger.open(sqlite_path)
    await _history_of_a_buyer(ledger)
    for round in range(1, 6):
        await _history_of_a_buyer(ledger, round)
    account = await ledger.user_account(USER)
    await ledger.close()
    conn = sqlite3.connect(sqlite_path)

    def others(count: int, start: int) -> None:
        conn.execute("INSERT INTO accounts (id, code, kind, user_id, created_at) VALUES (?, ?, 'user', ?, 0)",
                     (start, f"user:{start}", start))
        conn.executemany(
            "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, "
            "debit_balance_after, credit_balance_after, created_at) VALUES (?, ?, ?, 1, 'payment', 0, 0, 0)",
            ((f"other:{start}:{i}", SOURCE_STARS, start, ) for i in range(count)))
        conn.executemany(
            "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, "
            "debit_balance_after, credit_balance_after, created_at) VALUES (?, ?, ?, 1, 'renewal', 0, 0, 0)",
            ((f"other:{start}:{i}#0", start, PAYABLE_GRID) for i in range(count)))
        conn.commit()

    others(5_000, 50_000)
    small = [_steps_of_a_page(conn, account, None), _steps_of_a_page(conn, account, 30)]
    others(15_000, 60_000)
    large = [_steps_of_a_page(conn, account, None), _steps_of_a_page(conn, account, 30)]
    conn.close()
    assert large == small, (small, large)
