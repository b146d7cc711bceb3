"""The business operations that span several ledger steps, each through a real SQLite file:
the savepoint a refused step rolls back to, finding a payment by any reference."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger import InsufficientFunds, Ledger, ops
from ledger.savepoint import savepoint

from .helpers import dump, fund, rows


async def test_a_refused_step_rolls_back_alone_and_the_write_goes_on(
    ledger: Ledger, db_path: Path
) -> None:
    alice = await fund(ledger, 1, 100)
    bob = await ledger.user_account(2)

    def write(conn: sqlite3.Connection, now: int) -> str:
        ops.transfer(conn, now, "kept", alice, bob, 30, "transfer")
        try:
            with savepoint(conn, "step"):
                ops.transfer(conn, now, "undone", alice, bob, 10, "transfer")
                ops.transfer(conn, now, "refused", alice, bob, 1_000, "transfer")  # no cover
        except InsufficientFunds:
            return "refused"
        return "all"

    assert await ledger.write(write) == "refused"
    assert rows(db_path, "SELECT key FROM transfers WHERE kind = 'transfer'") == [("kept",)]
    assert (await ledger.balance(1)).posted == 70
    assert (await ledger.audit()).ok


async def test_a_savepoint_name_must_be_an_identifier(ledger: Ledger, db_path: Path) -> None:
    before = dump(db_path)
    with pytest.raises(ValueError, match="identifier"):
        await ledger.write(lambda conn, now: savepoint(conn, "x; DROP TABLE transfers"))
    assert dump(db_path) == before


async def test_a_payment_is_found_by_its_id_or_the_providers_id(ledger: Ledger) -> None:
    await fund(ledger, 1, 100, external_id="cs_first")
    second = await ledger.record_payment("stars", "charge-7", user_id=2, amount=50,
                                         provider_amount=10, provider_currency="XTR")
    payment_id = second.payment.id
    assert (await ledger.find_payment(str(payment_id))) == second.payment
    assert (await ledger.find_payment(f"#{payment_id}")) == second.payment
    assert (await ledger.find_payment("charge-7")) == second.payment
    found = await ledger.find_payment("cs_first")
    assert found is not None and found.user_id == 1
    assert await ledger.find_payment("999") is None
    assert await ledger.find_payment("0") is None
    assert await ledger.find_payment("no-such-charge") is None
    assert await ledger.find_payment(str(2**63)) is None  # not an id SQLite could hold
