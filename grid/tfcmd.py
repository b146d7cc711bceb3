"""The real-grid backend: drives ThreeFold's `tfcmd` CLI as a subprocess.

    tfcmd deploy vm --name N --ssh KEYFILE --cpu C --memory GB --rootfs GB [--disk GB]
                    --mycelium [--node ID --ygg | --farm ID]
    tfcmd get vm N        # logs "vm:\\n{...json...}" on stderr
    tfcmd cancel N        # cancels the contracts of projects vm/N, kubernetes/N and N

Behaviour followed: threefoldtech/tfgrid-sdk-go v0.15.14 (grid-cli `cmd/*.go`,
`internal/cmd/*.go`), with the older v0.14 and the newer `development` texts where they differ.
tfcmd logs with zerolog's console writer on stderr ("3:37PM INF ...") and reports a failure as
a fatal line (`FTL error="..."`, exit status 1). The wallet mnemonic and the network live in
tfcmd's own login (`tfcmd login`, stored in ~/.config/.tfgridconfig), never in our config.

Contracts are listed through the GraphQL indexer, which lags the chain: `cancel` exits 0 with
"project is canceled" even when it found nothing, so a cancel is only known to be done when
gridproxy no longer lists the contracts (`grid.reconcile`).
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

from core.locks import NameLocks
from grid.deployer import Deployment, VmSpec, validate_name
from grid.errors import (
    GridError,
    InsufficientFundsError,
    InvalidSpecError,
    NoCapacityError,
    NodeUnavailableError,
    PermanentGridError,
    TransientGridError,
)

if TYPE_CHECKING:
    from grid.gridproxy import GridProxyClient

log = logging.getLogger(__name__)

NETWORKS = ("main", "test", "qa", "dev")
# grid-client deployer/deployer.go Wait: a deploy gives up after 4 minutes without progress and
# 50 minutes in all; our kill timeout must outlast that, or a slow but progressing deploy dies.
TFCMD_OVERALL_LIMIT_S = 50 * 60
# get/cancel: the indexer query plus RMB calls of 100 s each (cmd/get_vm.go WithRMBTimeout(100)).
QUERY_TIMEOUT_S = 300.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FATAL = re.compile(r"\bFTL\b.*?\berror=(\"(?:[^\"\\]|\\.)*\"|\S+)")
# get vm for a name with no contracts: v0.14.8 and later (grid-cli internal/cmd/get.go), and
# v0.14.7 and earlier (grid-client graphql/contracts.go GetNodeContractsByTypeAndName).
_NOT_FOUND = re.compile(r"couldn't find any contracts with name \S+|no vm with name \S+ found")
_NODE = re.compile(r"\bnode (\d+)")
# every command logs the RMB peer it starts for the login's twin ("starting peer ... twin=192")
_TWIN = re.compile(r"starting peer\b.*?\btwin=(\d+)")

# Substrings of tfcmd / grid-client / tfchain error texts, checked in order; the first match
# decides. Anything unrecognised is transient (the attempt counter bounds the retries).
_PATTERNS: tuple[tuple[str, type[GridError]], ...] = (
    # login and identity (grid-cli internal/config, grid-client deployer/tf_plugin_client.go);
    # the twin lookup fails this way when the chain does not answer
    ("failed to get twin for the given", TransientGridError),
    ("mnemonic/seed", PermanentGridError),
    ("failed to load configuration", PermanentGridError),
    ("failed to validate mnemonics", PermanentGridError),
    ("invalid grid network", PermanentGridError),
    ("no twin associated with the account", PermanentGridError),
    ("is invalid", InvalidSpecError),
    ("network must be one of", PermanentGridError),
    # the wallet cannot pay (substrate's InvalidTransaction::Payment, tfchain balance errors)
    ("inability to pay some fees", InsufficientFundsError),
    ("balance too low", InsufficientFundsError),
    ("insufficient balance", InsufficientFundsError),
    ("insufficientbalance", InsufficientFundsError),
    ("min fee is", InsufficientFundsError),
    # the node refuses: tfchain's smart-contract module, deployer.go's capacity check
    ("nodenotavailabletodeploy", NodeUnavailableError),
    ("nodehasactiverentcontract", NodeUnavailableError),
    ("does not have enough resources", NodeUnavailableError),
    # nothing fits (node_filter.go FilterNodes / GetPublicNode, deployer.go)
    ("could not find enough nodes", NoCapacityError),
    ("does not have enough public ips", NoCapacityError),
    ("no nodes with public ipv4", NoCapacityError),
    # cobra/pflag: our arguments are wrong
    ("unknown flag", InvalidSpecError),
    ("unknown shorthand flag", InvalidSpecError),
    ("required flag", InvalidSpecError),
    ("invalid argument", InvalidSpecError),
    ("if any flags in the group", InvalidSpecError),
    ("unsupported character", InvalidSpecError),
    ("cannot exceed", InvalidSpecError),
    ("can't be less", InvalidSpecError),
    ("must be more than or equal", InvalidSpecError),
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
    """Map a tfcmd error text to our exception (its message scrubbed of secrets); anything
    unrecognised is transient: the chain, RPC, relay or a node timing out."""
    lowered = message.lower()
    for needle, error_class in _PATTERNS:
        if needle in lowered:
            if error_class is NodeUnavailableError:
                node = _NODE.search(message)
                return NodeUnavailableError(message, int(node.group(1)) if node else None)
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
    """A `Deployer` that shells out to `tfcmd`, killing it when it overruns its timeout.

    With a gridproxy it picks the node itself (`GridProxyClient.pick_node`, tfcmd's own filter
    plus the best fit) and pins it with `--node`; a node that refused a deployment is not
    picked again for that name.
    """

    def __init__(
        self,
        tfcmd_path: str,
        timeout_s: float = TFCMD_OVERALL_LIMIT_S,
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
        self.query_timeout_s = query_timeout_s or min(timeout_s, QUERY_TIMEOUT_S)
        self._env = dict(env or {})
        # Without --node or --farm, tfcmd deploys on farm 1; with a gridproxy we pick a node.
        self.gridproxy = gridproxy
        self._locks = NameLocks()
        self._refused: dict[str, set[int]] = {}

    async def aclose(self) -> None:
        """Close the gridproxy client's HTTP session, if we have one."""
        if self.gridproxy is not None:
            await self.gridproxy.close()

    def refused_nodes(self, name: str) -> frozenset[int]:
        """Nodes that refused a deployment of `name` in this process."""
        return frozenset(self._refused.get(name, ()))

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
            try:
                await self._deploy_placed(spec, name)
            except NodeUnavailableError as exc:
                if exc.node_id is not None and spec.node_id is None and spec.farm_id is None:
                    self._refused.setdefault(name, set()).add(exc.node_id)
                await self._cancel_quietly(name)
                raise
            except GridError:
                await self._cancel_quietly(name)
                raise
            deployment = await self.get(name)
            if deployment is None or not deployment.healthy:
                await self._cancel_quietly(name)
                raise TransientGridError(
                    f"tfcmd deployed {name} but get vm shows {deployment or 'nothing'}; cancelled it"
                )
            self._refused.pop(name, None)
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
        """Cancel what the indexer lists for `name` (cmd/cancel.go exits 0 when it lists
        nothing, so a contract the indexer has not seen yet survives: see grid.reconcile)."""
        validate_name(name)
        result = await self._run(["cancel", name], self.query_timeout_s)
        if result.returncode != 0:
            message = error_message(result.output)
            if _NOT_FOUND.search(message):
                return
            raise classify_error(message)

    async def _deploy_placed(self, spec: VmSpec, name: str) -> None:
        """Deploy on the node we pick; when gridproxy cannot be reached, fall back to our farms
        one by one and let tfcmd's own filter pick the node in each (`--farm`)."""
        try:
            placed = await self._place(spec, name)
        except TransientGridError as exc:
            farms = self.gridproxy.farm_ids if self.gridproxy is not None else None
            if not farms:
                raise
            log.warning("gridproxy unreachable (%s); letting tfcmd pick in farms %s", exc.message, farms)
            for index, farm in enumerate(farms):
                try:
                    await self._deploy_once(replace(spec, farm_id=farm), name)
                    return
                except NoCapacityError:
                    if index == len(farms) - 1:
                        raise
            return
        await self._deploy_once(placed, name)

    async def _place(self, spec: VmSpec, name: str) -> VmSpec:
        """Pin the spec to a node with room when it names neither node nor farm."""
        if self.gridproxy is None or spec.node_id is not None or spec.farm_id is not None:
            return spec
        node = await self.gridproxy.pick_node(spec, exclude=self.refused_nodes(name))
        if node is None:
            raise NoCapacityError(
                f"could not find enough nodes: no deployable node with {spec.memory_gb} GB memory "
                f"and {spec.rootfs_gb + spec.disk_gb} GB SSD free"
                + (f" (refused: {sorted(self.refused_nodes(name))})" if name in self._refused else "")
            )
        return replace(spec, node_id=node.node_id)

    async def _deploy_once(self, spec: VmSpec, name: str) -> None:
        with tempfile.TemporaryDirectory(prefix="gridshop-tfcmd-") as tmp:
            key_file = Path(tmp) / "key.pub"
            key_file.write_text(spec.ssh_key.strip() + "\n")
            key_file.chmod(0o600)
            result = await self._run(deploy_args(spec, name, str(key_file)), self.timeout_s)
        if result.returncode != 0:
            error = classify_error(error_message(result.output))
            log.warning("tfcmd deploy %s failed: %s", name, error.message)
            raise error

    async def _cancel_quietly(self, name: str) -> None:
        """Cancel what a failed deploy may have left behind; a failure here is only logged."""
        try:
            await self.cancel(name)
        except GridError as exc:
            log.error("tfcmd: could not cancel %s after a failed deploy: %s", name, exc.message)

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
        result = _Result(
            proc.returncode if proc.returncode is not None else -1,
            stdout.decode(errors="replace"),
            stderr.decode(errors="replace"),
        )
        self._learn_twin(result.output)
        return result

    def _learn_twin(self, output: str) -> None:
        """The login's twin, for gridproxy's available_for and the contract list, unless set."""
        if self.gridproxy is None or self.gridproxy.twin_id is not None:
            return
        match = _TWIN.search(output)
        if match:
            self.gridproxy.twin_id = int(match.group(1))
            log.info("tfcmd is logged in as twin %s", match.group(1))


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
        # On development tfcmd a VM with no public IP and no yggdrasil is a light VM, and a
        # pinned --node skips the filter for light support (grid-cli cmd/deploy_vm.go); --ygg
        # keeps it a full VM, which every node runs (and is v0.15's default anyway).
        args += ["--node", str(spec.node_id), "--ygg"]
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
