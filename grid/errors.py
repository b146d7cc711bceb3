"""The grid's exception hierarchy: what went wrong, whether trying again can help, and the
kind of failure a buyer is told about (`kind`, a key of `core.notices.GRID_FAILURE_REASONS`).

`message` is for logs and admins only, and is scrubbed of anything that looks like a wallet
mnemonic or seed when the error is made (`core.scrub`): tfcmd prints the mnemonic in some of
its errors. A buyer sees `reason`, one short text from a fixed set, never the tool's output.
"""

from __future__ import annotations

from core.notices import grid_failure_reason
from core.scrub import scrub


class GridError(Exception):
    """Any failure talking to the ThreeFold grid; `message` is scrubbed, fit for logs and admins."""

    kind = "failed"

    def __init__(self, message: str) -> None:
        message = scrub(message)
        super().__init__(message)
        self.message = message

    @property
    def reason(self) -> str:
        """What the buyer is told: a fixed text for this kind of failure."""
        return grid_failure_reason(self.kind)


class TransientGridError(GridError):
    """A failure that may pass: timeouts, a node that is down, the chain or proxy unreachable.

    Deploying again under the same name is safe (deploy is idempotent by name).
    """

    kind = "grid_busy"


class NodeUnavailableError(TransientGridError):
    """The chosen node refused the deployment (rented, dedicated, full, or unreachable); another
    node may take it, so the next attempt of the same job does not pick `node_id` again."""

    kind = "node_unavailable"

    def __init__(self, message: str, node_id: int | None = None) -> None:
        super().__init__(message)
        self.node_id = node_id


class PermanentGridError(GridError):
    """A failure that retrying the same request will not fix."""


class NoCapacityError(PermanentGridError):
    """No node (in the chosen farm, or anywhere we may deploy) has the resources the spec asks for."""

    kind = "no_capacity"


class InsufficientFundsError(PermanentGridError):
    """The operator's wallet cannot pay for the contract (an admin must top it up)."""

    kind = "insufficient_funds"


class InvalidSpecError(PermanentGridError):
    """The spec or deployment name is rejected before anything is created on the grid."""

    kind = "invalid"
