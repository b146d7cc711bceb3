"""`gridshop ledger backup` while the shop writes, and `gridshop ledger restore`: the restored
shop passes the audit and holds exactly the transfers and balances of the instant copied."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import subprocess
import sys
from pathlib import Path

from ledger import Ledger
from tests.ledger.helpers import fund, rows


def _config(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "gridshop.toml"
    path.write_text('[database]\npath = "shop.db"\n')
    return path


async def _gridshop(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _populate(ledger: Ledger) -> None:
    for user in range(1, 31):
        await fund(ledger, user, 1000 + user)
        if user % 3 == 0:
            order = await ledger.create_order(f"o{user}", user, "purchase", 400, "vm-small")
            await ledger.purchase(order.id, user)


async def _keep_writing(ledger: Ledger, stop: asyncio.Event, written: list[int]) -> None:
    """Payments and user-to-user transfers, one after the other, until `stop`."""
    for n in itertools.count():
        if stop.is_set():
            return
        user = 1 + n % 30
        if n % 2:
            await fund(ledger, user, 7, external_id=f"live:{n}")
        else:
            await ledger.transfer(f"t:{n}", await ledger.user_account(user),
                                  await ledger.user_account(1 + (n + 1) % 30), 3)
        written.append(n)


def _balances_at(db: Path, last_transfer: int) -> dict[int, int]:
    """Each account's balance just after transfer `last_transfer`, from the immutable transfers."""
    balances: dict[int, int] = {}
    for debit, credit, debit_after, credit_after in rows(
            db, "SELECT debit_account_id, credit_account_id, debit_balance_after, credit_balance_after "
                "FROM transfers WHERE id <= ? ORDER BY id", (last_transfer,)):
        balances[debit], balances[credit] = debit_after, credit_after
    return balances


async def test_backup_while_writing_restores_to_the_instant_copied(tmp_path: Path) -> None:
    live_config = _config(tmp_path / "live")
    live_db = live_config.parent / "shop.db"
    backup_file = tmp_path / "shop-backup.db"
    stop, written = asyncio.Event(), []
    async with await Ledger.open(live_db) as ledger:
        await _populate(ledger)
        writer = asyncio.create_task(_keep_writing(ledger, stop, written))
        await asyncio.sleep(0.05)
        before = len(written)
        code, out, err = await _gridshop("--config", str(live_config), "ledger", "backup", str(backup_file))
        during = len(written) - before
        await asyncio.sleep(0.05)
        stop.set()
        await writer
    assert (code, err) == (0, ""), err
    assert out.startswith(f"backed up {live_db} to {backup_file} (schema ") and "audit ok" in out
    assert during > 0  # the shop kept writing while the backup ran

    restored_config = _config(tmp_path / "restored")
    restored_db = restored_config.parent / "shop.db"
    code, out, err = await _gridshop("--config", str(restored_config), "ledger", "restore", str(backup_file))
    assert (code, err) == (0, ""), err
    assert out.startswith(f"restored {backup_file} as {restored_db}") and "audit ok" in out

    [(copied,)] = rows(restored_db, "SELECT max(id) FROM transfers")
    [(total,)] = rows(live_db, "SELECT max(id) FROM transfers")
    assert 60 < copied < total  # a point in the middle of the writes, not the start or the end
    # The restored shop is the live one as it was at that instant: the same transfers, every
    # account's balance as the live ledger's own history says it was then, and a clean audit.
    prefix = "SELECT * FROM transfers WHERE id <= ? ORDER BY id"
    assert rows(restored_db, prefix, (copied,)) == rows(live_db, prefix, (copied,))
    assert dict(rows(restored_db, "SELECT id, balance FROM accounts WHERE id IN "
                                  "(SELECT debit_account_id FROM transfers UNION "
                                  "SELECT credit_account_id FROM transfers)")) == _balances_at(live_db, copied)
    async with await Ledger.open(restored_db) as restored:
        report = await restored.audit()
        assert report.ok, report.violations
        assert report.holds == 10
        assert (await restored.balance(3)).held == 400


async def test_restore_over_an_existing_database_needs_force_and_a_sound_backup(tmp_path: Path) -> None:
    config = _config(tmp_path / "shop")
    db = config.parent / "shop.db"
    async with await Ledger.open(db) as ledger:
        await fund(ledger, 1, 500)
    backup_file = tmp_path / "backup.db"
    assert (await _gridshop("--config", str(config), "ledger", "backup", str(backup_file)))[0] == 0
    async with await Ledger.open(db) as ledger:
        await fund(ledger, 1, 200, external_id="after-the-backup")

    code, out, err = await _gridshop("--config", str(config), "ledger", "restore", str(backup_file))
    assert (code, out) == (1, "")
    assert err.strip() == f"gridshop: {db} exists: stop gridshop, then restore with --force to replace it"
    assert rows(db, "SELECT balance FROM accounts WHERE user_id = 1") == [(700,)]

    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(backup_file.read_bytes()[:4096] + b"\x00" * 4096)
    tampered = tmp_path / "tampered.db"
    tampered.write_bytes(backup_file.read_bytes())
    with sqlite3.connect(tampered) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 100 WHERE user_id = 1")
    for bad in (damaged, tampered, tmp_path / "missing.db"):
        code, out, err = await _gridshop("--config", str(config), "ledger", "restore", "--force", str(bad))
        assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert rows(db, "SELECT balance FROM accounts WHERE user_id = 1") == [(700,)]

    code, out, err = await _gridshop("--config", str(config), "ledger", "restore", "--force", str(backup_file))
    assert code == 0, err
    assert rows(db, "SELECT balance FROM accounts WHERE user_id = 1") == [(500,)]
    async with await Ledger.open(db) as ledger:
        assert (await ledger.audit()).ok
        assert (await ledger.balance(1)).posted == 500
