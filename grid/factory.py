"""Build the configured grid backend from the typed `[grid]` config (`core.settings.GridConfig`).

Every default lives in `GridConfig`; this module only turns the model into a backend.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import aiohttp

from core.settings import GridConfig
from grid.deployer import Deployer
from grid.gridproxy import PUBLIC_GRIDPROXIES, GridProxyClient
from grid.simulated import SimulatedGrid
from grid.tfcmd import TfcmdDeployer


def make_deployer(grid: GridConfig) -> Deployer:
    """Return the `Deployer` for `grid.backend` ("simulated" or "tfcmd").

    For tfcmd, a gridproxy (`gridproxy_url`, else the public one of `network`) picks a node
    within `farm_ids`; call `aclose()` at shutdown. Raises ValueError for a tfcmd that cannot
    be found, so a bad config fails at startup rather than at the first sale.
    """
    if grid.backend == "simulated":
        if grid.sim_state_path is None:
            raise ValueError("grid.sim_state_path is not set (Config fills it next to the database)")
        return SimulatedGrid(
            path=str(grid.sim_state_path),
            latency_s=float(grid.sim_latency_s),
            failure_rate=float(grid.sim_failure_rate),
            seed=grid.sim_seed,
        )
    path = _resolve_executable(grid.tfcmd_path)
    return TfcmdDeployer(
        tfcmd_path=path,
        timeout_s=float(grid.tfcmd_timeout_s),
        network=grid.network,
        gridproxy=make_gridproxy(grid.gridproxy_url, grid.network, grid.farm_ids,
                                 twin_id=grid.twin_id or None),
    )


def make_gridproxy(
    gridproxy_url: str | None = None,
    network: str | None = None,
    farm_ids: Sequence[int] | None = None,
    session: aiohttp.ClientSession | None = None,
    *,
    twin_id: int | None = None,
) -> GridProxyClient | None:
    """A gridproxy client for the configured URL, else the public one of `network`, else None."""
    url = gridproxy_url or (PUBLIC_GRIDPROXIES.get(network) if network else None)
    if not url:
        return None
    return GridProxyClient(url, session=session, farm_ids=farm_ids, twin_id=twin_id)


def _resolve_executable(path: str) -> str:
    if os.sep in path:
        if not os.access(path, os.X_OK):
            raise ValueError(f"tfcmd_path {path!r} is not an executable file (see docs/grid.md)")
        return path
    found = shutil.which(path)
    if found is None:
        raise ValueError(f"tfcmd {path!r} is not on PATH; install it or set [grid] tfcmd_path")
    return found
