"""The PostgreSQL store: the same group-committing writer as the SQLite store, over asyncpg.

Chosen by `[database] url = "postgresql://..."`. One writer connection per process runs each
batch of requests in ONE `SERIALIZABLE` transaction, a SAVEPOINT each, and resolves the
callers only after COMMIT, exactly as the SQLite store does. Several processes may share the
database: PostgreSQL's serializable isolation makes their transactions behave as if run one
after the other, and a batch it cannot serialize (40001) or a deadlock (40P01) is rolled back
and run again whole, after a short random pause. The no-overdraft rule is the same `UPDATE ...
WHERE balance - held >= amount`, the idempotency keys the same UNIQUE constraints.

Reads use a small pool of reader connections, each read one `REPEATABLE READ READ ONLY`
transaction (one snapshot). Every connection lives on its own thread with a private event
loop (`ledger.pg_conn`), so the operations are the very functions the SQLite store runs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from core.metrics import LEDGER_READ_WAIT_SECONDS

from . import store as sqlite_store
from .dialect import POSTGRES
from .errors import StoreError
from .pg_conn import PgConnection, connect
from .roles import PgRoles
from .schema import migrate
from .store import Conflict, GroupCommit, Op, _Owned

log = logging.getLogger(__name__)

T = TypeVar("T")

READERS = 4
# A batch that keeps meeting conflicts is tried this many times, then refused as a passing
# failure (StoreError: "retry later"), never as a refusal.
MAX_ATTEMPTS = 12
# The advisory lock a batch's retry holds (see _run_batch_retrying).
WRITERS_LOCK = 0x67777269
# Smaller batches than SQLite's: between processes a big batch conflicts more often.
MAX_BATCH = 200


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def display_url(url: str) -> str:
    """The URL without any password in it, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _run_batch_retrying(conn: PgConnection, ops: list[Op]) -> list[tuple[bool, Any]]:
    """Run the batch in one serializable transaction, again whole after a conflict.

    A first attempt holds the writers' lock shared, so the instances' batches run side by side.
    Batches of many requests on the same hot accounts would conflict again and again if
    retried side by side, so a retry holds it exclusive: it runs alone, while the others' next
    batches wait (PostgreSQL queues them behind it), and passes. The lock is a session
    advisory lock taken before BEGIN, so the transaction's snapshot is taken after the wait.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        mode = "" if attempt > 1 else "_shared"
        try:
            conn.execute(f"SELECT pg_advisory_lock{mode}({WRITERS_LOCK})")
            # Looked up at call time: the same function (and test hook) as the SQLite store's.
            return sqlite_store._run_batch(conn, ops, POSTGRES.begin_write)  # type: ignore[arg-type]
        except Conflict as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if attempt == MAX_ATTEMPTS:
                raise Conflict(f"gave up after {attempt} conflicting attempts: {exc}") from None
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        finally:
            if not conn.closed:
                conn.execute(f"SELECT pg_advisory_unlock{mode}({WRITERS_LOCK})")
    raise AssertionError("unreachable")


def _in_read_snapshot(conn: PgConnection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        result = fn(conn)  # type: ignore[arg-type]
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _migrate(conn: PgConnection) -> int:
    version = migrate(conn, POSTGRES)  # type: ignore[arg-type]
    conn.forget_statements()
    return version


class PgStore(GroupCommit):
    """One PostgreSQL database: a writer connection (group commit) and a pool of readers."""

    max_batch = MAX_BATCH

    def __init__(self, url: str, *, readers: int = READERS, connect_timeout_s: float = 10.0):
        if not is_postgres_url(url):
            raise ValueError("a PostgreSQL store needs a postgresql:// URL")
        super().__init__()
        self._url = url
        self.path = display_url(url)
        self._connect = partial(connect, url, timeout_s=connect_timeout_s)
        self._writer: _Owned[PgConnection] = _Owned("ledger-pg-writer")
        self._readers: list[_Owned[PgConnection]] = [
            _Owned(f"ledger-pg-reader-{n}") for n in range(readers)]
        self._idle: asyncio.Queue[_Owned[PgConnection]] = asyncio.Queue()
        self._writer_broken = False

    async def _open(self) -> None:
        try:
            await self._writer.open(self._connect)
            await self._writer.call(_migrate)
            for reader in self._readers:
                await reader.open(self._connect)
                self._idle.put_nowait(reader)
        except RuntimeError as exc:  # a schema newer than this code
            raise StoreError(str(exc)) from None
        except sqlite3.Error as exc:
            raise StoreError(f"PostgreSQL at {self.path}: {exc}") from None
        self._start_writer()

    async def close(self) -> None:
        """Finish the queued writes, then close every connection."""
        await self._stop_writer()
        for reader in self._readers:
            await reader.close()
        await self._writer.close()

    def role_locks(self) -> PgRoles:
        """A new hold on the shop-wide roles, on a connection of its own (`ledger.roles`)."""
        return PgRoles(self._url)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one read-only snapshot on an idle reader connection."""
        if self._task is None:
            raise StoreError("the ledger store is closed")
        asked = time.perf_counter()
        reader = await self._idle.get()
        LEDGER_READ_WAIT_SECONDS.observe(time.perf_counter() - asked)
        try:
            return await reader.call(_in_read_snapshot, fn)
        except sqlite3.OperationalError:
            if await reader.call(lambda conn: conn.closed):
                await reader.reopen(self._connect)
            raise
        finally:
            self._idle.put_nowait(reader)

    async def read_admin(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """An admin read (audit, /stats, export): on the same pool as users' reads; PostgreSQL's
        readers do not block one another, and the pool has room beside a long one."""
        return await self.read(fn)

    async def _run_ops(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        if self._writer_broken:  # the last batch lost its connection: a new one first
            await self._writer.reopen(self._connect)
            self._writer_broken = False
        try:
            return await self._writer.call(_run_batch_retrying, ops)
        except sqlite3.OperationalError:
            self._writer_broken = await self._writer.call(lambda conn: conn.closed)
            raise
