"""An admin's /retry of a failed deployment that fails again: the fresh hold is voided as well,
the credits come back a second time and the job ends failed (not stuck deploying)."""

from __future__ import annotations

from pathlib import Path

from ledger import Ledger, ops
from ledger import admin_state as state
from tests.grid.worker_support import buy, deployment, fund, make_grid, make_worker, messages


async def test_a_retried_deployment_that_fails_again_is_refunded_again(ledger: Ledger, tmp_path: Path) -> None:
    grid = make_grid(tmp_path, failure_rate=1.0, failure_kinds=("no_capacity",))
    await fund(ledger, 11, 1_000)
    purchase = await buy(ledger, 11, "vm-small")
    worker = make_worker(ledger, grid)

    await worker.run_once()
    assert (await deployment(ledger, purchase.deployment_id)).state == "failed"
    assert (await ledger.balance(11)).available == 1_000

    retried = await ledger.write(lambda conn, now: state.retry_deployment(
        conn, now, purchase.deployment_id, hold_ttl_s=3600, key="admin-retry:1"))
    assert retried.state == "queued" and retried.hold_id != purchase.hold.id
    assert (await ledger.balance(11)).held == 400

    await worker.run_once()

    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "failed"
    hold = await ledger.read(lambda conn: ops.get_hold(conn, dep.hold_id))
    assert hold.state == "voided"
    balance = await ledger.balance(11)
    assert (balance.posted, balance.held, balance.available) == (1_000, 0, 1_000)
    assert (await ledger.get_order(purchase.order.id)).state == "failed"
    failures = [text for text, _ in await messages(ledger, 11) if "could not be deployed" in text]
    assert len(failures) == 2  # the user hears of each failure
    assert (await worker.run_once()) == 0  # nothing left to claim: the grid is not called again
    assert (await ledger.audit()).ok
