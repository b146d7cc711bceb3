"""The gridproxy client against the local stand-in in sandbox/gridproxy.py."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from grid.deployer import VmSpec
from grid.errors import PermanentGridError, TransientGridError
from grid.gridproxy import GridProxyClient, GridProxyRequestError, Node
from sandbox.gridproxy import NODES_KEY, make_app, node_json

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO buyer@example"
GB = 1024**3
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    srv = TestServer(make_app())
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[GridProxyClient]:
    async with GridProxyClient(str(server.make_url(""))) as c:
        yield c


def ids(nodes: list[Node]) -> list[int]:
    return [n.node_id for n in nodes]


async def test_filters_free_capacity_status_and_health(client: GridProxyClient) -> None:
    nodes = await client.find_nodes(4 * GB, 50 * GB)
    assert ids(nodes) == [11, 21]  # 12 and 31 lack memory, 22 is down, 23 unhealthy
    assert ids(await client.find_nodes(4 * GB, 50 * GB, healthy=None)) == [11, 21, 23]
    assert ids(await client.find_nodes(0, 0, status="down")) == [22]


async def test_filters_farms(client: GridProxyClient) -> None:
    assert ids(await client.find_nodes(GB, GB, farm_ids=[2])) == [21]
    assert ids(await client.find_nodes(GB, GB, farm_ids=[1, 3])) == [11, 12, 31]


async def test_ssd_counts_twice_over(client: GridProxyClient) -> None:
    # node 12: 512 GB SSD with 900 GB booked still has 124 GB free by gridproxy's count
    assert 12 in ids(await client.find_nodes(GB, 124 * GB, farm_ids=[1]))
    assert 12 not in ids(await client.find_nodes(GB, 125 * GB, farm_ids=[1]))


async def test_node_fields(client: GridProxyClient) -> None:
    (node,) = await client.find_nodes(GB, GB, farm_ids=[2])
    assert node.farm_id == 2 and node.country == "Egypt" and node.ipv4 == "185.206.122.1/24"
    assert node.free_mru == 112 * GB
    assert node.free_sru == (2 * 2048 - 200) * GB


async def test_has_capacity_and_pick_node(server: TestServer, client: GridProxyClient) -> None:
    small = VmSpec(1, 4, 10, 20, KEY)
    huge = VmSpec(8, 512, 10, 0, KEY)
    assert await client.has_capacity(small)
    assert not await client.has_capacity(huge)
    assert await client.pick_node(huge) is None
    assert (await client.pick_node(small)).node_id == 21  # type: ignore[union-attr]
    assert not await client.has_capacity(VmSpec(1, 4, 10, 0, KEY, farm_id=3))
    assert await client.has_capacity(VmSpec(1, 1, 10, 0, KEY, node_id=12))
    assert not await client.has_capacity(VmSpec(1, 4, 10, 0, KEY, node_id=12))

    async with GridProxyClient(str(server.make_url("")), farm_ids=[1]) as farm1:
        assert (await farm1.pick_node(small)).node_id == 11  # type: ignore[union-attr]


async def test_no_capacity_when_the_grid_fills_up(server: TestServer, client: GridProxyClient) -> None:
    spec = VmSpec(1, 4, 10, 0, KEY)
    assert await client.has_capacity(spec)
    server.app[NODES_KEY][:] = [node_json(5, 1, total_mru_gb=4, used_mru_gb=2)]
    assert not await client.has_capacity(spec)


async def test_bad_params_are_refused(server: TestServer, client: GridProxyClient) -> None:
    with pytest.raises(GridProxyRequestError) as info:
        await client.find_nodes(-1, 0)
    assert info.value.status == 400
    assert 'couldn\'t parse free_mru strconv.ParseUint: parsing "-1"' in info.value.message
    assert isinstance(info.value, PermanentGridError)

    async with aiohttp.ClientSession() as session:
        for query in ("free_sru=abc", "farm_ids=1,x", "size=ten", "node_id=99999999999999999999"):
            async with session.get(server.make_url("/nodes?" + query)) as resp:
                assert resp.status == 400, query
                assert "error" in await resp.json()
        # unknown parameters and non-boolean booleans are ignored, like the real one
        async with session.get(server.make_url("/nodes?color=blue&ipv4=maybe")) as resp:
            assert resp.status == 200 and len(await resp.json()) == 6


async def test_paging_and_count_headers(server: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        url = server.make_url("/nodes?size=4&page=2&ret_count=true")
        async with session.get(url) as resp:
            body = await resp.json()
            assert [n["nodeId"] for n in body] == [23, 31]
            assert (resp.headers["count"], resp.headers["pages"]) == ("6", "2")
        async with session.get(server.make_url("/nodes/21")) as resp:
            node = await resp.json()
            assert node["capacity"]["total_resources"]["mru"] == 128 * GB
        async with session.get(server.make_url("/nodes/999")) as resp:
            assert resp.status == 404


async def test_unreachable_proxy_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with GridProxyClient(f"http://127.0.0.1:{port}", timeout_s=2) as client:
        with pytest.raises(TransientGridError):
            await client.find_nodes(GB, GB)


async def test_server_errors_are_transient() -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": "database is down"}, status=500)

    app = web.Application()
    app.router.add_get("/nodes", broken)
    srv = TestServer(app)
    await srv.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            client = GridProxyClient(str(srv.make_url("")), session=session)
            with pytest.raises(TransientGridError, match="database is down"):
                await client.find_nodes(GB, GB)
            await client.close()
            assert not session.closed  # a shared session stays the caller's
    finally:
        await srv.close()


async def test_runs_as_a_module() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.gridproxy", "--port", str(port)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        async with GridProxyClient(f"http://127.0.0.1:{port}", timeout_s=2) as client:
            for _ in range(100):
                try:
                    assert ids(await client.find_nodes(GB, GB, farm_ids=[2])) == [21]
                    break
                except TransientGridError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("sandbox.gridproxy did not come up")
    finally:
        proc.terminate()
        proc.wait(timeout=5)
