"""The gridproxy client against the local stand-in in sandbox/gridproxy.py."""

from __future__ import annotations

import asyncio
import json
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
from sandbox.gridproxy import CONTRACTS_KEY, NODES_KEY, make_app, node_json

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
    nodes = await client.find_nodes(5 * GB, 50 * GB)
    # 12 and 31 lack memory, 22 is down, 23 unhealthy, 24 rented by another twin; 41 is in a
    # dedicated farm, which only available_for (a known twin) leaves out
    assert ids(nodes) == [11, 21, 41]
    assert ids(await client.find_nodes(5 * GB, 50 * GB, healthy=None)) == [11, 21, 23, 41]
    assert ids(await client.find_nodes(5 * GB, 50 * GB, deployable=False)) == [11, 21, 24, 41]
    assert ids(await client.find_nodes(0, 0, status="down")) == [22]
    client.twin_id = 192
    assert ids(await client.find_nodes(5 * GB, 50 * GB)) == [11, 21]


async def test_filters_farms(client: GridProxyClient) -> None:
    assert ids(await client.find_nodes(GB, GB, farm_ids=[2])) == [21]
    assert ids(await client.find_nodes(GB, GB, farm_ids=[1, 3])) == [11, 12, 31]


async def test_reserves_count_as_used(client: GridProxyClient) -> None:
    # setup.sql: free_mru = total - used - max(10 %, 2 GiB); free_sru = total - used - 20 GiB.
    # node 12: 16 GB memory, 10 booked, 2 GiB reserve -> 4 GB free; 512 GB SSD, 400 booked -> 92
    assert 12 in ids(await client.find_nodes(4 * GB, 92 * GB, farm_ids=[1]))
    assert 12 not in ids(await client.find_nodes(4 * GB + 1, GB, farm_ids=[1]))
    assert 12 not in ids(await client.find_nodes(GB, 92 * GB + 1, farm_ids=[1]))
    # node 11: 64 GB memory, 10 % of it (6.4 GB) is more than 2 GiB
    (node,) = await client.find_nodes(GB, GB, farm_ids=[1], node_id=11)
    assert node.free_mru == 64 * GB - 8 * GB - 64 * GB // 10


async def test_node_fields(client: GridProxyClient) -> None:
    (node,) = await client.find_nodes(GB, GB, farm_ids=[2])
    assert node.farm_id == 2 and node.country == "Egypt" and node.ipv4 == "185.206.122.1/24"
    assert node.free_mru == 128 * GB - 16 * GB - 128 * GB // 10
    assert node.free_sru == (2048 - 200 - 20) * GB


async def test_has_capacity_and_pick_node(server: TestServer, client: GridProxyClient) -> None:
    small = VmSpec(1, 5, 10, 20, KEY)
    huge = VmSpec(8, 512, 10, 0, KEY)
    assert await client.has_capacity(small)
    assert not await client.has_capacity(huge)
    assert await client.pick_node(huge) is None
    client.twin_id = 192
    # the best fit: of 11 (49.6 GB free) and 21 (99.2 GB free), the one left fullest
    assert (await client.pick_node(small)).node_id == 11  # type: ignore[union-attr]
    assert (await client.pick_node(small, exclude={11})).node_id == 21  # type: ignore[union-attr]
    assert await client.pick_node(small, exclude={11, 21}) is None
    assert not await client.has_capacity(VmSpec(1, 8, 10, 0, KEY, farm_id=3))
    assert await client.has_capacity(VmSpec(1, 1, 10, 0, KEY, node_id=12))
    assert not await client.has_capacity(VmSpec(1, 8, 10, 0, KEY, node_id=12))
    # rented by someone else or in a dedicated farm: never counted as capacity
    assert not await client.has_capacity(VmSpec(1, 4, 10, 0, KEY, node_id=24))
    assert not await client.has_capacity(VmSpec(1, 4, 10, 0, KEY, node_id=41))

    async with GridProxyClient(str(server.make_url("")), farm_ids=[2]) as farm2:
        assert (await farm2.pick_node(small)).node_id == 21  # type: ignore[union-attr]


async def test_all_pages_are_read(server: TestServer, client: GridProxyClient) -> None:
    server.app[NODES_KEY][:] = [node_json(i, 1, total_mru_gb=64, used_mru_gb=40 if i < 120 else 0)
                                for i in range(1, 131)]
    # nodes 120-130 are the only ones with 30 GB free: pages 3 of 50-node pages
    assert ids(await client.find_nodes(30 * GB, GB)) == list(range(120, 131))
    assert len(await client.find_nodes(GB, GB)) == 130


async def test_no_capacity_when_the_grid_fills_up(server: TestServer, client: GridProxyClient) -> None:
    spec = VmSpec(1, 4, 10, 0, KEY)
    assert await client.has_capacity(spec)
    server.app[NODES_KEY][:] = [node_json(5, 1, total_mru_gb=4, used_mru_gb=2)]
    assert not await client.has_capacity(spec)


async def test_bad_params_are_refused(server: TestServer, client: GridProxyClient) -> None:
    with pytest.raises(GridProxyRequestError) as info:
        await client.find_nodes(-1, 0)
    assert info.value.status == 400
    assert 'failed to decode params: schema: error converting value for "free_mru"' in info.value.message
    assert isinstance(info.value, PermanentGridError)

    async with aiohttp.ClientSession() as session:
        # param_parser.go + gorilla/schema: the texts the real proxy answers with
        for query, error in (
            ("free_sru=abc", 'schema: error converting value for "free_sru"'),
            ("farm_ids=1,x", 'schema: error converting value for index 0 of "farm_ids"'),
            ("size=ten", 'schema: error converting value for "size"'),
            ("node_id=99999999999999999999", 'schema: error converting value for "node_id"'),
            ("healthy=maybe", 'schema: error converting value for "healthy"'),
            ("color=blue", 'schema: invalid path "color"'),
            ("sort_by=colour", '"colour" is not a sort field for Node type'),
        ):
            async with session.get(server.make_url("/nodes?" + query)) as resp:
                assert resp.status == 400, query
                assert error in (await resp.json())["error"], query
        async with session.get(server.make_url("/contracts?colour=1")) as resp:
            assert resp.status == 400
        # strconv.ParseBool spellings and empty values are accepted
        async with session.get(server.make_url("/nodes?healthy=T&rented=0&country=")) as resp:
            assert resp.status == 200 and len(await resp.json()) == 6


async def test_paging_and_count_headers(server: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        url = server.make_url("/nodes?size=4&page=2&ret_count=true")
        async with session.get(url) as resp:
            body = await resp.json()
            assert [n["nodeId"] for n in body] == [23, 24, 31, 41]
            assert (resp.headers["count"], resp.headers["pages"]) == ("8", "2")
            assert "_free_ips" not in body[0] and "total_resources" in body[0]
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


def contract_json(contract_id: int, name: str, kind: str = "vm", state: str = "Created",
                  twin: int = 192) -> dict[str, object]:
    data = json.dumps({"version": 0, "type": kind, "name": name if kind == "vm" else f"{name}network",
                       "projectName": f"vm/{name}"})
    return {"contract_id": contract_id, "twin_id": twin, "state": state, "created_at": 1,
            "type": "node", "details": {"nodeId": 11, "deployment_data": data,
                                        "deployment_hash": "h", "number_of_public_ips": 0,
                                        "farm_name": "farm1", "farm_id": 1}}


async def test_contracts_of_the_twin(server: TestServer, client: GridProxyClient) -> None:
    server.app[CONTRACTS_KEY][:] = [
        contract_json(5, "a", "network"), contract_json(6, "a"), contract_json(7, "b", state="Deleted"),
        contract_json(8, "c", twin=999),
    ]
    with pytest.raises(PermanentGridError, match="twin"):
        await client.contracts()
    client.twin_id = 192
    live = await client.contracts()
    assert [(c.contract_id, c.kind, c.deployment_name) for c in live] == [(5, "network", "a"), (6, "vm", "a")]
    assert [c.contract_id for c in await client.contracts(states=["Deleted"])] == [7]
