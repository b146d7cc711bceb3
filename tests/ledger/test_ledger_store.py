"""The store: group commit isolates each request, callers hear back only after COMMIT,
migrations are versioned, and the writer runs in WAL mode with synchronous=FULL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

import ledger.store as store_module
from ledger import (
    PAYABLE_GRID,
    DatabaseRefused,
    InsufficientFunds,
    Ledger,
    LedgerError,
    StoreError,
    Transfer,
    UnknownAccount,
)
from ledger.schema import MIGRATIONS

from .helpers import dump, fund, rows, schema_version, set_schema_version


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every batch the writer commits."""
    sizes: list[int] = []
    real = store_module._run_batch

    def spy(conn, ops, *begin):
        sizes.append(len(ops))
        return real(conn, ops, *begin)

    monkeypatch.setattr(store_module, "_run_batch", spy)
    return sizes


async def test_a_failing_request_does_not_sink_its_batch(
    ledger: Ledger, db_path: Path, batches: list[int]
) -> None:
    alice = await fund(ledger, 1, 100)
    bob = await ledger.user_account(2)
    batches.clear()
    calls = []
    for i in range(10):
        calls.append(ledger.transfer(f"good-{i}", alice, bob, 5))
        calls.append(ledger.transfer(f"poor-{i}", bob, alice, 1_000))  # no cover
        calls.append(ledger.transfer(f"lost-{i}", alice, 99_999, 1))  # debit runs, credit fails
        calls.append(ledger.transfer(f"odd-{i}", alice, bob, 1, memo=object()))  # sqlite refuses
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert batches == [40]  # all in ONE transaction

    kinds = [type(r).__name__ for r in results]
    assert all(isinstance(r, Transfer) for r in results[0::4]), kinds
    assert all(isinstance(r, InsufficientFunds) for r in results[1::4]), kinds
    assert all(isinstance(r, UnknownAccount) for r in results[2::4]), kinds
    assert all(isinstance(r, DatabaseRefused) for r in results[3::4]), kinds
    assert rows(db_path, "SELECT key FROM transfers WHERE kind = 'transfer' ORDER BY id") == [
        (f"good-{i}",) for i in range(10)]
    assert (await ledger.balance(1)).posted == 50
    assert (await ledger.balance(2)).posted == 50
    assert (await ledger.audit()).ok


async def test_callers_resume_only_after_commit(ledger: Ledger, db_path: Path) -> None:
    alice = await fund(ledger, 1, 1_000)
    seen_at_resolution: list[int] = []

    async def spend(i: int) -> None:
        await ledger.transfer(f"t-{i}", alice, PAYABLE_GRID, 1)
        # Resumed: a brand-new connection (another "process") must already see the row.
        seen_at_resolution.append(rows(db_path, "SELECT count(*) FROM transfers WHERE key = ?",
                                       (f"t-{i}",))[0][0])

    await asyncio.gather(*(spend(i) for i in range(50)))
    assert seen_at_resolution == [1] * 50
    results = await asyncio.gather(*(
        ledger.record_payment("stars", f"c-{i}", user_id=2, amount=3, provider_amount=3,
                              provider_currency="XTR") for i in range(50)))
    assert all(r.new for r in results)
    assert rows(db_path, "SELECT count(*) FROM payments WHERE provider = 'stars'") == [(50,)]


async def test_a_failed_commit_fails_every_caller_of_the_batch(
    ledger: Ledger, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await fund(ledger, 1, 1_000)

    def broken(conn, ops, *begin):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store_module, "_run_batch", broken)
    results = await asyncio.gather(*(ledger.transfer(f"t-{i}", alice, PAYABLE_GRID, 1)
                                     for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, StoreError) and "disk I/O error" in str(r) for r in results)
    monkeypatch.undo()
    assert (await ledger.transfer("after", alice, PAYABLE_GRID, 1)).amount == 1  # writer alive
    assert rows(db_path, "SELECT count(*) FROM transfers WHERE key LIKE 't-%'") == [(0,)]


async def test_writes_after_close_are_refused(db_path: Path) -> None:
    ledger = await Ledger.open(db_path)
    await ledger.close()
    with pytest.raises(StoreError, match="closed"):
        await ledger.transfer("t", PAYABLE_GRID, 1, 1)
    with pytest.raises(LedgerError, match="closed"):
        await ledger.balance(1)


async def test_migrations_are_versioned_and_reopening_is_a_no_op(db_path: Path) -> None:
    async with await Ledger.open(db_path) as ledger:
        await fund(ledger, 1, 100)
    assert schema_version(db_path) == len(MIGRATIONS)
    assert len(MIGRATIONS) >= 2
    before = dump(db_path)
    async with await Ledger.open(db_path) as ledger:
        assert (await ledger.balance(1)).posted == 100
    assert schema_version(db_path) == len(MIGRATIONS)
    assert dump(db_path) == before


async def test_an_old_database_is_migrated_forward(sqlite_path: Path) -> None:
    db_path = sqlite_path
    conn = sqlite3.connect(db_path, isolation_level=None)
    MIGRATIONS[0](conn)  # a version-1 database, as an early release left it
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    async with await Ledger.open(db_path) as ledger:
        await fund(ledger, 1, 100)
    assert rows(db_path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert rows(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'notifications'") == [(1,)]


async def test_a_newer_database_is_refused(db_path: Path) -> None:
    async with await Ledger.open(db_path):
        pass
    set_schema_version(db_path, len(MIGRATIONS) + 1)
    before = set(threading.enumerate())
    with pytest.raises(StoreError, match="newer"):
        await Ledger.open(db_path)
    # The refused open closed its connection: no thread is left to keep the process alive.
    leaked = [t for t in threading.enumerate() if t not in before]
    for thread in leaked:
        thread.join(2)
    assert not [t for t in leaked if t.is_alive()]


async def test_writer_runs_in_wal_mode_with_synchronous_full(sqlite_path: Path) -> None:
    db_path = sqlite_path
    ledger = await Ledger.open(db_path)

    def pragmas(conn: sqlite3.Connection) -> tuple:
        return (conn.execute("PRAGMA journal_mode").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0])

    try:
        assert await ledger.store.write(pragmas) == ("wal", 2)  # 2 is FULL
    finally:
        await ledger.close()
    assert rows(db_path, "PRAGMA journal_mode") == [("wal",)]  # persistent, in the file


async def test_synchronous_is_configurable_and_checked(tmp_path: Path) -> None:
    async with await Ledger.open(tmp_path / "x.db", synchronous="extra") as ledger:
        assert await ledger.store.write(
            lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 3
    with pytest.raises(ValueError, match="synchronous"):
        await Ledger.open(tmp_path / "y.db", synchronous="sometimes")
