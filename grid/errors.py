"""The grid's exception hierarchy: what went wrong, and whether trying again can help."""

from __future__ import annotations


class GridError(Exception):
    """Any failure talking to the ThreeFold grid; `message` is fit for logs and admin chats."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientGridError(GridError):
    """A failure that may pass: timeouts, a node that is down, the chain or proxy unreachable.

    Deploying again under the same name is safe (deploy is idempotent by name).
    """


class PermanentGridError(GridError):
    """A failure that retrying the same request will not fix."""


class NoCapacityError(PermanentGridError):
    """The chosen node or farm does not have the resources the spec asks for."""


class InvalidSpecError(PermanentGridError):
    """The spec or deployment name is rejected before anything is created on the grid."""
