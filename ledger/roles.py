"""Shop-wide roles: the jobs one instance at a time runs (the outbox sender, the periodic
reconciliations, long polling), and which instance holds each.

On PostgreSQL a role is a session advisory lock held by a connection of its own in the
instance (`PgRoles`). PostgreSQL releases it the moment that connection ends, whether the
process stopped, was killed or lost the network, so the role moves: another instance takes it
on its next try. The same connection holds the instance's own lock (`INSTANCE_LOCK_SPACE`,
`instance_id`): a deployment job claimed by an instance whose lock is gone may be claimed by
another at once (`ledger.deployments.claim_next`). On SQLite there is one instance (one process
owns the file): it holds every role it asks for (`LocalRoles`).
"""

from __future__ import annotations

import random
import sqlite3
import zlib
from functools import partial
from typing import Protocol

from .dialect import INSTANCE_LOCK_SPACE
from .pg_conn import PgConnection, connect
from .store import _Owned

__all__ = ["LocalRoles", "PgRoles", "RoleLocks", "role_key"]

# The first half of every role's advisory lock key: "gridshop roles".
ROLE_LOCK_SPACE = 0x67726F6C


def role_key(role: str) -> int:
    """A role's advisory lock key (the second half), stable across processes and versions."""
    return zlib.crc32(role.encode()) & 0x7FFFFFFF


class RoleLocks(Protocol):
    @property
    def instance_id(self) -> int | None:
        """This instance's id among those sharing the database (None: the only one)."""
        ...

    async def start(self) -> None:
        """Announce this instance (take its own lock) before it claims any job."""
        ...

    async def try_take(self, role: str) -> bool:
        """Take the role if no instance holds it; True if this instance holds it now."""
        ...

    async def still_held(self, role: str) -> bool:
        """Whether this instance still holds the role (False once its lock was lost)."""
        ...

    async def give_up(self, role: str) -> None: ...

    async def close(self) -> None: ...


class LocalRoles:
    """One instance on one SQLite file: every role is this instance's."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    @property
    def instance_id(self) -> int | None:
        return None

    async def start(self) -> None:
        pass

    async def try_take(self, role: str) -> bool:
        self._held.add(role)
        return True

    async def still_held(self, role: str) -> bool:
        return role in self._held

    async def give_up(self, role: str) -> None:
        self._held.discard(role)

    async def close(self) -> None:
        self._held.clear()


def _take(conn: PgConnection, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(?, ?)", (ROLE_LOCK_SPACE, key)).fetchone()
    return bool(row and row[0])


def _held(conn: PgConnection, key: int) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND pid = pg_backend_pid() AND classid = ? AND objid = ? AND objsubid = 2",
        (ROLE_LOCK_SPACE, key)).fetchone()
    return bool(row and row[0])


def _take_instance(conn: PgConnection, instance_id: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(?, ?)",
                       (INSTANCE_LOCK_SPACE, instance_id)).fetchone()
    return bool(row and row[0])


def _release(conn: PgConnection, key: int) -> None:
    conn.execute("SELECT pg_advisory_unlock(?, ?)", (ROLE_LOCK_SPACE, key))


class PgRoles:
    """Roles as session advisory locks on one connection of this instance."""

    def __init__(self, url: str) -> None:
        self._connect = partial(connect, url)
        self._conn: _Owned[PgConnection] | None = None
        self._instance_id = random.randrange(1, 2**31)

    @property
    def instance_id(self) -> int:
        return self._instance_id

    async def start(self) -> None:
        await self._call(partial(_held, key=0))

    async def _call(self, fn: partial[bool] | partial[None]) -> bool | None:
        try:
            if self._conn is None:
                self._conn = _Owned("ledger-pg-roles")
                await self._conn.open(self._connect)
                # Our instance lock first (another id if this one is somehow taken).
                while not await self._conn.call(partial(_take_instance,
                                                        instance_id=self._instance_id)):
                    self._instance_id = random.randrange(1, 2**31)
            return await self._conn.call(fn)
        except sqlite3.OperationalError:
            if self._conn is None:
                raise
            # The connection is gone, and every lock it held with it: start afresh next time.
            conn, self._conn = self._conn, None
            await conn.close()
            raise

    async def _ask(self, fn: partial[bool] | partial[None], *, connect: bool) -> bool:
        """`fn`'s answer; False when the connection is gone (and, unless `connect`, when
        there is none: a lock of a connection that ended is not held)."""
        if self._conn is None and not connect:
            return False
        try:
            return bool(await self._call(fn))
        except sqlite3.OperationalError:
            return False

    async def try_take(self, role: str) -> bool:
        return await self._ask(partial(_take, key=role_key(role)), connect=True)

    async def still_held(self, role: str) -> bool:
        return await self._ask(partial(_held, key=role_key(role)), connect=False)

    async def give_up(self, role: str) -> None:
        await self._ask(partial(_release, key=role_key(role)), connect=False)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
