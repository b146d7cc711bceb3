"""Build the configured grid backend from plain `[grid]` config values.

The config model lives elsewhere; this module takes the values as keyword arguments named
like the config keys, so wiring is `make_deployer(cfg.backend, **cfg.options())`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

import aiohttp

from grid.deployer import Deployer
from grid.gridproxy import PUBLIC_GRIDPROXIES, GridProxyClient
from grid.simulated import FAILURE_KINDS, SimulatedGrid
from grid.tfcmd import TfcmdDeployer

BACKENDS = ("simulated", "tfcmd")
DEFAULT_SIM_STATE_PATH = "gridshop-grid-sim.sqlite3"

# Every key of the [grid] table; keys meant for the other backend are accepted and ignored.
GRID_OPTION_KEYS = frozenset(
    {
        "tfcmd_path", "tfcmd_timeout_s", "network", "ssh_key", "gridproxy_url", "farm_ids",
        "sim_latency_s", "sim_failure_rate", "sim_seed", "sim_state_path", "sim_failure_kinds",
        # read by the deployment worker, not by the backends
        "max_attempts", "expiry_warning_days",
    }
)


def make_deployer(backend: str, **options: Any) -> Deployer:
    """Return the `Deployer` for `backend` ("simulated" or "tfcmd").

    For tfcmd, a gridproxy (`gridproxy_url`, else the public one of `network`) picks a node
    within `farm_ids` for specs that name neither node nor farm; call `aclose()` at shutdown.

    Raises ValueError for an unknown backend, an unknown option, or a tfcmd that cannot be
    found, so a bad config fails at startup rather than at the first sale.
    """
    unknown = sorted(set(options) - GRID_OPTION_KEYS)
    if unknown:
        raise ValueError(f"unknown [grid] options {unknown}; known: {sorted(GRID_OPTION_KEYS)}")
    opts = {key: value for key, value in options.items() if value is not None}

    if backend == "simulated":
        return SimulatedGrid(
            path=str(opts.get("sim_state_path", DEFAULT_SIM_STATE_PATH)),
            latency_s=float(opts.get("sim_latency_s", 3.0)),
            failure_rate=float(opts.get("sim_failure_rate", 0.0)),
            failure_kinds=tuple(opts.get("sim_failure_kinds", FAILURE_KINDS)),
            seed=int(opts["sim_seed"]) if "sim_seed" in opts else None,
        )
    if backend == "tfcmd":
        path = _resolve_executable(str(opts.get("tfcmd_path", "tfcmd")))
        network = opts.get("network")
        return TfcmdDeployer(
            tfcmd_path=path,
            timeout_s=float(opts.get("tfcmd_timeout_s", 600)),
            network=network,
            gridproxy=make_gridproxy(opts.get("gridproxy_url"), network, opts.get("farm_ids")),
        )
    raise ValueError(f"unknown grid backend {backend!r}; expected one of {BACKENDS}")


def make_gridproxy(
    gridproxy_url: str | None = None,
    network: str | None = None,
    farm_ids: Sequence[int] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> GridProxyClient | None:
    """A gridproxy client for the configured URL, else the public one of `network`, else None."""
    url = gridproxy_url or (PUBLIC_GRIDPROXIES.get(network) if network else None)
    if not url:
        return None
    return GridProxyClient(url, session=session, farm_ids=farm_ids)


def _resolve_executable(path: str) -> str:
    if os.sep in path:
        if not os.access(path, os.X_OK):
            raise ValueError(f"tfcmd_path {path!r} is not an executable file (see docs/grid.md)")
        return path
    found = shutil.which(path)
    if found is None:
        raise ValueError(f"tfcmd {path!r} is not on PATH; install it or set [grid] tfcmd_path")
    return found
