"""The SQLite store: connections, pragmas, migrations and the single writer with group commit.

All writes go through one writer task. It takes every request queued since its last batch, runs
them in ONE `BEGIN IMMEDIATE` transaction on the connection's thread, each inside its own
SAVEPOINT (a refused request rolls back alone and does not sink the batch), commits, and only
then resolves the callers' futures. One fsync thus covers many requests (group commit), and a
caller never hears "done" for something that is not durable.

Reads use connections of their own: in WAL mode readers never wait for the writer, nor for each
other. Users' reads (balance, history, orders, pre-checkout) share READERS connections, each read
going to the least busy one; admin reads (audit, /stats, export) run on one more connection of
their own, so a long admin read never makes a user's read wait behind it.

The writer's queue holds at most MAX_QUEUED requests; a caller beyond it waits for room (the
queue cannot grow without end while the disk is slow).

Each connection is a plain `sqlite3` connection owned by its own one-thread executor; the event
loop reaches it with `loop.run_in_executor`, one hop per batch or per read.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeVar

from core.metrics import LEDGER_READ_WAIT_SECONDS, LEDGER_WRITE_SECONDS

from .dialect import SQLITE
from .errors import DatabaseRefused, StoreError
from .savepoint import savepoint
from .schema import migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
C = TypeVar("C", bound="Closable")
# A request to the writer: a function and the arguments it takes after the connection.
Op = tuple[Callable[..., Any], tuple[Any, ...]]
Queued = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]", float]  # + when asked

MAX_BATCH = 1000
MAX_QUEUED = 10_000  # requests waiting for the writer; more callers wait for room
READERS = 2  # connections for users' reads (admin reads have one more of their own)


def connect(path: str, busy_timeout_ms: int, synchronous: str) -> sqlite3.Connection:
    """A writer connection as the ledger uses it: autocommit (we issue BEGIN ourselves), WAL,
    the given `synchronous` level. Raises StoreError if the file cannot be put in WAL mode."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal" and path != ":memory:":
            raise StoreError(f"could not switch {path} to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = OFF")
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_reader(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA query_only = ON")
    return conn


class Closable(Protocol):
    def close(self) -> None: ...


class Conflict(sqlite3.OperationalError):
    """The database could not serialize this transaction with a concurrent one (PostgreSQL's
    40001, or a deadlock it broke): nothing of it was kept, and running it again may pass.
    SQLite, with its one writer, never raises it."""


class _Owned(Generic[C]):
    """One connection (sqlite3, or `ledger.pg_conn.PgConnection`) and the single thread it
    lives on.

    A whole transaction runs as ONE call on that thread (one hop, not one per statement), and no
    other thread ever touches the connection.
    """

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: C | None = None
        self.busy = 0  # calls queued or running on this connection

    async def open(self, connect: Callable[[], C]) -> None:
        self._conn = await asyncio.get_running_loop().run_in_executor(self._thread, connect)

    async def reopen(self, connect: Callable[[], C]) -> None:
        """Replace a connection the server dropped (PostgreSQL) by a new one."""
        conn, self._conn = self._conn, None
        loop = asyncio.get_running_loop()
        if conn is not None:
            await loop.run_in_executor(self._thread, conn.close)
        self._conn = await loop.run_in_executor(self._thread, connect)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            raise StoreError("the ledger store is closed")
        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn, self._conn, *args)
        finally:
            self.busy -= 1

    async def close(self) -> None:
        """Close the connection on its thread, then end the thread (nothing keeps it alive)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, conn.close)
        self._thread.shutdown(wait=True)


def _run_batch(conn: sqlite3.Connection, ops: list[Op],
               begin: str = SQLITE.begin_write) -> list[tuple[bool, Any]]:
    """Run `ops` in one transaction, a SAVEPOINT each; runs on the connection's thread.

    A Conflict ends the whole transaction (its caller runs the batch again)."""
    outcomes: list[tuple[bool, Any]] = []
    execute = conn.execute
    each = savepoint(conn, "op")  # one helper for the batch, entered once per request
    execute(begin)
    try:
        for fn, args in ops:
            try:
                with each:
                    result = fn(conn, *args)
            except Conflict:
                raise
            except Exception as exc:  # this request alone fails; the rest of the batch goes on
                outcomes.append((False, exc))
            else:
                outcomes.append((True, result))
        execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            execute("ROLLBACK")
        raise
    return outcomes


class GroupCommit:
    """The single writer both stores share: requests queue up, one task drains them in batches
    of up to `max_batch`, and `_run_ops` runs a batch as one transaction (a SAVEPOINT each).
    Callers' futures are resolved only after COMMIT.

    The queue is a deque of (op, future, asked) entries and the writer drains it whole (up to
    `max_batch`) when woken: per request, one append and one future, nothing else on the event
    loop."""

    max_batch = MAX_BATCH

    def __init__(self) -> None:
        self._queue: deque[Queued] = deque()
        self._wake: asyncio.Future[None] | None = None  # the idle writer waits on it
        self._room: deque[asyncio.Future[None]] = deque()  # callers waiting for room
        self._let_in_count = 0  # callers given room who have not queued their request yet
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches_committed = 0  # group-commit transactions so far (the benchmark reads it)

    @property
    def queued(self) -> int:
        """Requests waiting for the writer (at most MAX_QUEUED)."""
        return len(self._queue)

    async def open(self) -> Self:
        """Open the connections, apply migrations and start the writer.

        On failure nothing is left open: a connection's thread left behind would keep the
        process from exiting.
        """
        try:
            await self._open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def _run_ops(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        raise NotImplementedError

    def _start_writer(self) -> None:
        self._task = asyncio.create_task(self._write_loop(), name="ledger-writer")

    async def _stop_writer(self) -> None:
        """Finish the queued writes (and those waiting for room), then end the writer task."""
        self._closing = True
        if self._task is not None:
            self._wake_writer()
            await self._task
            self._task = None

    def _wake_writer(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def write(self, op: Callable[..., T], *args: Any) -> T:
        """Run `op(conn, *args)` in the next group-committed batch; return its result after
        COMMIT.

        `op` runs on the writer's thread inside a SAVEPOINT; an exception it raises rolls back
        its own changes only and is re-raised here.
        """
        if self._closing or self._task is None:
            raise StoreError("the ledger store is closed")
        asked = time.perf_counter()
        if self._room or len(self._queue) + self._let_in_count >= MAX_QUEUED:
            await self._wait_for_room()  # full: wait in line for room
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, args, future, asked))
        if self._wake is not None:
            self._wake_writer()
        return await future

    async def _wait_for_room(self) -> None:
        room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room.append(room)
        try:
            await room
        except BaseException:
            if room.done() and not room.cancelled():  # let in, but it will not take its place
                self._let_in_count -= 1
                self._let_in()
            elif room in self._room:
                self._room.remove(room)
            raise
        self._let_in_count -= 1  # its place is taken (the caller appends right after this)

    def _let_in(self) -> None:
        """Wake, first come first served, as many callers waiting for room as there is room for."""
        while self._room and len(self._queue) + self._let_in_count < MAX_QUEUED:
            room = self._room.popleft()
            if not room.done():
                room.set_result(None)
                self._let_in_count += 1

    async def _write_loop(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            if not queue:
                if self._room:
                    self._let_in()
                if self._closing and not self._room and not self._let_in_count:
                    return  # close() refuses new work, so nothing more can come
                self._wake = wake = loop.create_future()
                try:
                    await wake
                finally:
                    self._wake = None
                continue
            if len(queue) <= self.max_batch:
                batch = list(queue)
                queue.clear()
            else:
                batch = [queue.popleft() for _ in range(self.max_batch)]
            if self._room:
                self._let_in()
            await self._commit(batch)

    async def _commit(self, batch: list[Queued]) -> None:
        try:
            outcomes = await self._run_ops([(fn, args) for fn, args, _, _ in batch])
        except BaseException as exc:  # the whole transaction failed: nobody's write landed
            _observe_answered(batch)
            log.error("ledger batch of %d failed: %s", len(batch), exc)
            error = StoreError(f"database write failed: {exc}")
            for _, _, future, _ in batch:
                if not future.done():
                    future.set_exception(error)
            if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                raise
            return
        self.batches_committed += 1
        _observe_answered(batch)
        for (_, _, future, _), (ok, value) in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(_as_ledger_error(value))


def _observe_answered(batch: list[Queued]) -> None:
    """Each request's time from being asked to now (its COMMIT, or its batch's failure)."""
    now = time.perf_counter()
    LEDGER_WRITE_SECONDS.observe_many([now - asked for _, _, _, asked in batch])


class Store(GroupCommit):
    """Owns the database file: one writer connection (group commit), `readers` connections for
    users' reads and one for admin reads."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 5000, synchronous: str = "FULL",
                 readers: int = READERS):
        if readers < 1:
            raise ValueError(f"the store needs at least one reader connection, not {readers}")
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        super().__init__()
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous.upper()
        self._writer: _Owned[sqlite3.Connection] = _Owned("ledger-writer")
        self._readers: list[_Owned[sqlite3.Connection]] = [
            _Owned(f"ledger-reader-{n}") for n in range(readers)]
        self._admin_reader: _Owned[sqlite3.Connection] = _Owned("ledger-admin-reader")

    async def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        await self._writer.open(
            lambda: connect(self.path, self._busy_timeout_ms, self._synchronous))
        try:
            await self._writer.call(migrate)
        except RuntimeError as exc:  # a schema newer than this code
            raise StoreError(str(exc)) from None
        for reader in (*self._readers, self._admin_reader):
            await reader.open(lambda: _connect_reader(self.path, self._busy_timeout_ms))
        self._start_writer()

    async def close(self) -> None:
        """Finish the queued writes, then close the connections."""
        await self._stop_writer()
        for reader in (*self._readers, self._admin_reader):
            await reader.close()
        await self._writer.close()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one read snapshot on the least busy of the users' reader connections."""
        reader = min(self._readers, key=lambda r: r.busy)
        return await reader.call(_in_read_snapshot, fn, time.perf_counter())

    async def read_admin(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one read snapshot on the admin reader connection (audit, /stats,
        export): however long it takes, users' reads go on beside it."""
        return await self._admin_reader.call(_in_read_snapshot, fn, time.perf_counter())

    async def _run_ops(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        return await self._writer.call(_run_batch, ops)


# Refusals that a retry of the same request meets again: the operation is wrong, not the disk.
_REFUSALS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError,
             sqlite3.DataError, OverflowError)


def _as_ledger_error(exc: BaseException) -> BaseException:
    """What the caller of a refused request sees: our own errors and the caller's own bugs as
    they are; a constraint or a value SQLite cannot store as DatabaseRefused (a bug, logged
    loudly, never "retry later"); any other database failure (locked, I/O, full) as a
    StoreError, which may pass."""
    if isinstance(exc, _REFUSALS):
        log.error("ledger write refused by the database (a bug in the operation): %r", exc,
                  exc_info=exc)
        return DatabaseRefused(f"rejected by the database: {exc}")
    if isinstance(exc, sqlite3.Error):
        return StoreError(f"database write failed: {exc}")
    return exc


def _in_read_snapshot(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T],
                      asked: float) -> T:
    LEDGER_READ_WAIT_SECONDS.observe(time.perf_counter() - asked)
    conn.execute("BEGIN")
    try:
        return fn(conn)
    finally:
        conn.execute("COMMIT")
