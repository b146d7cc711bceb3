"""make_deployer and make_gridproxy: the typed [grid] config in, the right backend out."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.settings import GridConfig
from grid.deployer import Deployer
from grid.factory import make_deployer, make_gridproxy
from grid.simulated import SimulatedGrid
from grid.tfcmd import TfcmdDeployer


def test_simulated_backend_takes_sim_options(tmp_path: Path) -> None:
    grid = make_deployer(GridConfig(
        sim_state_path=tmp_path / "sim.db", sim_latency_s=0.5, sim_failure_rate=0.25, sim_seed=42,
        tfcmd_path="/ignored/for/this/backend", network="test", farm_ids=[1, 2],
    ))
    assert isinstance(grid, SimulatedGrid) and isinstance(grid, Deployer)
    assert (grid.latency_s, grid.failure_rate, grid.seed) == (0.5, 0.25, 42)
    assert (tmp_path / "sim.db").exists()


def test_tfcmd_backend(tmp_path: Path) -> None:
    exe = tmp_path / "tfcmd"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    deployer = make_deployer(GridConfig(
        backend="tfcmd", tfcmd_path=str(exe), tfcmd_timeout_s=90, network="main", farm_ids=[4],
        twin_id=77,
    ))
    assert isinstance(deployer, TfcmdDeployer)
    assert (deployer.tfcmd_path, deployer.timeout_s, deployer.network) == (str(exe), 90.0, "main")
    assert deployer.gridproxy is not None
    assert deployer.gridproxy.base_url == "https://gridproxy.grid.tf"
    assert (deployer.gridproxy.farm_ids, deployer.gridproxy.twin_id) == ([4], 77)


def test_tfcmd_timeout_default_outlasts_tfcmd_itself(tmp_path: Path) -> None:
    # grid-client deployer.go: tfcmd waits up to 50 minutes for a deployment that progresses.
    exe = tmp_path / "tfcmd"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    deployer = make_deployer(GridConfig(backend="tfcmd", tfcmd_path=str(exe)))
    assert isinstance(deployer, TfcmdDeployer)
    assert deployer.timeout_s >= 50 * 60
    assert deployer.query_timeout_s == 300


def test_tfcmd_missing_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an executable"):
        make_deployer(GridConfig(backend="tfcmd", tfcmd_path=str(tmp_path / "nope")))
    with pytest.raises(ValueError, match="not on PATH"):
        make_deployer(GridConfig(backend="tfcmd", tfcmd_path="tfcmd-that-does-not-exist"))


def test_make_gridproxy() -> None:
    assert make_gridproxy() is None
    assert make_gridproxy(network="test").base_url == "https://gridproxy.test.grid.tf"  # type: ignore[union-attr]
    own = make_gridproxy("http://127.0.0.1:8085/", network="main", farm_ids=[7])
    assert own is not None and own.base_url == "http://127.0.0.1:8085" and own.farm_ids == [7]
