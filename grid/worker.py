"""The deployment worker: turns queued purchases into VMs on the grid, durably.

It claims a queued job with a lease, deploys it under a name fixed by the deployment id (so a
retry after a crash finds the VM already made instead of making a second), retries transient
grid failures with backoff up to `max_attempts`, and then, in one ledger transaction, either
settles the hold (grid payable / commission) and marks the job ready, or voids the hold (the
credits come back) and marks it failed. Messages to the user go through the ledger's outbox in
those same transactions. At startup every job left 'deploying' by a dead process is resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from core import notices
from core.metrics import GRID_ERRORS
from core.scrub import scrub
from grid.deployer import Deployer, Deployment, VmSpec
from grid.errors import GridError, PermanentGridError, TransientGridError
from ledger import Ledger, LedgerError, ops
from ledger import deployments as jobs
from ledger.deployments import DeploymentRecord

log = logging.getLogger(__name__)
T = TypeVar("T")


class ServiceSpec(Protocol):
    """What the worker needs of a catalogue entry, read only (core.catalog.Service, the shop's
    catalogue with the admins' changes, fits; so does core.settings.ServiceConfig)."""

    @property
    def id(self) -> str: ...
    @property
    def cpu(self) -> int: ...
    @property
    def memory_gb(self) -> int: ...
    @property
    def disk_gb(self) -> int: ...
    @property
    def rootfs_gb(self) -> int: ...
    @property
    def period_days(self) -> int: ...
    @property
    def price_minor(self) -> int: ...


@dataclass(frozen=True)
class WorkerOptions:
    """Settings of the deployment worker and the periods job."""

    services: Mapping[str, ServiceSpec] = field(default_factory=dict)
    ssh_key: str = ""  # put on a VM when `ssh_key_for` gives none
    max_attempts: int = 3
    expiry_warning_days: int = 3
    grace_days: int = 0  # days an unrenewable auto-renewing VM keeps running (config: 3)
    topup_presets: tuple[int, ...] = ()  # TFC cents, for the top-up button of a short balance
    min_topup: int = 100
    max_topup: int = 100_000
    lease_s: int = 600  # a claim lapses after this unless the heartbeat renews it
    backoff_base_s: int = 30
    backoff_max_s: int = 600
    poll_interval_s: float = 1.0
    concurrency: int = 4
    name_prefix: str = "gs"

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> WorkerOptions:
        """Build from a loaded `bot.config.Config` (read by attribute; grid does not import bot)."""
        values: dict[str, Any] = {
            "services": {s.id: s for s in config.services},
            "ssh_key": config.grid.ssh_key,
            "max_attempts": config.grid.max_attempts,
            "expiry_warning_days": config.grid.expiry_warning_days,
            "grace_days": config.grid.grace_days,
            "topup_presets": tuple(config.marketplace.topup_presets_minor),
            "min_topup": config.marketplace.min_topup_minor,
            "max_topup": config.marketplace.max_topup_minor,
            # a tfcmd call may take its whole timeout; the lease must outlast the heartbeat gap
            "lease_s": max(600, 2 * int(config.grid.tfcmd_timeout_s)),
        }
        values.update(overrides)
        return cls(**values)

    def spec(self, service: ServiceSpec, ssh_key: str) -> VmSpec:
        return VmSpec(cpu=service.cpu, memory_gb=service.memory_gb, rootfs_gb=service.rootfs_gb,
                      disk_gb=service.disk_gb, ssh_key=ssh_key)


class LedgerWriter:
    """Runs `fn(conn, now)` as one ledger write, on the ledger's clock or a given one."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] | None = None) -> None:
        self.ledger = ledger
        self.clock = clock

    def now(self) -> int:
        return int(self.clock()) if self.clock is not None else self.ledger.now()

    async def __call__(self, fn: Callable[[sqlite3.Connection, int], T]) -> T:
        if self.clock is None:
            return await self.ledger.write(fn)
        now = self.now()
        return await self.ledger.store.write(lambda conn: fn(conn, now))


def _details_json(dep: Deployment) -> str:
    return json.dumps({
        "contract_id": dep.contract_id, "node_id": dep.node_id, "mycelium_ip": dep.mycelium_ip,
        "ipv4": dep.ipv4, "ipv6": dep.ipv6, "planetary_ip": dep.planetary_ip,
        "ssh_command": dep.ssh_command,
    }, sort_keys=True)


class DeploymentWorker:
    """Claims queued deployments and drives each to ready or failed; see the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        deployer: Deployer,
        options: WorkerOptions,
        clock: Callable[[], float] | None = None,
        *,
        ssh_key_for: Callable[[int], Awaitable[str | None]] | None = None,
        instance_id: int | None = None,
    ) -> None:
        self.ledger = ledger
        # Set when several instances may share the database (`ledger.roles`): claims carry it.
        self.instance_id = instance_id
        self.deployer = deployer
        self.options = options
        self.write = LedgerWriter(ledger, clock)
        self._ssh_key_for = ssh_key_for
        self._in_flight: set[int] = set()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look for work now instead of at the next poll (call after placing a purchase)."""
        self._wake.set()

    async def recover(self) -> int:
        """Make every job a previous process left 'deploying' claimable now; returns how many.

        When instances share the database, only the jobs no instance owns (claimed before
        migration 10): the others may be a live instance's, and a dead instance's are
        claimable as soon as its lock is gone."""
        release = jobs.release_leases if self.instance_id is None else jobs.release_ownerless_leases
        count = await self.write(release)
        if count:
            log.info("resuming %d deployment(s) left in flight", count)
        return count

    async def run_once(self) -> int:
        """Process every job due now (`concurrency` at a time), retries that fall due included;
        returns how many claims were processed. For tests and one-shot tools."""
        processed = 0
        while claimed := await self._claim(self.options.concurrency):
            await asyncio.gather(*(self._process(dep) for dep in claimed))
            processed += len(claimed)
        return processed

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Resume jobs in flight, then work until `stop` is set (or the task is cancelled)."""
        stop = stop or asyncio.Event()
        await self.recover()
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                self._wake.clear()  # before claiming, so a wake() during the claim is not lost
                free = self.options.concurrency - len(tasks)
                claimed = await self._claim(free) if free > 0 else []
                for dep in claimed:
                    task = asyncio.create_task(self._process(dep), name=f"deploy-{dep.id}")
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if claimed and len(tasks) < self.options.concurrency:
                    continue
                waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(
                    waiters + list(tasks), timeout=self.options.poll_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            # Leases of interrupted jobs are released at the next start; deploys are idempotent.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- one job ---------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[DeploymentRecord]:
        opts = self.options

        def claim(conn: sqlite3.Connection, now: int) -> list[DeploymentRecord]:
            claimed: list[DeploymentRecord] = []
            while len(claimed) < limit:
                dep = jobs.claim_next(conn, now, opts.lease_s, name_prefix=opts.name_prefix,
                                      max_attempts=opts.max_attempts,
                                      exclude=[*self._in_flight, *(d.id for d in claimed)],
                                      owner=self.instance_id)
                if dep is None:
                    break
                claimed.append(dep)
            return claimed

        claimed = await self.write(claim) if limit > 0 else []
        self._in_flight.update(dep.id for dep in claimed)
        return claimed

    async def _process(self, dep: DeploymentRecord) -> None:
        try:
            await self._drive(dep)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug or the database: leave the job to its lease, keep the worker up
            log.exception("deployment %d: unexpected error; it will be retried", dep.id)
        finally:
            self._in_flight.discard(dep.id)

    async def _drive(self, dep: DeploymentRecord) -> None:
        name = dep.name or jobs.deployment_name(dep.id, self.options.name_prefix)
        service = self.options.services.get(dep.service_id)
        if service is None:
            await self._fail(dep, name, notices.reason_service_withdrawn(dep.service_id))
            return
        if dep.attempts >= self.options.max_attempts:
            await self._fail(dep, name, dep.error or notices.REASON_GRID_KEPT_FAILING)
            return
        hold = await self.ledger.read(lambda conn: ops.get_hold(conn, dep.hold_id))
        existing = await self._existing(name)
        if existing is None and (hold.state != "pending" or hold.expires_at <= self.write.now()):
            await self._fail(dep, name, notices.REASON_HOLD_LAPSED)
            return
        try:
            if existing is not None:
                result = existing
            else:
                spec = self.options.spec(service, await self._ssh_key(dep.user_id))
                async with self._heartbeat(dep.id):
                    result = await self.deployer.deploy(spec, name)
        except PermanentGridError as exc:
            GRID_ERRORS.labels("deploy", type(exc).__name__).inc()
            await self._fail(dep, name, exc.reason, exc.message)
            return
        except TransientGridError as exc:
            GRID_ERRORS.labels("deploy", type(exc).__name__).inc()
            await self._retry(dep, name, exc.reason, exc.message)
            return
        await self._succeed(dep, name, service, result)

    async def _existing(self, name: str) -> Deployment | None:
        try:
            found = await self.deployer.get(name)
        except TransientGridError:
            return None  # deploy() is idempotent by name and will find it
        return found if found is not None and found.healthy else None

    async def _ssh_key(self, user_id: int) -> str:
        key = await self._ssh_key_for(user_id) if self._ssh_key_for is not None else None
        return key or self.options.ssh_key

    async def _succeed(self, dep: DeploymentRecord, name: str, service: ServiceSpec,
                       result: Deployment) -> None:
        details = _details_json(result)

        def complete(conn: sqlite3.Connection, now: int) -> DeploymentRecord:
            return jobs.complete_success(conn, now, dep.id, details, service.period_days,
                                         f"settle:deployment:{dep.id}",
                                         commission_ppm=self.ledger.commission_ppm)

        try:
            await self.write(complete)
        except LedgerError as exc:
            # Not paid for (the hold lapsed and the balance no longer covers it): take it down.
            log.warning("deployment %d: could not settle (%s); cancelling %s", dep.id, exc, name)
            await self._fail(dep, name, notices.REASON_NOT_SETTLED)
            return
        log.info("deployment %d ready as %s (contract %d)", dep.id, name, result.contract_id)

    async def _retry(self, dep: DeploymentRecord, name: str, reason: str, detail: str) -> None:
        """A transient failure: `reason` is the buyer's text, `detail` the scrubbed tool text."""
        if dep.attempts + 1 >= self.options.max_attempts:
            await self._fail(dep, name, reason, detail)
            return
        log.info("deployment %d: attempt %d failed (%s); retrying", dep.id, dep.attempts + 1, detail)
        await self.write(lambda conn, now: jobs.record_attempt_failure(
            conn, now, dep.id, reason, backoff_base_s=self.options.backoff_base_s,
            backoff_max_s=self.options.backoff_max_s, detail=detail))

    async def _fail(self, dep: DeploymentRecord, name: str, reason: str,
                    detail: str | None = None) -> None:
        """Final failure: make sure nothing of `name` stays billed on the grid, then refund.

        `reason` is told to the buyer (ours, or a grid error's fixed reason); `detail` is kept
        for admins."""
        try:
            await self.deployer.cancel(name)
        except Exception as exc:  # the contract may still live: keep the hold and try later
            GRID_ERRORS.labels("cancel", type(exc).__name__).inc()
            text = exc.message if isinstance(exc, GridError) else scrub(str(exc))
            log.warning("deployment %d: cancelling %s failed (%s); will retry", dep.id, name, text)
            await self.write(lambda conn, now: jobs.record_attempt_failure(
                conn, now, dep.id, reason, backoff_base_s=self.options.backoff_base_s,
                backoff_max_s=self.options.backoff_max_s, detail=detail or text))
            return
        await self.write(lambda conn, now: jobs.complete_failure(conn, now, dep.id, reason, detail))
        log.info("deployment %d failed: %s (%s)", dep.id, reason, detail or "-")

    @contextlib.asynccontextmanager
    async def _heartbeat(self, deployment_id: int) -> Any:
        """Renew the lease while a long grid call runs, so no one else claims the job."""
        lease_s = self.options.lease_s

        async def beat() -> None:
            while True:
                await asyncio.sleep(max(1.0, lease_s / 3))
                await self.write(lambda conn, now: jobs.extend_lease(conn, now, deployment_id, lease_s))

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def services_by_id(services: Iterable[ServiceSpec]) -> dict[str, ServiceSpec]:
    return {s.id: s for s in services}
