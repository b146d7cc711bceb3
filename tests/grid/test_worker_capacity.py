"""Capacity per gridproxy (the local stand-in): a service with no room shows as unavailable and
its purchase is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from bot.config import Config
from grid.capacity import CapacityChecker, ServiceUnavailable, available_services, check_capacity
from grid.gridproxy import GridProxyClient
from sandbox.gridproxy import NODES_KEY, make_app, node_json
from tests.grid.worker_support import service

SMALL = service("vm-small", "4.00")  # 2 GB memory, 7 GB SSD
BIG = service("vm-big", "40.00").model_copy(update={"memory_gb": 32})
CONFIG = Config(services=[SMALL, BIG])


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    # One node with 8 GB of memory free: room for the small VM, none for the big one.
    srv = TestServer(make_app([node_json(11, 1, total_mru_gb=16, used_mru_gb=8)]))
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def proxy(server: TestServer) -> AsyncIterator[GridProxyClient]:
    async with GridProxyClient(str(server.make_url(""))) as client:
        yield client


async def test_no_capacity_makes_a_service_unavailable(proxy: GridProxyClient) -> None:
    assert await available_services(CONFIG.enabled_services, proxy) == {"vm-small"}
    checker = CapacityChecker(proxy)
    await checker.check_capacity(SMALL)
    with pytest.raises(ServiceUnavailable):
        await checker.check_capacity(BIG)


async def test_a_full_grid_refuses_every_purchase(server: TestServer, proxy: GridProxyClient) -> None:
    server.app[NODES_KEY][:] = [node_json(11, 1, status="down")]
    assert await available_services(CONFIG.enabled_services, proxy) == set()
    with pytest.raises(ServiceUnavailable):
        await check_capacity(SMALL, proxy)


async def test_without_gridproxy_everything_is_available() -> None:
    assert await available_services(CONFIG.enabled_services, None) == {"vm-small", "vm-big"}
    await CapacityChecker(None).check_capacity(BIG)


async def test_unreachable_gridproxy_does_not_stop_sales() -> None:
    async with GridProxyClient("http://127.0.0.1:9", timeout_s=2) as dead:
        assert await available_services(CONFIG.enabled_services, dead) == {"vm-small", "vm-big"}
        await check_capacity(BIG, dead)
