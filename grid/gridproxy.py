"""A client for ThreeFold's gridproxy: find nodes with room for a VM before deploying.

    GET {base_url}/nodes?status=up&free_mru=<bytes>&free_sru=<bytes>&farm_ids=1,2&size=50

gridproxy answers a JSON list of nodes (camelCase ids, `total_resources` / `used_resources`
in bytes) and, for a bad parameter, HTTP 400 with `{"error": "..."}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from grid.deployer import VmSpec
from grid.errors import PermanentGridError, TransientGridError

# zos lets SSD be booked twice over, and gridproxy's free_sru filter counts it that way.
SSD_OVERPROVISION_FACTOR = 2
DEFAULT_LIMIT = 50

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
        return self.total_sru * SSD_OVERPROVISION_FACTOR - self.used_sru

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


class GridProxyClient:
    """Queries gridproxy's `/nodes`. Pass a session to share one; otherwise it owns its own."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession | None = None,
        *,
        farm_ids: Sequence[int] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.farm_ids = list(farm_ids) if farm_ids else None
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
    ) -> list[Node]:
        """Nodes with at least the given free memory and SSD, in gridproxy's order."""
        params: dict[str, str] = {
            "status": status,
            "free_mru": str(free_mru_bytes),
            "free_sru": str(free_sru_bytes),
            "size": str(limit),
            "page": "1",
        }
        if farm_ids:
            params["farm_ids"] = ",".join(str(f) for f in farm_ids)
        if node_id is not None:
            params["node_id"] = str(node_id)
        if healthy is not None:
            params["healthy"] = "true" if healthy else "false"
        body = await self._get("/nodes", params)
        if not isinstance(body, list):
            raise TransientGridError("gridproxy /nodes did not answer a JSON list")
        return [Node.from_json(item) for item in body]

    async def pick_node(self, spec: VmSpec) -> Node | None:
        """The up, healthy node with the most free memory that fits `spec`, or None."""
        nodes = await self._candidates(spec)
        if not nodes:
            return None
        return max(nodes, key=lambda n: (n.free_mru, n.free_sru, -n.node_id))

    async def has_capacity(self, spec: VmSpec) -> bool:
        """Whether some node (the pinned one, the spec's farm, or our farms) fits `spec`."""
        return bool(await self._candidates(spec))

    async def _candidates(self, spec: VmSpec) -> list[Node]:
        farm_ids = [spec.farm_id] if spec.farm_id is not None else self.farm_ids
        return await self.find_nodes(
            spec.memory_bytes,
            spec.storage_bytes,
            farm_ids=None if spec.node_id is not None else farm_ids,
            node_id=spec.node_id,
        )

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
