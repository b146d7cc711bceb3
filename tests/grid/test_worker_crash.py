"""SIGKILL the worker process in the middle of a deploy, restart: one VM, one charge, audit ok."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from grid.simulated import SimulatedGrid
from ledger import PAYABLE_GRID, REVENUE_COMMISSION, Ledger, shop_meta
from ledger import deployments as jobs
from tests.grid.worker_support import buy, deployment, fund, make_worker

REPO_ROOT = Path(__file__).resolve().parents[2]


def _contract_states(grid_db: Path, name: str) -> list[str]:
    if not grid_db.exists():
        return []
    conn = sqlite3.connect(grid_db, timeout=5)
    try:
        return [r[0] for r in conn.execute("SELECT state FROM contracts WHERE name = ?", (name,))]
    except sqlite3.OperationalError:
        return []  # the worker has not created the table yet
    finally:
        conn.close()


async def test_sigkill_mid_deploy_then_restart_makes_one_deployment(tmp_path: Path) -> None:
    db, grid_db = tmp_path / "shop.db", tmp_path / "grid.sqlite3"
    async with await Ledger.open(db) as ledger:
        await fund(ledger, 5, 1_000)
        purchase = await buy(ledger, 5, "vm-small")
        shop = await ledger.write(lambda conn, now: shop_meta.shop_id(conn))
    name = jobs.deployment_name(purchase.deployment_id, "gs", shop)

    proc = subprocess.Popen([sys.executable, "-m", "tests.grid.worker_proc", str(db), str(grid_db), "30"],
                            cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 20
        while _contract_states(grid_db, name) != ["deploying"]:
            assert proc.poll() is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker never started the deploy"
            await asyncio.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    async with await Ledger.open(db) as ledger:
        dep = await deployment(ledger, purchase.deployment_id)
        assert dep.state == "deploying" and dep.name == name  # left in flight, lease still running
        # The node keeps deploying after the client died; the restarted worker finds the VM.
        grid = SimulatedGrid(str(grid_db), latency_s=0.2)
        worker = make_worker(ledger, grid)
        assert await worker.recover() == 1
        assert await worker.run_once() == 1

        dep = await deployment(ledger, purchase.deployment_id)
        assert dep.state == "ready"
        assert await grid.contracts_created(name) == 1 and await grid.live_contracts(name) == 1
        assert await grid.attempts(name) == 1  # the restart reused the contract, drew no new deploy
        assert (await ledger.account_balance(PAYABLE_GRID)).posted == 360
        assert (await ledger.account_balance(REVENUE_COMMISSION)).posted == 40
        assert (await ledger.balance(5)).posted == 600
        report = await ledger.audit()
        assert report.ok, report.violations
