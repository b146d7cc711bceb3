"""The periods job: a service is sold for a period, and the grid bills while a contract lives.

Each pass: warns once per period the users whose deployment expires within
`expiry_warning_days` (saying whether the renewal will go through, `ledger.grace.warn`); at
expiry renews from the balance when auto-renew is on and the balance covers it; keeps an
auto-renewing VM the balance cannot renew `grace_days` days, reminding the user once a day and
renewing it (from its expiry) as soon as the balance covers it; otherwise moves the deployment
to 'cancelling'; and cancels on the grid every deployment in 'cancelling' (retried each pass
until the grid confirms), then tells the user. So no unpaid VM stays on the grid for longer
than its grace period and one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field

from core import notices
from core.metrics import GRID_ERRORS
from grid.deployer import Deployer
from grid.worker import LedgerWriter, WorkerOptions
from ledger import Ledger, grace, ops
from ledger import deployments as jobs
from ledger.deployments import DAY_S, DeploymentRecord
from ledger.grace import TopUpOffer

log = logging.getLogger(__name__)


@dataclass
class PeriodReport:
    """What one pass did, by deployment id."""

    warned: list[int] = field(default_factory=list)
    renewed: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)  # moved to 'cancelling' at expiry
    in_grace: list[int] = field(default_factory=list)  # kept past expiry, reminded (grace period)
    cancelled: list[int] = field(default_factory=list)  # contract cancelled on the grid
    errors: list[str] = field(default_factory=list)


class PeriodKeeper:
    """Runs the periods job over the ledger's deployments; see the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        deployer: Deployer,
        options: WorkerOptions,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ledger = ledger
        self.deployer = deployer
        self.options = options
        self.write = LedgerWriter(ledger, clock)
        self.offer = TopUpOffer(options.topup_presets, options.min_topup, options.max_topup)

    def price(self, conn: sqlite3.Connection, dep: DeploymentRecord) -> int:
        """One period's price: the catalogue's current one, else what the order paid."""
        service = self.options.services.get(dep.service_id)
        return service.price_minor if service is not None else ops.get_order(conn, dep.order_id).amount

    def _period_days(self, dep: DeploymentRecord) -> int | None:
        service = self.options.services.get(dep.service_id)
        return service.period_days if service is not None else dep.period_days

    async def run_once(self, limit: int = 200) -> PeriodReport:
        report = PeriodReport()
        if self.options.expiry_warning_days > 0:
            warn_s = self.options.expiry_warning_days * DAY_S

            def warn(conn: sqlite3.Connection, now: int) -> list[int]:
                return [dep.id for dep in jobs.due_for_warning(conn, now, warn_s, limit)
                        if grace.warn(conn, now, dep.id, self.price(conn, dep), self.offer,
                                      self.options.grace_days)]

            report.warned = await self.write(warn)

        def expire(conn: sqlite3.Connection, now: int) -> list[tuple[int, str]]:
            return [(dep.id, grace.expire(conn, now, dep.id, commission_ppm=self.ledger.commission_ppm,
                                          price=self.price(conn, dep), period_days=self._period_days(dep),
                                          grace_days=self.options.grace_days, offer=self.offer))
                    for dep in jobs.due_for_expiry(conn, now, limit)]

        outcomes = {"renewed": report.renewed, "grace": report.in_grace, "cancelling": report.expired}
        for deployment_id, outcome in await self.write(expire):
            outcomes.get(outcome, []).append(deployment_id)

        cancelling = await self.ledger.read(lambda conn: jobs.list_by_state(conn, "cancelling", limit))
        for dep in cancelling:
            try:
                await finish_cancel(self.write, self.deployer, dep)
            except Exception as exc:  # retried next pass; the state stays 'cancelling'
                log.warning("deployment %d: grid cancel failed: %s", dep.id, exc)
                report.errors.append(f"{dep.id}: {exc}")
            else:
                report.cancelled.append(dep.id)
        return report

    async def run(self, stop: asyncio.Event | None = None, interval_s: float = 60.0) -> None:
        """Run a pass every `interval_s` until `stop` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("periods pass failed; trying again next time")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)


async def finish_cancel(write: LedgerWriter, deployer: Deployer, dep: DeploymentRecord, *,
                        notify: bool = True) -> DeploymentRecord:
    """Cancel the contract of a 'cancelling' deployment on the grid, then mark it cancelled
    (telling the user, unless `notify` is False because the chat tells them)."""
    if dep.name:
        try:
            await deployer.cancel(dep.name)
        except Exception as exc:
            GRID_ERRORS.labels("cancel", type(exc).__name__).inc()
            raise
    return await write(lambda conn, now: jobs.mark_cancelled(conn, now, dep.id, notify=notify))


async def cancel_deployment(
    ledger: Ledger,
    deployer: Deployer,
    deployment_id: int,
    *,
    user_id: int | None = None,
    reason: str = notices.REASON_CANCELLED_BY_USER,
    clock: Callable[[], float] | None = None,
) -> DeploymentRecord:
    """The chat's confirmed "cancel": a queued job is cancelled and refunded at once; a running
    VM's contract is cancelled on the grid now (or by the next periods pass if the grid fails).
    The chat tells the user in the message they tapped; only a cancel the periods job finishes
    later sends a message of its own.

    Raises `ledger.deployments.DeploymentStateError` for a job being deployed right now and
    `DeploymentNotFound` for someone else's deployment.
    """
    write = LedgerWriter(ledger, clock)
    dep = await write(lambda conn, now: jobs.request_cancel(conn, now, deployment_id, reason, user_id))
    if dep.state != "cancelling":
        return dep
    try:
        return await finish_cancel(write, deployer, dep, notify=False)
    except Exception as exc:
        log.warning("deployment %d: grid cancel failed (%s); the periods job will retry", dep.id, exc)
        return dep
