"""The simulated grid: the real grid's behaviour in miniature, with no wallet.

Deploys take `latency_s`, fail at `failure_rate` with the grid's own kinds of failure, and
create numbered contracts whose state lives in a SQLite file of their own, so a restart (or a
SIGKILL in the middle of a deploy) sees exactly what the real chain would still hold.

Failures are drawn from a hash of (seed, name, attempt number), so the outcome of the n-th
attempt at a name does not depend on what other deployments ran before it.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from core.locks import NameLocks
from grid.deployer import Deployment, VmSpec, validate_name
from grid.errors import NoCapacityError, TransientGridError

T = TypeVar("T")

FAILURE_KINDS = ("no_capacity", "timeout", "node_down")
FIRST_CONTRACT_ID = 100_000
_LIVE = ("deploying", "ok")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS contracts (
    contract_id   INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    node_id       INTEGER NOT NULL,
    cpu           INTEGER NOT NULL,
    memory_gb     INTEGER NOT NULL,
    rootfs_gb     INTEGER NOT NULL,
    disk_gb       INTEGER NOT NULL,
    mycelium_ip   TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('deploying', 'ok', 'cancelled')),
    created_at    REAL    NOT NULL,
    ready_at      REAL    NOT NULL,
    cancelled_at  REAL,
    cancel_reason TEXT
);
CREATE INDEX IF NOT EXISTS contracts_by_name ON contracts (name, state);
CREATE TABLE IF NOT EXISTS attempts (
    name  TEXT    PRIMARY KEY,
    count INTEGER NOT NULL
);
"""


class SimulatedGrid:
    """A `Deployer` backed by a local SQLite file instead of the ThreeFold chain."""

    def __init__(
        self,
        path: str,
        latency_s: float = 3.0,
        failure_rate: float = 0.0,
        failure_kinds: Iterable[str] = FAILURE_KINDS,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        kinds = tuple(failure_kinds)
        unknown = [k for k in kinds if k not in FAILURE_KINDS]
        if unknown:
            raise ValueError(f"unknown failure kinds {unknown}; known: {FAILURE_KINDS}")
        if not kinds and failure_rate > 0:
            raise ValueError("failure_rate > 0 needs at least one failure kind")
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within [0, 1], got {failure_rate}")
        if latency_s < 0:
            raise ValueError(f"latency_s cannot be negative, got {latency_s}")
        self.path = path
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.failure_kinds = kinds
        self.seed = seed
        self._clock = clock
        self._locks = NameLocks()
        self._init_db()

    # -- Deployer --------------------------------------------------------------------------

    async def deploy(self, spec: VmSpec, name: str) -> Deployment:
        validate_name(name)
        spec.validate()
        async with self._locks.hold(name):
            existing = await self._run(self._live_row, name)
            if existing is not None:
                return await self._finish_existing(existing)

            attempt = await self._run(self._next_attempt, name)
            rng = self._rng(name, attempt)
            failure = self._draw_failure(rng)
            node_id = spec.node_id or rng.randint(1, 9999)

            if failure in ("no_capacity", "node_down"):
                # The real grid finds these out before any contract is created.
                await asyncio.sleep(self.latency_s * 0.1)
                raise self._precontract_error(failure, spec, node_id)

            row, created = await self._run(self._create_contract, name, spec, node_id, rng)
            if not created:  # another process claimed the name between our read and write
                return await self._finish_existing(row)
            await asyncio.sleep(self.latency_s)

            if failure == "timeout":
                contract_id = row["contract_id"]
                await self._run(self._cancel_contracts, name, "deploy timed out")
                raise TransientGridError(
                    f"failed to deploy vm on node {node_id}: error waiting deployment: "
                    f"waiting for deployment {contract_id} timed out"
                )
            await self._run(self._mark_ok, row["contract_id"])
            return _to_deployment(row)

    async def get(self, name: str) -> Deployment | None:
        row = await self._run(self._live_row, name)
        if row is None:
            return None
        if row["state"] == "deploying" and self._clock() < row["ready_at"]:
            return None  # still being deployed: nothing reachable yet
        return _to_deployment(row)

    async def cancel(self, name: str) -> None:
        await asyncio.sleep(self.latency_s * 0.1)
        await self._run(self._cancel_contracts, name, "cancelled")

    async def aclose(self) -> None:
        """Nothing to release: every call opens and closes its own SQLite connection."""

    # -- hooks for tests and admin tools ---------------------------------------------------

    async def contracts_created(self, name: str) -> int:
        """How many contracts were ever created for `name`, cancelled ones included."""
        return await self._run(self._count, name, None)

    async def live_contracts(self, name: str) -> int:
        """How many contracts for `name` are live now (deploying or ok): at most one."""
        return await self._run(self._count, name, _LIVE)

    async def attempts(self, name: str) -> int:
        """How many deploy attempts drew an outcome for `name` (reuse of a live one excluded)."""
        return await self._run(self._attempts, name)

    # -- internals -------------------------------------------------------------------------

    async def _finish_existing(self, row: dict[str, Any]) -> Deployment:
        """Return a live contract found for the name, waiting out its deploy if still running.

        This is the crash path: the node keeps deploying after the client died, so the
        contract left in 'deploying' becomes a working VM by itself.
        """
        if row["state"] == "deploying":
            remaining = min(max(row["ready_at"] - self._clock(), 0.0), self.latency_s)
            await asyncio.sleep(remaining)
            await self._run(self._mark_ok, row["contract_id"])
        return _to_deployment(row)

    def _rng(self, name: str, attempt: int) -> random.Random:
        if self.seed is None:
            return random.Random()
        digest = hashlib.sha256(f"{self.seed}:{name}:{attempt}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def _draw_failure(self, rng: random.Random) -> str | None:
        roll = rng.random()
        kind = rng.choice(self.failure_kinds) if self.failure_kinds else None
        return kind if roll < self.failure_rate else None

    def _precontract_error(self, failure: str, spec: VmSpec, node_id: int) -> Exception:
        if failure == "no_capacity":
            free_mru = spec.memory_bytes // 2
            free_sru = spec.storage_bytes // 2
            return NoCapacityError(
                f"failed to deploy vm on node {node_id}: node {node_id} does not have enough "
                f"resources. needed: [mru: {spec.memory_bytes}, sru: {spec.storage_bytes}, "
                f"hru: 0], free: [mru: {free_mru}, sru: {free_sru}, hru: 0]"
            )
        return TransientGridError(
            f"failed to deploy network on node {node_id}: failed to get node client: "
            f"could not reach node {node_id}: context deadline exceeded"
        )

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _init_db(self) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        finally:
            conn.close()

    def _live_row(self, name: str) -> dict[str, Any] | None:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT * FROM contracts WHERE name = ? AND state IN ('deploying', 'ok') "
                "ORDER BY contract_id DESC LIMIT 1",
                (name,),
            ).fetchone()
            return dict(row) if row else None
        finally:
            conn.close()

    def _next_attempt(self, name: str) -> int:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO attempts (name, count) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET count = count + 1",
                (name,),
            )
            (count,) = conn.execute("SELECT count FROM attempts WHERE name = ?", (name,)).fetchone()
            conn.execute("COMMIT")
            return int(count)
        finally:
            conn.close()

    def _create_contract(
        self, name: str, spec: VmSpec, node_id: int, rng: random.Random
    ) -> tuple[dict[str, Any], bool]:
        """Insert a 'deploying' contract unless the name already has a live one (atomic)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            live = conn.execute(
                "SELECT * FROM contracts WHERE name = ? AND state IN ('deploying', 'ok')", (name,)
            ).fetchone()
            if live is not None:
                conn.execute("ROLLBACK")
                return dict(live), False
            (last,) = conn.execute("SELECT MAX(contract_id) FROM contracts").fetchone()
            contract_id = (last or FIRST_CONTRACT_ID - 1) + 1
            now = self._clock()
            conn.execute(
                "INSERT INTO contracts (contract_id, name, node_id, cpu, memory_gb, rootfs_gb,"
                " disk_gb, mycelium_ip, state, created_at, ready_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'deploying', ?, ?)",
                (
                    contract_id, name, node_id, spec.cpu, spec.memory_gb, spec.rootfs_gb,
                    spec.disk_gb, _mycelium_ip(rng), now, now + self.latency_s,
                ),
            )
            row = conn.execute(
                "SELECT * FROM contracts WHERE contract_id = ?", (contract_id,)
            ).fetchone()
            conn.execute("COMMIT")
            return dict(row), True
        finally:
            conn.close()

    def _mark_ok(self, contract_id: int) -> None:
        conn = self._connect()
        try:
            conn.execute(
                "UPDATE contracts SET state = 'ok' WHERE contract_id = ? AND state = 'deploying'",
                (contract_id,),
            )
        finally:
            conn.close()

    def _cancel_contracts(self, name: str, reason: str) -> None:
        conn = self._connect()
        try:
            conn.execute(
                "UPDATE contracts SET state = 'cancelled', cancelled_at = ?, cancel_reason = ?"
                " WHERE name = ? AND state IN ('deploying', 'ok')",
                (self._clock(), reason, name),
            )
        finally:
            conn.close()

    def _count(self, name: str, states: tuple[str, ...] | None) -> int:
        conn = self._connect()
        try:
            params: tuple[str, ...]
            if states is None:
                sql, params = "SELECT COUNT(*) FROM contracts WHERE name = ?", (name,)
            else:
                marks = ", ".join("?" for _ in states)
                sql = f"SELECT COUNT(*) FROM contracts WHERE name = ? AND state IN ({marks})"
                params = (name, *states)
            (count,) = conn.execute(sql, params).fetchone()
            return int(count)
        finally:
            conn.close()

    def _attempts(self, name: str) -> int:
        conn = self._connect()
        try:
            row = conn.execute("SELECT count FROM attempts WHERE name = ?", (name,)).fetchone()
            return int(row[0]) if row else 0
        finally:
            conn.close()


def _mycelium_ip(rng: random.Random) -> str:
    """An address in mycelium's 400::/7 range, shaped like the ones tfcmd reports."""
    groups = [f"{rng.randint(0x400, 0x5ff):x}"] + [f"{rng.getrandbits(16):x}" for _ in range(7)]
    return ":".join(groups)


def _to_deployment(row: dict[str, Any]) -> Deployment:
    return Deployment(
        name=row["name"],
        contract_id=row["contract_id"],
        node_id=row["node_id"],
        mycelium_ip=row["mycelium_ip"],
    )
