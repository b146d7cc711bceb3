"""Capacity checks before a service is sold: is there a node on the grid it fits on?

`available_services` lets the catalogue show a service as unavailable; `CapacityChecker`
(`check_capacity`) refuses a purchase the grid has no room for. With no gridproxy configured
every service counts as available. When gridproxy itself cannot be reached the answer is
"available": the sale then goes ahead, and a deploy that fails is refunded anyway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from grid.deployer import VmSpec
from grid.errors import GridError, TransientGridError
from grid.gridproxy import GridProxyClient
from grid.worker import ServiceSpec

log = logging.getLogger(__name__)

# gridproxy filters on memory and SSD only; the key is not looked at, but VmSpec needs one.
_PLACEHOLDER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO capacity-check"


class ServiceUnavailable(GridError):
    """No node on the grid has room for this service right now."""


def _spec(service: ServiceSpec) -> VmSpec:
    return VmSpec(cpu=service.cpu, memory_gb=service.memory_gb, rootfs_gb=service.rootfs_gb,
                  disk_gb=service.disk_gb, ssh_key=_PLACEHOLDER_KEY)


async def service_has_capacity(service: ServiceSpec, gridproxy: GridProxyClient | None) -> bool:
    """Whether some node fits `service`; True without a gridproxy or when it is unreachable."""
    if gridproxy is None:
        return True
    try:
        return await gridproxy.has_capacity(_spec(service))
    except TransientGridError as exc:
        log.warning("gridproxy unreachable, assuming capacity for %s: %s", service.id, exc)
        return True


async def available_services(services: Iterable[ServiceSpec],
                             gridproxy: GridProxyClient | None) -> set[str]:
    """Ids of the `services` (the enabled ones of the catalogue) some node has room for (all of
    them without a gridproxy)."""
    services = list(services)
    if gridproxy is None:
        return {s.id for s in services}
    fits = await asyncio.gather(*(service_has_capacity(s, gridproxy) for s in services))
    return {s.id for s, ok in zip(services, fits, strict=True) if ok}


class CapacityChecker:
    """The purchase path's check: `await checker.check_capacity(service)` before placing it."""

    def __init__(self, gridproxy: GridProxyClient | None) -> None:
        self.gridproxy = gridproxy

    async def check_capacity(self, service: ServiceSpec) -> None:
        """Raise ServiceUnavailable when gridproxy says no node fits `service`."""
        if not await service_has_capacity(service, self.gridproxy):
            raise ServiceUnavailable(f"no node on the grid has room for {service.id} right now")


async def check_capacity(service: ServiceSpec, gridproxy: GridProxyClient | None) -> None:
    """Module-level form of `CapacityChecker.check_capacity`."""
    await CapacityChecker(gridproxy).check_capacity(service)
