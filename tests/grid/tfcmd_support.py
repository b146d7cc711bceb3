"""The fake tfcmd as a test helper: its executable, its state file, and what it saw."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grid.tfcmd import TfcmdDeployer

FAKE = Path(__file__).with_name("fake_tfcmd.py")


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
        for knob in ("FAIL", "FAIL_TIMES", "HANG", "LOGGED_OUT", "COLOR", "VERSION",
                     "REFUSE_NODES", "INDEX_LAG"):
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
        """The VMs named `name` whose contract lives on the chain."""
        return [e for e in self.state().get("vms", {}).values() if e["vm"]["name"] == name]

    def contracts(self, name: str, state: str = "Created") -> list[int]:
        """Contract ids of `name`'s project on the chain in `state`."""
        return [c["contract_id"] for c in self.state().get("chain", [])
                if c["state"] == state
                and json.loads(c["details"]["deployment_data"])["projectName"] in (name, f"vm/{name}")]

    def deployer(self, **kwargs: Any) -> TfcmdDeployer:
        kwargs.setdefault("timeout_s", 20)
        return TfcmdDeployer(str(self.path), **kwargs)

    def advance(self, runs: int = 1) -> None:
        """Let the indexer catch up by `runs` tfcmd runs (each one advances it a step)."""
        for _ in range(runs):
            subprocess.run([str(self.path)], check=True, capture_output=True)

    def bill(self, contract_id: int, amount: int, timestamp: int = 1_764_000_000) -> None:
        """The chain bills `contract_id` (grid-proxy types.ContractBilling, 1e-7 TFT)."""
        data = self.state()
        data.setdefault("bills", {}).setdefault(str(contract_id), []).append(
            {"amountBilled": amount, "discountReceived": "None", "timestamp": timestamp})
        self.state_path.write_text(json.dumps(data))
