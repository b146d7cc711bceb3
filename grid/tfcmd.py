"""The real-grid backend: drives ThreeFold's `tfcmd` CLI as a subprocess.

    tfcmd deploy vm --name N --ssh KEYFILE --cpu C --memory GB --rootfs GB [--disk GB]
                    --mycelium [--node ID | --farm ID]
    tfcmd get vm N        # logs "vm:\\n{...json...}" on stderr
    tfcmd cancel N        # cancels every contract of project N; fine if there are none

tfcmd logs with zerolog's console writer on stderr ("3:37PM INF ...") and reports a failure as
a fatal line (`FTL error="..."`, exit status 1). The wallet mnemonic and the network live in
tfcmd's own login (`tfcmd login`, stored in ~/.config/.tfgridconfig), never in our config.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grid._locks import NameLocks
from grid.deployer import Deployment, VmSpec, validate_name
from grid.errors import (
    GridError,
    InvalidSpecError,
    NoCapacityError,
    PermanentGridError,
    TransientGridError,
)

if TYPE_CHECKING:
    from grid.gridproxy import GridProxyClient

log = logging.getLogger(__name__)

NETWORKS = ("main", "test", "qa", "dev")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FATAL = re.compile(r"\bFTL\b.*?\berror=(\"(?:[^\"\\]|\\.)*\"|\S+)")
_NOT_FOUND = re.compile(r"no vm with name \S+ found|no \w+ with name \S+ found")
_NOTHING_TO_CANCEL = re.compile(r"no contracts (?:exist|found)", re.IGNORECASE)

# Substrings of tfcmd / grid-client error texts, checked in order.
_PERMANENT_PATTERNS: tuple[tuple[str, type[PermanentGridError]], ...] = (
    ("does not have enough resources", NoCapacityError),
    ("could not find enough nodes", NoCapacityError),
    ("does not have enough public ips", NoCapacityError),
    ("no nodes with public ipv4", NoCapacityError),
    ("unknown flag", InvalidSpecError),
    ("unknown shorthand flag", InvalidSpecError),
    ("required flag", InvalidSpecError),
    ("invalid argument", InvalidSpecError),
    ("if any flags in the group", InvalidSpecError),
    ("is invalid", InvalidSpecError),
    ("unsupported character", InvalidSpecError),
    ("cannot exceed", InvalidSpecError),
    ("can't be less", InvalidSpecError),
    ("must be more than or equal", InvalidSpecError),
    ("failed to load configuration", PermanentGridError),
    ("failed to validate mnemonics", PermanentGridError),
    ("invalid grid network", PermanentGridError),
    ("min fee is", PermanentGridError),
    ("insufficient balance", PermanentGridError),
)


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return _ANSI.sub("", self.stderr + "\n" + self.stdout)


def classify_error(message: str) -> GridError:
    """Map a tfcmd error text to our exception; anything unrecognised is worth a retry."""
    lowered = message.lower()
    for needle, error_class in _PERMANENT_PATTERNS:
        if needle in lowered:
            return error_class(message)
    return TransientGridError(message)


def error_message(output: str) -> str:
    """Pull the failure text out of tfcmd's console log (last fatal line, else cobra's Error:)."""
    lines = [line.strip() for line in _ANSI.sub("", output).splitlines() if line.strip()]
    for line in reversed(lines):
        match = _FATAL.search(line)
        if match:
            return _unquote(match.group(1))
    for line in reversed(lines):
        if line.startswith("Error: "):
            return line[len("Error: "):]
    return lines[-1] if lines else "tfcmd failed without output"


def parse_vm_output(output: str) -> dict[str, Any]:
    """Return the JSON object `tfcmd get vm` logs after its "vm:" line."""
    text = _ANSI.sub("", output)
    marker = re.search(r"vm:\s*\n?\s*\{", text)
    if marker is None:
        raise TransientGridError("tfcmd get vm printed no vm JSON")
    start = text.index("{", marker.start())
    try:
        data, _ = json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise TransientGridError(f"tfcmd get vm printed invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise TransientGridError("tfcmd get vm printed JSON that is not an object")
    return data


def deployment_from_vm_json(name: str, data: Mapping[str, Any]) -> Deployment:
    """Build a Deployment from `tfcmd get vm` JSON (full VMs under Vms, light ones under VmsLight)."""
    vms = [vm for key in ("Vms", "VmsLight") for vm in (data.get(key) or []) if isinstance(vm, dict)]
    vm = next((v for v in vms if v.get("name") == name), vms[0] if vms else {})
    node_ids = data.get("NodeDeploymentID") or {}
    contract_id = int(data.get("ContractID") or 0)
    if not contract_id and node_ids:
        contract_id = int(next(iter(node_ids.values())))
    node_id = int(data.get("NodeID") or vm.get("node") or (next(iter(node_ids), 0)))
    return Deployment(
        name=name,
        contract_id=contract_id,
        node_id=node_id,
        mycelium_ip=str(vm.get("mycelium_ip") or ""),
        ipv4=_strip_prefix(vm.get("computedip")),
        ipv6=_strip_prefix(vm.get("computedip6")),
        planetary_ip=(vm.get("planetary_ip") or vm.get("ygg_ip") or None),
    )


class TfcmdDeployer:
    """A `Deployer` that shells out to `tfcmd`, killing it when it overruns its timeout."""

    def __init__(
        self,
        tfcmd_path: str,
        timeout_s: float = 600,
        network: str | None = None,
        *,
        query_timeout_s: float | None = None,
        env: Mapping[str, str] | None = None,
        gridproxy: GridProxyClient | None = None,
    ) -> None:
        if network is not None and network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.tfcmd_path = tfcmd_path
        self.timeout_s = timeout_s
        # tfcmd takes the network from its login; we keep ours to name the gridproxy and logs.
        self.network = network
        self.query_timeout_s = query_timeout_s or min(timeout_s, 120.0)
        self._env = dict(env or {})
        # Without --node or --farm, tfcmd deploys on farm 1; with a gridproxy we pick a node.
        self.gridproxy = gridproxy
        self._locks = NameLocks()

    async def aclose(self) -> None:
        """Close the gridproxy client's HTTP session, if we have one."""
        if self.gridproxy is not None:
            await self.gridproxy.close()

    async def deploy(self, spec: VmSpec, name: str) -> Deployment:
        validate_name(name)
        spec.validate()
        async with self._locks.hold(name):
            existing = await self.get(name)
            if existing is not None:
                if existing.healthy:
                    return existing
                log.warning("tfcmd: %s exists but is unhealthy (%s); redeploying", name, existing)
                await self.cancel(name)
            spec = await self._place(spec)
            try:
                await self._deploy_once(spec, name)
            except GridError:
                await self._cancel_quietly(name)
                raise
            deployment = await self.get(name)
            if deployment is None or not deployment.healthy:
                await self._cancel_quietly(name)
                raise TransientGridError(
                    f"tfcmd deployed {name} but get vm shows {deployment or 'nothing'}; cancelled it"
                )
            return deployment

    async def get(self, name: str) -> Deployment | None:
        validate_name(name)
        result = await self._run(["get", "vm", name], self.query_timeout_s)
        if result.returncode != 0:
            message = error_message(result.output)
            if _NOT_FOUND.search(message):
                return None
            raise classify_error(message)
        return deployment_from_vm_json(name, parse_vm_output(result.output))

    async def cancel(self, name: str) -> None:
        validate_name(name)
        result = await self._run(["cancel", name], self.query_timeout_s)
        if result.returncode != 0:
            message = error_message(result.output)
            if _NOTHING_TO_CANCEL.search(message) or _NOT_FOUND.search(message):
                return
            raise classify_error(message)

    async def _place(self, spec: VmSpec) -> VmSpec:
        """Pin the spec to a node with room when it names neither node nor farm."""
        if self.gridproxy is None or spec.node_id is not None or spec.farm_id is not None:
            return spec
        node = await self.gridproxy.pick_node(spec)
        if node is None:
            raise NoCapacityError(
                f"could not find enough nodes: no node up with {spec.memory_gb} GB memory and "
                f"{spec.rootfs_gb + spec.disk_gb} GB SSD free"
            )
        return replace(spec, node_id=node.node_id)

    async def _deploy_once(self, spec: VmSpec, name: str) -> None:
        with tempfile.TemporaryDirectory(prefix="gridshop-tfcmd-") as tmp:
            key_file = Path(tmp) / "key.pub"
            key_file.write_text(spec.ssh_key.strip() + "\n")
            key_file.chmod(0o600)
            result = await self._run(deploy_args(spec, name, str(key_file)), self.timeout_s)
        if result.returncode != 0:
            message = error_message(result.output)
            log.warning("tfcmd deploy %s failed: %s", name, message)
            raise classify_error(message)

    async def _cancel_quietly(self, name: str) -> None:
        """Cancel what a failed deploy may have left behind; a failure here is only logged."""
        try:
            await self.cancel(name)
        except GridError as exc:
            log.error("tfcmd: could not cancel %s after a failed deploy: %s", name, exc)

    async def _run(self, args: Sequence[str], timeout_s: float) -> _Result:
        env = {**os.environ, **self._env, "NO_COLOR": "1"}
        log.debug("tfcmd %s", " ".join(args))
        try:
            proc = await asyncio.create_subprocess_exec(
                self.tfcmd_path,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group, so a kill takes its children too
            )
        except OSError as exc:
            raise PermanentGridError(f"cannot run tfcmd at {self.tfcmd_path}: {exc}") from exc
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            await _kill(proc)
            raise TransientGridError(
                f"tfcmd {' '.join(args[:2])} timed out after {timeout_s:g}s and was killed"
            ) from None
        except asyncio.CancelledError:
            await _kill(proc)
            raise
        return _Result(
            proc.returncode if proc.returncode is not None else -1,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
        )


def deploy_args(spec: VmSpec, name: str, key_file: str) -> list[str]:
    """The `tfcmd deploy vm` argument list for `spec` (the key is passed as a file path)."""
    args = [
        "deploy", "vm",
        "--name", name,
        "--ssh", key_file,
        "--cpu", str(spec.cpu),
        "--memory", str(spec.memory_gb),
        "--rootfs", str(spec.rootfs_gb),
    ]
    if spec.disk_gb > 0:
        args += ["--disk", str(spec.disk_gb)]
    args.append("--mycelium")
    if spec.node_id is not None:
        args += ["--node", str(spec.node_id)]
    elif spec.farm_id is not None:
        args += ["--farm", str(spec.farm_id)]
    return args


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


def _unquote(value: str) -> str:
    if value.startswith('"'):
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value.strip('"')
    return value


def _strip_prefix(address: object) -> str | None:
    """computedip comes as "185.206.122.33/24"; we keep the address only."""
    if not address:
        return None
    return str(address).split("/", 1)[0]
