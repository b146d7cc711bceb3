"""Deploying on the ThreeFold grid: the Deployer interface and its backends.

`grid` imports nothing else of gridshop. Backends: `grid.simulated.SimulatedGrid` (default, no
wallet), `grid.tfcmd.TfcmdDeployer` (real grid through ThreeFold's `tfcmd`). `grid.gridproxy`
finds nodes with capacity. `grid.factory.make_deployer` builds a backend from config values.
"""

from grid.deployer import Deployer, Deployment, VmSpec, validate_name
from grid.errors import (
    GridError,
    InvalidSpecError,
    NoCapacityError,
    PermanentGridError,
    TransientGridError,
)

__all__ = [
    "Deployer",
    "Deployment",
    "GridError",
    "InvalidSpecError",
    "NoCapacityError",
    "PermanentGridError",
    "TransientGridError",
    "VmSpec",
    "validate_name",
]
