"""What the ledger keeps in memory has a ceiling: the account cache and the writer's queue."""

from __future__ import annotations

import asyncio

from ledger import Ledger
from ledger import ledger as ledger_module
from ledger import store as store_module


async def test_the_account_cache_keeps_at_most_its_limit(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ledger_module, "ACCOUNT_CACHE", 5)
    ledger = await Ledger.open(tmp_path / "shop.db")
    try:
        accounts = [await ledger.user_account(1000 + n) for n in range(40)]
        assert len(ledger._user_accounts) <= 5
        # A user the cache forgot still gets their own account, not a new one.
        assert await ledger.user_account(1000) == accounts[0]
        assert len(set(accounts)) == 40
    finally:
        await ledger.close()


async def test_callers_past_the_queue_limit_wait_for_room(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "MAX_QUEUED", 4)
    ledger = await Ledger.open(tmp_path / "shop.db")
    seen: list[int] = []
    try:
        store = ledger.store

        async def watch() -> None:
            while True:
                seen.append(store.queued)
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        accounts = await asyncio.gather(*(ledger.user_account(2000 + n) for n in range(100)))
        watcher.cancel()
        assert len(set(accounts)) == 100  # every caller was served
    finally:
        await ledger.close()
    assert max(seen) <= 4
