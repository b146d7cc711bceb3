"""A client for ThreeFold's gridproxy: nodes with room for a VM, and the contracts of a twin.

    GET {base_url}/nodes?status=up&healthy=true&rented=false&available_for=<twin>
                        &free_mru=<bytes>&free_sru=<bytes>&farm_ids=1,2&size=50&page=N
    GET {base_url}/contracts?twin_id=<twin>&state=Created,GracePeriod&type=node&size=50&page=N
    GET {base_url}/contracts/<id>/bills

Followed: tfgrid-sdk-go v0.15.14 grid-proxy (`internal/explorer/server.go`, `param_parser.go`,
`pkg/types/nodes.go`, `contracts.go`, `limit.go`) and the node filter tfcmd itself sends
(grid-cli `internal/filters/filters.go`, grid-client `deployer/node_filter.go`: status up,
rented false, healthy true, available for the operator's twin). gridproxy's `used_resources`
already include the reserves it keeps back (`internal/explorer/db/setup.sql`: memory
max(10 %, 2 GiB), SSD 20 GiB), so free = total - used; a bad parameter is HTTP 400 with
`{"error": "..."}`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from grid.deployer import VmSpec
from grid.errors import PermanentGridError, TransientGridError

DEFAULT_LIMIT = 50  # pkg/types/limit.go DefaultLimit
MAX_PAGES = 100  # a runaway guard: 5,000 nodes or contracts
LIVE_CONTRACT_STATES = ("Created", "GracePeriod")

PUBLIC_GRIDPROXIES = {
    "main": "https://gridproxy.grid.tf",
    "test": "https://gridproxy.test.grid.tf",
    "qa": "https://gridproxy.qa.grid.tf",
    "dev": "https://gridproxy.dev.grid.tf",
}


class GridProxyRequestError(PermanentGridError):
    """gridproxy rejected our query (HTTP 4xx): a bug or a bad setting on our side."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Node:
    """The parts of a gridproxy node we use; resources are in bytes (cru in cores)."""

    node_id: int
    farm_id: int
    twin_id: int
    status: str
    healthy: bool
    total_cru: int
    total_mru: int
    total_sru: int
    total_hru: int
    used_cru: int
    used_mru: int
    used_sru: int
    used_hru: int
    country: str = ""
    city: str = ""
    ipv4: str = ""
    ipv6: str = ""
    rented: bool = False
    dedicated: bool = False

    @property
    def free_mru(self) -> int:
        return self.total_mru - self.used_mru

    @property
    def free_sru(self) -> int:
        return self.total_sru - self.used_sru

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        total = data.get("total_resources") or {}
        used = data.get("used_resources") or {}
        public = data.get("publicConfig") or {}
        return cls(
            node_id=int(data["nodeId"]),
            farm_id=int(data.get("farmId", 0)),
            twin_id=int(data.get("twinId", 0)),
            status=str(data.get("status", "")),
            healthy=bool(data.get("healthy", False)),
            total_cru=int(total.get("cru", 0)),
            total_mru=int(total.get("mru", 0)),
            total_sru=int(total.get("sru", 0)),
            total_hru=int(total.get("hru", 0)),
            used_cru=int(used.get("cru", 0)),
            used_mru=int(used.get("mru", 0)),
            used_sru=int(used.get("sru", 0)),
            used_hru=int(used.get("hru", 0)),
            country=str(data.get("country", "")),
            city=str(data.get("city", "")),
            ipv4=str(public.get("ipv4", "")),
            ipv6=str(public.get("ipv6", "")),
            rented=bool(data.get("rented", False)),
            dedicated=bool(data.get("dedicated", False)),
        )


@dataclass(frozen=True)
class Contract:
    """A node contract as gridproxy lists it; `project` and `name` come from its deployment data
    (grid-client workloads.DeploymentData: {"type", "name", "projectName"})."""

    contract_id: int
    twin_id: int
    state: str
    node_id: int
    kind: str  # deployment data type: "vm", "network", ...
    name: str
    project: str

    @property
    def deployment_name(self) -> str:
        """The tfcmd deployment it belongs to: "vm/<name>" (v0.14.7 on) or "<name>" (older)."""
        return self.project.split("/", 1)[1] if "/" in self.project else self.project

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Contract:
        details = data.get("details") or {}
        try:
            meta = json.loads(details.get("deployment_data") or "{}")
        except ValueError:
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        return cls(
            contract_id=int(data["contract_id"]),
            twin_id=int(data.get("twin_id", 0)),
            state=str(data.get("state", "")),
            node_id=int(details.get("nodeId", 0)),
            kind=str(meta.get("type", "")),
            name=str(meta.get("name", "")),
            project=str(meta.get("projectName", "")),
        )


class GridProxyClient:
    """Queries gridproxy. Pass a session to share one; otherwise it owns its own.

    `twin_id` is the operator's twin (tfcmd's login): nodes must be available to it, and its
    contracts are the ones reconciled. Unknown (None) until configured or learnt from tfcmd.
    """

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        farm_ids: Sequence[int] | None = None,
        twin_id: int | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.farm_ids = list(farm_ids) if farm_ids else None
        self.twin_id = twin_id
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> GridProxyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def find_nodes(
        self,
        free_mru_bytes: int,
        free_sru_bytes: int,
        farm_ids: Sequence[int] | None = None,
        status: str = "up",
        limit: int = DEFAULT_LIMIT,
        *,
        node_id: int | None = None,
        healthy: bool | None = True,
        deployable: bool = True,
    ) -> list[Node]:
        """Every node (all pages) with at least the given free memory and SSD, in gridproxy's
        order. `deployable` adds tfcmd's own conditions: not rented, and available to our twin
        (not in a dedicated farm, no extra fee) when the twin is known."""
        params: dict[str, str] = {
            "status": status,
            "free_mru": str(free_mru_bytes),
            "free_sru": str(free_sru_bytes),
        }
        if farm_ids:
            params["farm_ids"] = ",".join(str(f) for f in farm_ids)
        if node_id is not None:
            params["node_id"] = str(node_id)
        if healthy is not None:
            params["healthy"] = "true" if healthy else "false"
        if deployable:
            params["rented"] = "false"
            if self.twin_id is not None:
                params["available_for"] = str(self.twin_id)
        return [Node.from_json(item) for item in await self._pages("/nodes", params, limit)]

    async def pick_node(self, spec: VmSpec, exclude: Collection[int] = ()) -> Node | None:
        """The best fit for `spec` among the deployable nodes: the one left with the least
        free memory (then SSD), skipping `exclude` (nodes that refused this deployment)."""
        nodes = [n for n in await self._candidates(spec) if n.node_id not in exclude]
        if not nodes:
            return None
        return min(nodes, key=lambda n: (n.free_mru, n.free_sru, n.node_id))

    async def has_capacity(self, spec: VmSpec) -> bool:
        """Whether some deployable node (the pinned one, the spec's farm, or our farms) fits."""
        return bool(await self._candidates(spec))

    async def _candidates(self, spec: VmSpec) -> list[Node]:
        farm_ids = [spec.farm_id] if spec.farm_id is not None else self.farm_ids
        return await self.find_nodes(
            spec.memory_bytes,
            spec.storage_bytes,
            farm_ids=None if spec.node_id is not None else farm_ids,
            node_id=spec.node_id,
        )

    async def contracts(
        self, twin_id: int | None = None, states: Sequence[str] = LIVE_CONTRACT_STATES,
    ) -> list[Contract]:
        """The node contracts of `twin_id` (default: ours) in `states`, all pages."""
        twin = twin_id if twin_id is not None else self.twin_id
        if twin is None:
            raise PermanentGridError("the operator's twin id is not known (set grid.twin_id)")
        params = {"twin_id": str(twin), "type": "node", "state": ",".join(states)}
        return [Contract.from_json(item) for item in await self._pages("/contracts", params)]

    async def contract_billed(self, contract_id: int) -> int:
        """What the chain has billed `contract_id` so far, in TFT's smallest unit (1e-7 TFT)."""
        bills = await self._pages(f"/contracts/{int(contract_id)}/bills", {})
        return sum(int(bill.get("amountBilled", 0)) for bill in bills)

    async def _pages(
        self, path: str, params: dict[str, str], limit: int = DEFAULT_LIMIT,
    ) -> list[dict[str, Any]]:
        """Every item of a paged list: pages of `limit` until a short one."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = await self._get(path, {**params, "size": str(limit), "page": str(page)})
            if not isinstance(body, list):
                raise TransientGridError(f"gridproxy {path} did not answer a JSON list")
            items.extend(item for item in body if isinstance(item, dict))
            if len(body) < limit:
                break
        return items

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = self.base_url + path
        try:
            async with self._session.get(url, params=params, timeout=self._timeout) as resp:
                if resp.status >= 400:
                    raise _http_error(resp.status, await resp.text())
                return await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise TransientGridError(f"gridproxy {url} failed: {exc!r}") from exc


def _http_error(status: int, text: str) -> Exception:
    message = text.strip()
    try:
        payload = json.loads(text)
        if isinstance(payload, dict):
            message = str(payload.get("error") or payload.get("Message") or message)
    except ValueError:
        pass
    message = f"gridproxy answered {status}: {message}"
    if status == 429 or status >= 500:
        return TransientGridError(message)
    return GridProxyRequestError(message, status)
