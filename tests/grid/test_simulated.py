"""The simulated grid: happy path, seeded failures, idempotency by name, restarts, cancel."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grid.deployer import Deployer, Deployment, VmSpec
from grid.errors import InvalidSpecError, NoCapacityError, PermanentGridError, TransientGridError
from grid.simulated import SimulatedGrid

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO buyer@example"
SPEC = VmSpec(cpu=2, memory_gb=4, rootfs_gb=10, disk_gb=20, ssh_key=KEY)
REPO_ROOT = Path(__file__).resolve().parents[2]


def make_grid(tmp_path: Path, **kwargs: object) -> SimulatedGrid:
    kwargs.setdefault("latency_s", 0.0)
    return SimulatedGrid(str(tmp_path / "grid.sqlite3"), **kwargs)  # type: ignore[arg-type]


async def test_happy_path_deploy_get_cancel(tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    assert isinstance(grid, Deployer)

    dep = await grid.deploy(SPEC, "order_1")

    assert dep.name == "order_1"
    assert dep.contract_id >= 100_000
    assert dep.mycelium_ip.count(":") == 7
    assert dep.ssh_command == f"ssh root@{dep.mycelium_ip}"
    assert dep.healthy
    assert await grid.get("order_1") == dep

    await grid.cancel("order_1")
    assert await grid.get("order_1") is None
    await grid.cancel("order_1")  # idempotent
    await grid.cancel("never_deployed")
    assert await grid.live_contracts("order_1") == 0
    assert await grid.contracts_created("order_1") == 1


async def test_pinned_node_is_used(tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    dep = await grid.deploy(VmSpec(1, 1, 2, 0, KEY, node_id=42), "pinned")
    assert dep.node_id == 42


async def test_contract_ids_increase(tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    first = await grid.deploy(SPEC, "a")
    second = await grid.deploy(SPEC, "b")
    assert second.contract_id == first.contract_id + 1


async def test_deploy_same_name_twice_returns_existing(tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    first = await grid.deploy(SPEC, "order_7")
    second = await grid.deploy(SPEC, "order_7")
    assert second == first
    assert await grid.contracts_created("order_7") == 1


async def test_concurrent_deploys_of_one_name_make_one_contract(tmp_path: Path) -> None:
    grid = make_grid(tmp_path, latency_s=0.05)
    other = make_grid(tmp_path, latency_s=0.05)  # a second instance on the same file
    results = await asyncio.gather(*(g.deploy(SPEC, "order_9") for g in [grid, other] * 3))
    assert len({r.contract_id for r in results}) == 1
    assert await grid.contracts_created("order_9") == 1


async def test_state_survives_reopening_the_file(tmp_path: Path) -> None:
    dep = await make_grid(tmp_path).deploy(SPEC, "order_2")

    reopened = make_grid(tmp_path)
    assert await reopened.get("order_2") == dep
    assert await reopened.deploy(SPEC, "order_2") == dep
    await reopened.cancel("order_2")

    assert await make_grid(tmp_path).get("order_2") is None


async def test_deploy_interrupted_mid_way_resumes_to_one_contract(tmp_path: Path) -> None:
    grid = make_grid(tmp_path, latency_s=0.3)
    task = asyncio.create_task(grid.deploy(SPEC, "order_3"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await grid.contracts_created("order_3") == 1

    after_restart = make_grid(tmp_path, latency_s=0.3)
    dep = await after_restart.deploy(SPEC, "order_3")
    assert dep.healthy
    assert await after_restart.contracts_created("order_3") == 1


async def test_sigkill_mid_deploy_leaves_one_deployment(tmp_path: Path) -> None:
    state = tmp_path / "grid.sqlite3"
    script = (
        "import asyncio\n"
        "from grid.simulated import SimulatedGrid\n"
        "from grid.deployer import VmSpec\n"
        f"grid = SimulatedGrid({str(state)!r}, latency_s=30)\n"
        f"asyncio.run(grid.deploy(VmSpec(1, 1, 2, 0, {KEY!r}), 'order_k'))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT)
    try:
        watcher = make_grid(tmp_path)
        deadline = time.monotonic() + 10
        while await watcher.contracts_created("order_k") == 0:
            assert time.monotonic() < deadline, "child never created its contract"
            await asyncio.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    # The node finishes the deployment on its own; a retry must find it, not make another.
    fake_now = [time.time() + 60]
    restarted = SimulatedGrid(str(state), latency_s=0.0, clock=lambda: fake_now[0])
    dep = await restarted.deploy(VmSpec(1, 1, 2, 0, KEY), "order_k")
    assert dep.healthy
    assert await restarted.contracts_created("order_k") == 1
    assert await restarted.live_contracts("order_k") == 1


async def test_get_hides_a_deployment_still_in_progress(tmp_path: Path) -> None:
    now = [1000.0]
    grid = make_grid(tmp_path, latency_s=0.2, clock=lambda: now[0])
    task = asyncio.create_task(grid.deploy(SPEC, "slow"))
    await asyncio.sleep(0.05)
    assert await grid.get("slow") is None
    now[0] += 1
    await task
    assert await grid.get("slow") is not None


async def outcomes(grid: SimulatedGrid, names: list[str]) -> list[str]:
    result = []
    for name in names:
        try:
            dep = await grid.deploy(SPEC, name)
            result.append(f"ok:{dep.node_id}:{dep.mycelium_ip}")
        except NoCapacityError:
            result.append("no_capacity")
        except TransientGridError as exc:
            result.append("timeout" if "timed out" in exc.message else "node_down")
    return result


async def test_same_seed_same_outcomes_regardless_of_order(tmp_path: Path) -> None:
    names = [f"order_{i}" for i in range(30)]
    a = await outcomes(SimulatedGrid(str(tmp_path / "a.db"), 0.0, 0.5, seed=7), names)
    b_rev = await outcomes(SimulatedGrid(str(tmp_path / "b.db"), 0.0, 0.5, seed=7), names[::-1])
    c = await outcomes(SimulatedGrid(str(tmp_path / "c.db"), 0.0, 0.5, seed=8), names)

    assert a == b_rev[::-1]
    assert a != c
    assert {o.split(":")[0] for o in a} == {"ok", "no_capacity", "timeout", "node_down"}


async def test_failure_rate_zero_and_one(tmp_path: Path) -> None:
    never = make_grid(tmp_path, failure_rate=0.0, seed=1)
    assert all(o.startswith("ok") for o in await outcomes(never, [f"n{i}" for i in range(10)]))
    always = SimulatedGrid(str(tmp_path / "x.db"), 0.0, 1.0, seed=1)
    assert not any(o.startswith("ok") for o in await outcomes(always, [f"n{i}" for i in range(10)]))


async def test_retry_draws_a_new_outcome(tmp_path: Path) -> None:
    grid = make_grid(tmp_path, failure_rate=0.5, failure_kinds=("node_down",), seed=3)
    failures = 0
    for _ in range(20):
        try:
            await grid.deploy(SPEC, "retry_me")
            break
        except TransientGridError:
            failures += 1
    assert await grid.get("retry_me") is not None
    assert await grid.attempts("retry_me") == failures + 1


@pytest.mark.parametrize(
    ("kind", "error", "text", "contracts"),
    [
        ("no_capacity", NoCapacityError, "does not have enough resources", 0),
        ("node_down", TransientGridError, "failed to get node client", 0),
        ("timeout", TransientGridError, "timed out", 1),
    ],
)
async def test_failure_kinds(
    tmp_path: Path, kind: str, error: type[Exception], text: str, contracts: int
) -> None:
    grid = make_grid(tmp_path, failure_rate=1.0, failure_kinds=(kind,), seed=5)
    with pytest.raises(error) as info:
        await grid.deploy(VmSpec(1, 2, 2, 0, KEY, node_id=11), "order_f")
    assert text in str(info.value)
    if kind != "timeout":
        assert "node 11" in str(info.value)
    assert await grid.contracts_created("order_f") == contracts
    assert await grid.live_contracts("order_f") == 0  # a failed deploy leaves nothing billed
    assert await grid.get("order_f") is None


def test_no_capacity_is_permanent() -> None:
    assert issubclass(NoCapacityError, PermanentGridError)


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        (SPEC, "bad-name"),
        (SPEC, ""),
        (SPEC, "x" * 44),
        (VmSpec(0, 1, 2, 0, KEY), "n"),
        (VmSpec(33, 1, 2, 0, KEY), "n"),
        (VmSpec(1, 0, 2, 0, KEY), "n"),
        (VmSpec(4, 4, 1, 0, KEY), "n"),
        (VmSpec(1, 1, 2, -1, KEY), "n"),
        (VmSpec(1, 1, 2, 0, ""), "n"),
        (VmSpec(1, 1, 2, 0, KEY, node_id=1, farm_id=1), "n"),
    ],
)
async def test_invalid_spec_is_rejected_before_any_contract(
    tmp_path: Path, spec: VmSpec, name: str
) -> None:
    grid = make_grid(tmp_path)
    with pytest.raises(InvalidSpecError):
        await grid.deploy(spec, name)
    assert await grid.contracts_created(name) == 0


def test_bad_constructor_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_grid(tmp_path, failure_kinds=("meteor",))
    with pytest.raises(ValueError):
        make_grid(tmp_path, failure_rate=1.5)


async def test_latency_is_applied(tmp_path: Path) -> None:
    grid = make_grid(tmp_path, latency_s=0.2)
    started = time.monotonic()
    await grid.deploy(SPEC, "lat")
    assert time.monotonic() - started >= 0.2


def test_deployment_record_shape() -> None:
    dep = Deployment("n", 5, 7, "4ab::1", ipv4="1.2.3.4")
    assert dep.ssh_command == "ssh root@4ab::1"
    assert not Deployment("n", 5, 7, "").healthy


async def test_name_locks_are_released(tmp_path: Path) -> None:
    grid = make_grid(tmp_path)
    await asyncio.gather(*(grid.deploy(SPEC, f"n{i % 3}") for i in range(9)))
    assert len(grid._locks) == 0
