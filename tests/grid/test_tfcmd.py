"""The tfcmd backend against a fake `tfcmd` that answers like the real one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from grid.deployer import Deployer, VmSpec
from grid.errors import (
    InvalidSpecError,
    NoCapacityError,
    PermanentGridError,
    TransientGridError,
)
from grid.gridproxy import GridProxyClient
from grid.tfcmd import TfcmdDeployer, classify_error, deploy_args, error_message
from sandbox.gridproxy import make_app

FAKE = Path(__file__).with_name("fake_tfcmd.py")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO buyer@example"
SPEC = VmSpec(cpu=2, memory_gb=4, rootfs_gb=10, disk_gb=20, ssh_key=KEY)


class Fake:
    """The fake tfcmd's executable and state file, plus helpers to read what it saw."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = tmp_path / "tfcmd"
        self.path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.state_path = tmp_path / "tfcmd-state.json"
        self.pidfile = tmp_path / "tfcmd.pid"
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("FAKE_TFCMD_STATE", str(self.state_path))
        monkeypatch.setenv("FAKE_TFCMD_PIDFILE", str(self.pidfile))
        for knob in ("FAIL", "FAIL_TIMES", "HANG", "LOGGED_OUT", "COLOR"):
            monkeypatch.delenv(f"FAKE_TFCMD_{knob}", raising=False)

    def set(self, **knobs: str) -> None:
        for key, value in knobs.items():
            self.monkeypatch.setenv(f"FAKE_TFCMD_{key.upper()}", value)

    def state(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {}
        return json.loads(self.state_path.read_text())

    def calls(self, command: str | None = None) -> list[list[str]]:
        calls = self.state().get("calls", [])
        return [c for c in calls if command is None or c[:1] == [command]]

    def live(self, name: str) -> list[dict[str, Any]]:
        return self.state().get("deployments", {}).get(name, [])

    def deployer(self, **kwargs: Any) -> TfcmdDeployer:
        kwargs.setdefault("timeout_s", 20)
        return TfcmdDeployer(str(self.path), **kwargs)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(tmp_path, monkeypatch)


async def test_deploy_get_cancel(fake: Fake) -> None:
    tf = fake.deployer(network="test")
    assert isinstance(tf, Deployer)

    dep = await tf.deploy(SPEC, "order_1")

    assert dep.name == "order_1"
    assert dep.contract_id == 100064  # the network contract came first
    assert dep.node_id == 11  # first node of the default farm 1
    assert dep.mycelium_ip and dep.ssh_command == f"ssh root@{dep.mycelium_ip}"
    assert dep.ipv4 is None and dep.ipv6 is None and dep.planetary_ip is None
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
    assert calls[0][-2:] == ["--node", "77"] and "--disk" not in calls[0]
    assert calls[1][-2:] == ["--farm", "3"]


async def test_deploy_is_idempotent_by_name(fake: Fake) -> None:
    tf = fake.deployer()
    first = await tf.deploy(SPEC, "order_2")
    second = await fake.deployer().deploy(SPEC, "order_2")  # e.g. after a restart
    assert second == first
    assert len(fake.calls("deploy")) == 1
    assert fake.state()["contracts_created"]["order_2"] == 2  # one network + one vm contract


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
        ("no_capacity", NoCapacityError, "node 11 does not have enough resources"),
        ("no_nodes", NoCapacityError, "could not find enough nodes"),
        ("node_down", TransientGridError, "failed to get node client"),
        ("wait_timeout", TransientGridError, "timed out"),
        ("leave_contract", TransientGridError, "you must cancel it manually"),
        ("low_balance", PermanentGridError, "min fee is 20000"),
    ],
)
async def test_deploy_errors_are_mapped_and_leave_nothing_billed(
    fake: Fake, fail: str, error: type[Exception], text: str
) -> None:
    fake.set(fail=fail)
    with pytest.raises(error) as info:
        await fake.deployer().deploy(SPEC, "order_4")
    assert text in info.value.message
    assert fake.live("order_4") == []
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
    with pytest.raises(NoCapacityError):
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
        tf = fake.deployer(gridproxy=GridProxyClient(str(server.make_url(""))))
        dep = await tf.deploy(SPEC, "placed")
        assert dep.node_id == 21 and fake.calls("deploy")[0][-2:] == ["--node", "21"]
        with pytest.raises(NoCapacityError):
            await tf.deploy(VmSpec(4, 512, 10, 0, KEY), "too_big")
        assert len(fake.calls("deploy")) == 1  # no tfcmd run when nothing fits
        await tf.deploy(VmSpec(1, 1, 2, 0, KEY, farm_id=3), "farm_given")
        assert fake.calls("deploy")[1][-2:] == ["--farm", "3"]
        await tf.aclose()
    finally:
        await server.close()


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
         NoCapacityError),
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
