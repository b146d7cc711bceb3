"""Contract reconciliation: what the grid bills the operator's wallet for, against the shop.

`tfcmd cancel` lists contracts through the GraphQL indexer, which lags the chain: it exits 0
("project is canceled") having found nothing when the contracts are too new to be indexed, and
a deploy killed on timeout may leave contracts that nothing later cancels. So every
`reconcile_interval_s` (and by hand: `gridshop grid reconcile [--dry-run]`) a pass:

1. lists the node contracts of the operator's twin in state Created or GracePeriod from
   gridproxy (`/contracts?twin_id=...&state=Created,GracePeriod`), grouped by deployment name
   (the deployment data's project, "vm/<name>");
2. records, on each deployment of this shop, its contract ids and what the grid billed for them
   (`/contracts/<id>/bills`, TFT in units of 1e-7), so the shop knows what a VM costs;
3. cancels orphans: contracts named like this shop's deployments (`gs<shop id>_...`) or named
   after one of its deployments, when that deployment is failed or cancelled, or does not
   exist; admins are told once. Another shop's contracts on the same login are never touched;
4. counts an orphan's cancel as done only when gridproxy no longer lists it (admins are told),
   and cancels again on every pass until then;
5. flags a ready deployment whose contracts are all gone (after `VANISHED_GRACE_S`, so a fresh
   one the indexer has not seen yet is not flagged) to its user and the admins, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from core.scrub import scrub
from grid.deployer import Deployer
from grid.errors import GridError
from grid.gridproxy import Contract, GridProxyClient
from grid.worker import LedgerWriter
from ledger import Ledger, shop_meta
from ledger import deployments as jobs
from ledger import grid_contracts as gc

log = logging.getLogger(__name__)

VANISHED_GRACE_S = 3600  # the indexer may take a while to list a new deployment's contracts
COST_WINDOW_S = 2 * 86_400  # bills of closed deployments are read for two more days
DEAD_STATES = ("failed", "cancelled")
TWIN_CHECK_NAME = "gridshop_twin_check"  # looked up (never deployed) to learn the login's twin


@dataclass
class ReconcileReport:
    """What one pass found, by grid name / contract id."""

    listed: int = 0
    orphans: dict[str, list[int]] = field(default_factory=dict)  # name -> contract ids
    cancelled: list[str] = field(default_factory=list)  # names cancel was run for
    gone: list[int] = field(default_factory=list)  # orphan contracts no longer listed
    vanished: list[int] = field(default_factory=list)  # ready deployment ids without contracts
    costs: dict[int, int] = field(default_factory=dict)  # deployment id -> billed (1e-7 TFT)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        orphans = ", ".join(f"{n} {ids}" for n, ids in sorted(self.orphans.items())) or "none"
        return (f"{self.listed} contracts listed; orphans: {orphans}; cancelled: "
                f"{', '.join(self.cancelled) or 'none'}; gone: {self.gone or 'none'}; vanished: "
                f"{self.vanished or 'none'}; errors: {len(self.errors)}")


class ContractReconciler:
    """Runs the reconciliation pass described in the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        deployer: Deployer,
        gridproxy: GridProxyClient,
        *,
        admin_ids: Sequence[int] = (),
        name_prefix: str = "gs",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ledger = ledger
        self.deployer = deployer
        self.gridproxy = gridproxy
        self.admin_ids = tuple(admin_ids)
        self.name_prefix = name_prefix
        self.write = LedgerWriter(ledger, clock)

    async def run_once(self, *, dry_run: bool = False) -> ReconcileReport:
        report = ReconcileReport()
        if self.gridproxy.twin_id is None:
            # every tfcmd run logs the login's twin, and the tfcmd backend learns it from there
            await self.deployer.get(TWIN_CHECK_NAME)
        contracts = await self.gridproxy.contracts()
        report.listed = len(contracts)
        by_name: dict[str, list[Contract]] = {}
        for contract in contracts:
            by_name.setdefault(contract.deployment_name, []).append(contract)
        shop = await self.write(lambda conn, now: shop_meta.shop_id(conn))
        ours = jobs.shop_name_prefix(self.name_prefix, shop)

        def match(conn: sqlite3.Connection, now: int) -> dict[str, jobs.DeploymentRecord]:
            found = gc.by_names(conn, by_name)
            for name, dep in found.items():
                if dep.state not in DEAD_STATES:
                    gc.record_contracts(conn, now, dep.id, [c.contract_id for c in by_name[name]])
            return found

        deployments = await self.write(match)
        for name, group in sorted(by_name.items()):
            dep = deployments.get(name)
            if dep is None and not name.startswith(ours):
                continue  # another shop's, or made by hand: not ours to touch
            if dep is not None and dep.state not in DEAD_STATES:
                continue
            reason = "no deployment of the shop has that name" if dep is None else \
                f"deployment #{dep.id} is {dep.state}"
            report.orphans[name] = sorted(c.contract_id for c in group)
            await self._orphan(name, report.orphans[name], reason, dry_run, report)

        listed = {c.contract_id for c in contracts}
        if not dry_run:
            report.gone = await self.write(
                lambda conn, now: gc.orphans_gone(conn, now, listed, self.admin_ids))
            await self._vanished(set(by_name), report)
        await self._costs(report)
        return report

    async def _orphan(self, name: str, ids: list[int], reason: str, dry_run: bool,
                      report: ReconcileReport) -> None:
        await self.write(lambda conn, now: gc.note_orphans(conn, now, name, ids, reason, self.admin_ids,
                                                           dry_run=dry_run))
        if dry_run:
            return
        error: str | None = None
        try:
            await self.deployer.cancel(name)
            report.cancelled.append(name)
        except Exception as exc:  # tried again next pass: the contracts are still listed
            error = exc.message if isinstance(exc, GridError) else scrub(str(exc))
            report.errors.append(f"{name}: {error}")
            log.warning("reconcile: cancelling orphan %s failed: %s", name, error)
        await self.write(lambda conn, now: gc.orphan_cancel_tried(conn, now, ids, error))

    async def _vanished(self, listed_names: set[str], report: ReconcileReport) -> None:
        def flag(conn: sqlite3.Connection, now: int) -> list[int]:
            flagged = []
            for dep in gc.ready_before(conn, now - VANISHED_GRACE_S):
                if dep.name not in listed_names:
                    gc.flag_vanished(conn, now, dep, self.admin_ids)
                    flagged.append(dep.id)
            return flagged

        report.vanished = await self.write(flag)

    async def _costs(self, report: ReconcileReport) -> None:
        since = self.write.now() - COST_WINDOW_S
        deployments = await self.ledger.read(lambda conn: gc.with_contracts(conn, since))
        for dep in deployments:
            try:
                billed = sum([await self.gridproxy.contract_billed(c) for c in dep.contract_ids])
            except GridError as exc:
                report.errors.append(f"bills of #{dep.id}: {exc.message}")
                continue
            report.costs[dep.id] = billed
            await self.write(partial(gc.record_cost, deployment_id=dep.id, billed=billed))

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """A pass every `interval_s` until `stop` is set; a failed pass is logged and retried."""
        while not stop.is_set():
            try:
                report = await self.run_once()
                if report.orphans or report.vanished or report.errors:
                    log.warning("grid reconcile: %s", report.summary())
            except Exception as exc:
                text = exc.message if isinstance(exc, GridError) else scrub(str(exc))
                log.warning("grid reconcile failed (%s); trying again next time", text)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)
