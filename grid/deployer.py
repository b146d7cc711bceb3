"""The `Deployer` interface, the VM spec and deployment records, and name/spec validation.

Every backend (simulated, tfcmd) implements `Deployer`. Deploy is idempotent by name: the
deployment worker derives the name from the order, so a retry after a crash finds the VM it
already paid for instead of creating a second one.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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

# The grid accepts workload names of [a-zA-Z0-9_]{1,50} (tfgrid-sdk-go v0.15.14 grid-client
# workloads/deployment.go validateName: "name cannot exceed 50 characters"). tfcmd also creates
# "<name>network" and "<name>disk" workloads (grid-cli internal/cmd/deploy.go, cmd/deploy_vm.go),
# so the deployment name itself must leave room for "network".
_NAME_RE = re.compile(r"^[a-zA-Z0-9_]+$")
MAX_NAME_LENGTH = 50 - len("network")
MAX_CPU = 32  # zos refuses more vCPUs than this for one VM


def validate_name(name: str) -> None:
    """Raise InvalidSpecError unless `name` is usable as a grid deployment name."""
    if not name:
        raise InvalidSpecError("deployment name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidSpecError(
            f"deployment name {name!r} is longer than {MAX_NAME_LENGTH} characters"
        )
    if not _NAME_RE.match(name):
        raise InvalidSpecError(
            f"deployment name {name!r} may only contain letters, digits and underscores"
        )


KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)


def check_public_key(key: str) -> str:
    """Return `key` stripped if it is one OpenSSH public key line; raise InvalidSpecError if not.

    The base64 body must decode and name the same key type as the line's first word, which is
    what `ssh-keygen -l` would check; a private key is refused outright.
    """
    line = key.strip()
    if not line or "\n" in line or "PRIVATE KEY" in line:
        raise InvalidSpecError("ssh_key must be one public key line such as 'ssh-ed25519 AAAA...'")
    parts = line.split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise InvalidSpecError(
            f"ssh_key must start with a key type ({', '.join(KEY_TYPES[:3])}, ...) and its key"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSpecError("ssh_key's key part is not valid base64") from None
    name = parts[0].encode()
    if len(blob) < 4 + len(name) or blob[4:4 + len(name)] != name or int.from_bytes(blob[:4], "big") != len(name):
        raise InvalidSpecError(f"ssh_key's key part does not hold a {parts[0]} key")
    return line


@dataclass(frozen=True)
class VmSpec:
    """What to deploy: sizes in whole GB, as tfcmd takes them."""

    cpu: int
    memory_gb: int
    rootfs_gb: int
    disk_gb: int
    ssh_key: str
    node_id: int | None = None
    farm_id: int | None = None

    def validate(self) -> None:
        """Raise InvalidSpecError if the grid would refuse this spec."""
        if not 1 <= self.cpu <= MAX_CPU:
            raise InvalidSpecError(f"cpu must be between 1 and {MAX_CPU}, got {self.cpu}")
        if self.memory_gb < 1:
            raise InvalidSpecError(f"memory_gb must be at least 1, got {self.memory_gb}")
        if self.rootfs_gb < 1:
            raise InvalidSpecError(f"rootfs_gb must be at least 1, got {self.rootfs_gb}")
        # zos: a VM with cpu * memory >= 8 GB needs a rootfs of at least 2 GB.
        if self.cpu * self.memory_gb >= 8 and self.rootfs_gb < 2:
            raise InvalidSpecError("rootfs_gb must be at least 2 for this cpu and memory")
        if self.disk_gb < 0:
            raise InvalidSpecError(f"disk_gb cannot be negative, got {self.disk_gb}")
        check_public_key(self.ssh_key)
        if self.node_id is not None and self.farm_id is not None:
            raise InvalidSpecError("node_id and farm_id cannot both be set")
        for label, value in (("node_id", self.node_id), ("farm_id", self.farm_id)):
            if value is not None and value < 1:
                raise InvalidSpecError(f"{label} must be a positive integer, got {value}")

    @property
    def memory_bytes(self) -> int:
        return self.memory_gb * 1024**3

    @property
    def storage_bytes(self) -> int:
        """SSD the VM needs: its root filesystem plus its data disk."""
        return (self.rootfs_gb + self.disk_gb) * 1024**3


@dataclass(frozen=True)
class Deployment:
    """A VM that lives on the grid under `name`, with the contract that bills for it."""

    name: str
    contract_id: int
    node_id: int
    mycelium_ip: str
    ipv4: str | None = None
    ipv6: str | None = None
    planetary_ip: str | None = None

    @property
    def ssh_command(self) -> str:
        return f"ssh root@{self.mycelium_ip}"

    @property
    def healthy(self) -> bool:
        """A live contract and a reachable address: what we promise the buyer."""
        return self.contract_id > 0 and bool(self.mycelium_ip)


@runtime_checkable
class Deployer(Protocol):
    """Deploys, looks up and cancels VMs on the grid, keyed by a deterministic name."""

    async def deploy(self, spec: VmSpec, name: str) -> Deployment:
        """Deploy `spec` as `name`, or return the healthy deployment already under that name.

        On failure nothing stays billed: contracts created by the failed attempt are cancelled.
        Raises TransientGridError (retry) or PermanentGridError (give up, refund).
        """
        ...

    async def get(self, name: str) -> Deployment | None:
        """Return the live deployment named `name`, or None if there is none."""
        ...

    async def cancel(self, name: str) -> None:
        """Cancel every contract of `name`; cancelling a missing deployment is not an error."""
        ...
