"""The operator's side panel of `gridshop sandbox`: what only the shop's own objects can do.

The web chat (sandbox/webchat) drives the emulators itself; for the rest it calls this:
the simulated grid's latency and failure rate, the shop's clock (moved forward together with
the Stripe emulator's, then the periods job and hold expiry run at once, as they would within
a minute), and a read-only view of the ledger (accounts, latest transfers, the audit line).
Reads go through a second `Ledger` on the same SQLite file, as `gridshop ledger audit` does
while the shop runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.money import format_tfc
from grid.periods import PeriodKeeper
from grid.simulated import SimulatedGrid
from grid.worker import WorkerOptions
from ledger import Ledger
from ledger.deployments import DAY_S
from sandbox.stripe_api import StripeEmulator

from .config import Config
from .runtime import load_catalogue

MAX_ADVANCE_S = 400 * DAY_S
RECENT_TRANSFERS = 8


@dataclass
class SandboxClock:
    """The shop's clock in the sandbox: real time plus what the operator moved it on."""

    offset_s: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


class Operator:
    """The side panel's actions and views over the running shop; see the module docstring."""

    def __init__(self, config: Config, ledger: Ledger, grid: SimulatedGrid, clock: SandboxClock,
                 stripe: StripeEmulator) -> None:
        self.config = config
        self.ledger = ledger
        self.grid = grid
        self.clock = clock
        self.stripe = stripe

    async def _periods(self) -> PeriodKeeper:
        """The periods job as the shop runs it: with the catalogue the admins changed."""
        catalogue = await load_catalogue(self.ledger, self.config)
        return PeriodKeeper(self.ledger, self.grid, WorkerOptions.from_config(self.config, services=catalogue))

    async def set_grid(self, latency_s: float, failure_rate: float) -> None:
        """Change the simulated grid for the next deployments; bad values change nothing."""
        if not 0.0 <= latency_s <= 600.0:
            raise ValueError("latency must be between 0 and 600 seconds")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure rate must be between 0 and 1")
        self.grid.latency_s = latency_s
        self.grid.failure_rate = failure_rate

    async def advance_clock(self, seconds: int) -> None:
        """Move the shop's and Stripe's clocks on, then run what the passing time triggers."""
        if not 0 < seconds <= MAX_ADVANCE_S:
            raise ValueError(f"advance by 1 s to {MAX_ADVANCE_S // DAY_S} days")
        self.clock.offset_s += seconds
        self.stripe.advance_clock(seconds)
        await (await self._periods()).run_once()
        await self.ledger.expire_holds()

    async def snapshot(self) -> dict[str, Any]:
        """Everything the panel shows, ready for JSON (amounts already formatted)."""
        def read(conn: Any) -> tuple[list[Any], list[Any]]:
            accounts = conn.execute(
                "SELECT code, kind, user_id, balance, held FROM accounts "
                "ORDER BY kind != 'user', id").fetchall()
            transfers = conn.execute(
                "SELECT t.id, t.kind, t.amount, t.memo, d.code, c.code, t.created_at FROM transfers t "
                "JOIN accounts d ON d.id = t.debit_account_id JOIN accounts c ON c.id = t.credit_account_id "
                "ORDER BY t.id DESC LIMIT ?", (RECENT_TRANSFERS,)).fetchall()
            return accounts, transfers

        accounts, transfers = await self.ledger.read(read)
        audit = await self.ledger.audit()
        return {
            "clock": {"now": int(self.clock()), "offset_s": int(self.clock.offset_s)},
            "grid": {"latency_s": self.grid.latency_s, "failure_rate": self.grid.failure_rate},
            "ledger": {
                "audit": audit.summary(),
                "audit_ok": audit.ok,
                "accounts": [{"code": code, "kind": kind, "user_id": user_id,
                              "balance": format_tfc(balance), "held": format_tfc(held)}
                             for code, kind, user_id, balance, held in accounts],
                "transfers": [{"id": tid, "kind": kind, "amount": format_tfc(amount), "memo": memo,
                               "from": debit, "to": credit, "at": at}
                              for tid, kind, amount, memo, debit, credit, at in transfers],
            },
        }
