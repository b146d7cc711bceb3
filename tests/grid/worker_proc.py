"""Run the deployment worker as its own process (for the SIGKILL test):

    python -m tests.grid.worker_proc LEDGER_DB GRID_DB LATENCY_S
"""

from __future__ import annotations

import asyncio
import sys

from grid.simulated import SimulatedGrid
from grid.worker import DeploymentWorker
from ledger import Ledger
from tests.grid.worker_support import options


async def main(db: str, grid_db: str, latency_s: float) -> None:
    async with await Ledger.open(db) as ledger:
        grid = SimulatedGrid(grid_db, latency_s=latency_s)
        await DeploymentWorker(ledger, grid, options(lease_s=600)).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
