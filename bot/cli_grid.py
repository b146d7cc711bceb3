"""`gridshop grid reconcile [--dry-run]`: one contract reconciliation pass, run by hand.

It lists the operator twin's contracts on gridproxy, cancels the orphans (or, with --dry-run,
only reports them) and prints what it found; see `grid.reconcile`. Needs the tfcmd backend.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from core.settings import Config
from grid.errors import GridError
from grid.factory import make_deployer
from grid.reconcile import ContractReconciler
from ledger import Ledger

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


async def grid_command(config: Config, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if config.grid.backend != "tfcmd":
        print("gridshop grid reconcile: needs grid.backend = \"tfcmd\" (the simulated grid has no "
              "contracts to reconcile)", file=err)
        return EXIT_USAGE
    try:
        deployer = make_deployer(config.grid)
    except ValueError as exc:
        print(f"gridshop grid reconcile: {exc}", file=err)
        return EXIT_USAGE
    gridproxy = getattr(deployer, "gridproxy", None)
    if gridproxy is None:
        print("gridshop grid reconcile: no gridproxy (set grid.gridproxy_url or grid.network)", file=err)
        return EXIT_USAGE
    ledger = await Ledger.open(config.database.target, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        reconciler = ContractReconciler(ledger, deployer, gridproxy, admin_ids=config.admin.user_ids)
        report = await reconciler.run_once(dry_run=args.dry_run)
    except GridError as exc:
        print(f"gridshop grid reconcile: {exc.message}", file=err)
        return EXIT_FAILED
    finally:
        await ledger.close()
        await deployer.aclose()  # type: ignore[attr-defined]
    for name, ids in sorted(report.orphans.items()):
        verb = "would cancel" if args.dry_run else "cancelled" if name in report.cancelled else "could not cancel"
        print(f"orphan {name}: contracts {', '.join(map(str, ids))}; {verb}", file=out)
    for deployment_id in report.vanished:
        print(f"deployment #{deployment_id} is ready but its contracts are gone", file=out)
    for error in report.errors:
        print(f"error: {error}", file=out)
    print(report.summary(), file=out)
    return EXIT_FAILED if report.errors else EXIT_OK
