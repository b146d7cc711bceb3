"""`gridshop ledger migrate --to URL`: a populated SQLite shop copied into PostgreSQL keeps
every balance, every row and a passing audit, and the shop goes on there (new ids follow the
copied ones); an occupied target is refused and left as it was."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.cli import main
from ledger import PAYABLE_GRID, Ledger, adminlog, inbox, outbox, users

from ..ledger.helpers import dump, rows

USERS = (101, 102, 103, 104)


async def _populate(db: Path) -> None:
    """A shop that has lived a little: every provider paid, purchases placed, settled, voided
    and pending, a refund that left a debt, an admin adjustment, users, messages, a parked
    event."""
    ledger = await Ledger.open(db)
    try:
        for n, user in enumerate(USERS):
            provider = ("stripe", "stars", "telegram_card")[n % 3]
            await ledger.record_payment(provider, f"pay-{user}", user_id=user, amount=5_000 + n,
                                        provider_amount=5_000 + n, provider_currency="usd")
            await ledger.write(lambda conn, now, u=user: users.upsert(conn, now, u, f"user{u}", "A"))
        holds = []
        for user in USERS:
            order = await ledger.create_order(f"o-{user}", user, "purchase", 1_234, "vm-small")
            holds.append((await ledger.purchase(order.id, user)).hold)
        await ledger.settle_hold(holds[0].id, "settle-0")
        await ledger.void_hold(holds[1].id, "void-1")
        a, b = await ledger.user_account(USERS[2]), await ledger.user_account(USERS[3])
        await ledger.transfer("gift", a, b, 700, memo="a gift")
        await ledger.transfer("grid", b, PAYABLE_GRID, 99)
        await ledger.clawback("stripe", f"pay-{USERS[3]}", "refund-103", 5_003, reason="refund")
        await ledger.adjust("adj-1", USERS[1], 250, admin_id=9, reason="goodwill")
        await ledger.write(lambda conn, now: adminlog.record(conn, now, 9, "credit", "user 102"))
        await ledger.write(lambda conn, now: outbox.enqueue(conn, now, USERS[0], "hello", key="m1"))
        await ledger.write(lambda conn, now: inbox.keep(conn, now, "stripe", "evt_1", "charge",
                                                        "{}", "unknown order"))
        assert (await ledger.audit()).ok
    finally:
        await ledger.close()


def _migrate(config: Path, url: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["--config", str(config), "ledger", "migrate", "--to", url], out=out), out.getvalue()


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "gridshop.toml"
    config.write_text('[database]\npath = "shop.db"\n')
    db = tmp_path / "shop.db"
    asyncio.run(_populate(db))
    return config, db


TABLES = ("accounts", "transfers", "holds", "orders", "payments", "deployments", "users",
          "notifications", "admin_log", "provider_events", "schema_version")


def test_a_populated_shop_round_trips_into_postgresql(shop: tuple[Path, Path], pg_url: str) -> None:
    config, db = shop
    code, out = _migrate(config, pg_url)
    assert code == 0, out
    assert "balances and audit match" in out and "problem" not in out
    for table in TABLES[:-1]:
        assert rows(pg_url, f"SELECT count(*) FROM {table}") == rows(db, f"SELECT count(*) FROM {table}")
    balances = "SELECT id, code, balance, held, user_id FROM accounts ORDER BY id"
    assert rows(pg_url, balances) == rows(db, balances)
    assert rows(pg_url, "SELECT * FROM transfers ORDER BY id") == rows(db, "SELECT * FROM transfers ORDER BY id")

    async def go_on() -> None:
        # The shop runs on from the copy: reads match, and new rows get ids after the copied ones.
        async with await Ledger.open(pg_url) as moved:
            for user in USERS:
                assert (await moved.history(user, 50)) == (await _history(db, user))
            order = await moved.create_order("o-new", USERS[0], "topup", 500)
            paid = await moved.record_payment("stripe", "pay-new", user_id=USERS[0], amount=500,
                                              provider_amount=500, provider_currency="usd",
                                              order_id=order.id)
            assert paid.new and order.id > len(USERS) and paid.payment.id > len(USERS)
            assert (await moved.user_account(999)) > max(await _accounts(db))
            assert (await moved.audit()).ok

    asyncio.run(go_on())


async def _history(db: Path, user: int) -> list[object]:
    async with await Ledger.open(db) as ledger:
        return list(await ledger.history(user, 50))


async def _accounts(db: Path) -> list[int]:
    async with await Ledger.open(db) as ledger:
        return await ledger.read(lambda conn: [r[0] for r in conn.execute("SELECT id FROM accounts")])


def test_a_target_that_holds_a_shop_is_refused_and_left_alone(
        shop: tuple[Path, Path], pg_url: str) -> None:
    config, _ = shop
    assert _migrate(config, pg_url)[0] == 0
    before = dump(pg_url)
    code, out = _migrate(config, pg_url)
    assert code != 0
    assert dump(pg_url) == before


def test_migrate_wants_a_postgresql_url(shop: tuple[Path, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = shop
    code, _ = _migrate(config, "mysql://db/shop")
    assert code == 1
    assert "postgresql:// URL" in capsys.readouterr().err
