"""The tfcmd backend against a fake `tfcmd` that answers like the real one."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from grid.deployer import Deployer, VmSpec
from grid.errors import (
    InsufficientFundsError,
    InvalidSpecError,
    NoCapacityError,
    NodeUnavailableError,
    PermanentGridError,
    TransientGridError,
)
from grid.gridproxy import GridProxyClient
from grid.tfcmd import TfcmdDeployer, classify_error, deploy_args, error_message
from sandbox.gridproxy import make_app
from tests.grid.tfcmd_support import Fake

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO buyer@example"
SPEC = VmSpec(cpu=2, memory_gb=4, rootfs_gb=10, disk_gb=20, ssh_key=KEY)


async def test_deploy_get_cancel(fake: Fake) -> None:
    tf = fake.deployer(network="test")
    assert isinstance(tf, Deployer)

    dep = await tf.deploy(SPEC, "order_1")

    assert dep.name == "order_1"
    assert dep.contract_id == 100064  # the network contract came first
    assert dep.node_id == 11  # first node of the default farm 1
    assert dep.mycelium_ip and dep.ssh_command == f"ssh root@{dep.mycelium_ip}"
    assert dep.ipv4 is None and dep.ipv6 is None
    assert dep.planetary_ip  # v0.15's --ygg defaults to true
    deploy_call = fake.calls("deploy")[0]
    assert deploy_call[:3] == ["deploy", "vm", "--name"]
    assert deploy_call[4] == "--ssh" and not Path(deploy_call[5]).exists()  # key file cleaned up
    assert deploy_call[6:] == [
        "--cpu", "2", "--memory", "4", "--rootfs", "10", "--disk", "20", "--mycelium",
    ]
    vm = fake.live("order_1")[0]["vm"]
    assert vm["env_vars"]["SSH_KEY"].strip() == KEY
    assert vm["mounts"] == [{"disk_name": "order_1disk", "mount_point": "/data"}]

    assert await tf.get("order_1") == dep
    await tf.cancel("order_1")
    assert await tf.get("order_1") is None
    assert fake.live("order_1") == []
    await tf.cancel("order_1")  # cancelling a missing deployment is fine


async def test_node_and_farm_flags(fake: Fake) -> None:
    tf = fake.deployer()
    on_node = await tf.deploy(VmSpec(1, 1, 2, 0, KEY, node_id=77), "on_node")
    in_farm = await tf.deploy(VmSpec(1, 1, 2, 0, KEY, farm_id=3), "in_farm")
    assert on_node.node_id == 77 and in_farm.node_id == 31
    calls = fake.calls("deploy")
    assert calls[0][-3:] == ["--node", "77", "--ygg"] and "--disk" not in calls[0]
    assert calls[1][-2:] == ["--farm", "3"]


async def test_deploy_is_idempotent_by_name(fake: Fake) -> None:
    tf = fake.deployer()
    first = await tf.deploy(SPEC, "order_2")
    second = await fake.deployer().deploy(SPEC, "order_2")  # e.g. after a restart
    assert second == first
    assert len(fake.calls("deploy")) == 1
    assert len(fake.contracts("order_2")) == 2  # one network + one vm contract


async def test_unhealthy_existing_deployment_is_replaced(fake: Fake) -> None:
    tf = fake.deployer(query_timeout_s=1)
    fake.set(fail="leave_contract", fail_times="1", hang="cancel")
    with pytest.raises(TransientGridError):
        await tf.deploy(SPEC, "order_3")  # its cleanup cancel hangs, so the contract stays
    assert fake.live("order_3") and not fake.live("order_3")[0]["healthy"]
    fake.set(hang="")

    dep = await tf.deploy(SPEC, "order_3")
    assert dep.healthy
    assert [e["ContractID"] for e in fake.live("order_3")] == [dep.contract_id]
    assert len(fake.calls("deploy")) == 2


@pytest.mark.parametrize(
    ("fail", "error", "text"),
    [
        ("no_capacity", NodeUnavailableError, "node 11 does not have enough resources"),
        ("no_nodes", NoCapacityError, "could not find enough nodes"),
        ("node_down", TransientGridError, "failed to get node client"),
        ("wait_timeout", TransientGridError, "timed out"),
        ("leave_contract", TransientGridError, "you must cancel it manually"),
        ("low_balance", InsufficientFundsError, "Inability to pay some fees"),
    ],
)
async def test_deploy_errors_are_mapped_and_leave_nothing_billed(
    fake: Fake, fail: str, error: type[Exception], text: str
) -> None:
    fake.set(fail=fail)
    with pytest.raises(error) as info:
        await fake.deployer().deploy(SPEC, "order_4")
    assert text in info.value.message
    assert fake.live("order_4") == [] and fake.contracts("order_4") == []
    assert fake.calls("cancel"), "a failed deploy must cancel whatever it created"


async def test_transient_failure_then_retry_succeeds(fake: Fake) -> None:
    fake.set(fail="node_down", fail_times="1")
    tf = fake.deployer()
    with pytest.raises(TransientGridError):
        await tf.deploy(SPEC, "order_5")
    dep = await tf.deploy(SPEC, "order_5")
    assert dep.healthy


async def test_not_logged_in_is_permanent(fake: Fake) -> None:
    fake.set(logged_out="1")
    tf = fake.deployer()
    with pytest.raises(PermanentGridError, match="login"):
        await tf.get("order_6")
    with pytest.raises(PermanentGridError, match="login"):
        await tf.deploy(SPEC, "order_6")


async def test_deploy_timeout_kills_tfcmd_and_cancels(fake: Fake) -> None:
    fake.set(hang="deploy")
    tf = fake.deployer(timeout_s=1.0, query_timeout_s=10)
    started = time.monotonic()
    with pytest.raises(TransientGridError, match="timed out after 1s and was killed"):
        await tf.deploy(SPEC, "order_7")
    assert time.monotonic() - started < 8
    pid = int(fake.pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert fake.live("order_7") == []  # the contracts the hung deploy made were cancelled


async def test_get_timeout_is_transient(fake: Fake) -> None:
    fake.set(hang="get")
    with pytest.raises(TransientGridError, match="timed out"):
        await fake.deployer(query_timeout_s=0.5).get("order_8")


async def test_coloured_output_is_parsed(fake: Fake) -> None:
    fake.set(color="1")
    tf = fake.deployer()
    dep = await tf.deploy(SPEC, "order_9")
    assert await tf.get("order_9") == dep
    fake.set(fail="no_capacity")
    with pytest.raises(NodeUnavailableError):
        await tf.deploy(SPEC, "order_10")


async def test_full_vm_fields_are_read(fake: Fake) -> None:
    # A deployment made by hand with public IPs: get must report them without the prefix.
    key = fake.state_path.parent / "k.pub"
    key.write_text(KEY)
    subprocess.run(
        [str(fake.path), "deploy", "vm", "--name", "manual", "--ssh", str(key), "--ipv4",
         "--ipv6", "--ygg", "--node", "5"],
        check=True, capture_output=True,
    )
    dep = await fake.deployer().get("manual")
    assert dep is not None
    assert dep.ipv4 == "185.206.122.33" and dep.ipv6 == "2a02:1802:5e:0:1000::f6"
    assert dep.planetary_ip and dep.planetary_ip.startswith("302:")
    assert dep.node_id == 5


async def test_gridproxy_picks_the_node_when_spec_names_none(fake: Fake) -> None:
    server = TestServer(make_app())
    await server.start_server()
    try:
        proxy = GridProxyClient(str(server.make_url("")))
        tf = fake.deployer(gridproxy=proxy)
        dep = await tf.deploy(SPEC, "placed")
        assert proxy.twin_id == 192  # learnt from tfcmd's "starting peer ... twin=192"
        # the best fit among deployable nodes (not 24, rented by another twin; not 41, in a
        # dedicated farm): 12 has exactly the 4 GB free after its 2 GiB reserve
        assert dep.node_id == 12 and fake.calls("deploy")[0][-3:] == ["--node", "12", "--ygg"]
        with pytest.raises(NoCapacityError):
            await tf.deploy(VmSpec(4, 512, 10, 0, KEY), "too_big")
        assert len(fake.calls("deploy")) == 1  # no tfcmd run when nothing fits
        await tf.deploy(VmSpec(1, 1, 2, 0, KEY, farm_id=3), "farm_given")
        assert fake.calls("deploy")[1][-2:] == ["--farm", "3"]
        await tf.aclose()
    finally:
        await server.close()


async def test_a_refusing_node_is_not_picked_again(fake: Fake) -> None:
    server = TestServer(make_app())
    await server.start_server()
    try:
        tf = fake.deployer(gridproxy=GridProxyClient(str(server.make_url("")), twin_id=192))
        fake.set(refuse_nodes="12")  # the chain: NodeNotAvailableToDeploy
        with pytest.raises(NodeUnavailableError) as info:
            await tf.deploy(SPEC, "picky")
        assert info.value.node_id == 12 and info.value.reason == "no node of the grid could take it right now"
        assert tf.refused_nodes("picky") == {12}
        dep = await tf.deploy(SPEC, "picky")  # the retry of the same job
        assert dep.node_id == 31  # the next best fit, 12 left out
        assert [c[c.index("--node") + 1] for c in fake.calls("deploy")] == ["12", "31"]
        await tf.aclose()
    finally:
        await server.close()


@pytest.mark.parametrize("version", ["v0.14.6", "v0.15.14", "development"])
async def test_not_found_texts_of_each_version(fake: Fake, version: str) -> None:
    fake.set(version=version)
    tf = fake.deployer()
    assert await tf.get("nothing_here") is None  # "couldn't find any contracts" / "no vm ... found"
    dep = await tf.deploy(VmSpec(1, 1, 2, 0, KEY, node_id=5), "v_one")
    assert await tf.get("v_one") == dep
    await tf.cancel("v_one")
    assert await tf.get("v_one") is None and fake.contracts("v_one") == []


def test_not_found_texts() -> None:
    assert error_message('3:37PM FTL error="couldn\'t find any contracts with name gs1"') == (
        "couldn't find any contracts with name gs1")
    assert classify_error("couldn't find any contracts with name gs1").kind == "grid_busy"


async def test_pinned_node_stays_a_full_vm_on_newer_tfcmd(fake: Fake) -> None:
    # development tfcmd: no ipv4/ipv6/ygg makes a light VM, and --node skips the light filter
    fake.set(version="development")
    dep = await fake.deployer().deploy(VmSpec(1, 1, 2, 0, KEY, node_id=5), "full_vm")
    assert dep.planetary_ip  # --ygg was passed: a full VM, which every node runs
    assert [e["light"] for e in fake.live("full_vm")] == [False]


async def test_cancel_before_the_indexer_saw_the_contracts_leaves_them(fake: Fake) -> None:
    # the indexer lags the chain: cancel lists nothing, exits 0, and the contracts stay
    fake.set(hang="deploy", index_lag="5")
    tf = fake.deployer(timeout_s=1.0)
    with pytest.raises(TransientGridError, match="timed out"):
        await tf.deploy(SPEC, "lagging")
    assert len(fake.contracts("lagging")) == 2  # still billed: grid.reconcile must find them


async def test_twin_lookup_error_is_scrubbed(fake: Fake) -> None:
    from tests.grid.fake_tfcmd import MNEMONIC

    fake.set(fail="twin_lookup")
    with pytest.raises(TransientGridError) as info:
        await fake.deployer().get("any_name")
    assert "failed to get twin for the given mnemonic/seed [redacted]" in info.value.message
    assert MNEMONIC not in info.value.message and MNEMONIC.split()[3] not in str(info.value)
    assert info.value.reason == "the grid is busy"


async def test_invalid_input_never_reaches_tfcmd(fake: Fake) -> None:
    tf = fake.deployer()
    with pytest.raises(InvalidSpecError):
        await tf.deploy(SPEC, "bad-name")
    with pytest.raises(InvalidSpecError):
        await tf.deploy(VmSpec(0, 1, 2, 0, KEY), "ok_name")
    assert fake.calls() == []


async def test_missing_binary_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(PermanentGridError, match="cannot run tfcmd"):
        await TfcmdDeployer(str(tmp_path / "nope")).get("x")


def test_bad_network_rejected() -> None:
    with pytest.raises(ValueError):
        TfcmdDeployer("tfcmd", network="moon")


def test_deploy_args() -> None:
    assert deploy_args(VmSpec(1, 2, 3, 0, KEY, farm_id=9), "n", "/k") == [
        "deploy", "vm", "--name", "n", "--ssh", "/k", "--cpu", "1", "--memory", "2",
        "--rootfs", "3", "--mycelium", "--farm", "9",
    ]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("failed to deploy vm on node 3: node 3 does not have enough resources. needed: x",
         NodeUnavailableError),
        ("failed to deploy network on node 7: failed to create contract on node 7: "
         "NodeNotAvailableToDeploy", NodeUnavailableError),
        ("failed to create contract on node 7: Inability to pay some fees (e.g. account balance "
         "too low)", InsufficientFundsError),
        ("failed to get twin for the given mnemonic/seed a b c: context deadline exceeded",
         TransientGridError),
        ("no twin associated with the account with the given mnemonic/seed", PermanentGridError),
        ("mnemonic/seed 'x' is invalid", PermanentGridError),
        ("could not find enough nodes with options: FreeMRU: 1", NoCapacityError),
        ("farm 4 does not have enough public ips", NoCapacityError),
        ('required flag(s) "name" not set', InvalidSpecError),
        ("unknown flag: --memroy", InvalidSpecError),
        ("failed to load configuration try to login again using tf-grid login", PermanentGridError),
        ("error waiting deployment: waiting for deployment 5 timed out", TransientGridError),
        ("could not get node 12 data from the grid proxy", TransientGridError),
        ("something nobody has seen before", TransientGridError),
    ],
)
def test_classify_error(message: str, error: type[Exception]) -> None:
    assert type(classify_error(message)) is error


def test_error_message_sources() -> None:
    ftl = '3:37PM INF deploying vm\n3:38PM FTL error="failed: node 3 \\"x\\" down"\n'
    assert error_message(ftl) == 'failed: node 3 "x" down'
    cobra = "Error: unknown flag: --foo\nUsage:\n  tfcmd deploy vm [flags]\n"
    assert error_message(cobra) == "unknown flag: --foo"
    assert error_message("") == "tfcmd failed without output"


async def test_farm_fallback_when_gridproxy_is_unreachable(fake: Fake) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = GridProxyClient(f"http://127.0.0.1:{port}", farm_ids=[3, 2], timeout_s=2)
    tf = fake.deployer(gridproxy=proxy)
    fake.set(fail="no_nodes", fail_times="1")  # tfcmd finds nothing in farm 3, then farm 2 fits
    dep = await tf.deploy(SPEC, "fallback")
    assert dep.healthy and dep.node_id == 21  # the fake's node of farm 2
    assert [c[-2:] for c in fake.calls("deploy")] == [["--farm", "3"], ["--farm", "2"]]
    await tf.aclose()
    without_farms = fake.deployer(gridproxy=GridProxyClient(f"http://127.0.0.1:{port}", timeout_s=2))
    with pytest.raises(TransientGridError):
        await without_farms.deploy(SPEC, "no_fallback")
    await without_farms.aclose()
