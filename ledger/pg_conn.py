"""A PostgreSQL connection (asyncpg) in the shape the ledger's operations are written against.

The operations are plain functions over a DB-API connection (`conn.execute(sql, params)` and
a cursor's `fetchone`, `fetchall`, `rowcount`), run as one call on the connection's own thread
(`ledger.store._Owned`). `PgConnection` gives them that shape over asyncpg: the connection
lives on a private event loop of that thread, and each statement is run to completion on it,
so an operation is one thread hop however many statements it runs, as with SQLite.

Statements go through `ledger.pg_sql.to_postgres` and are prepared once per connection.
Database errors are raised as the DB-API classes the stores already sort
(`sqlite3.IntegrityError`, `DataError`, `ProgrammingError`: a refusal; `OperationalError`: a
passing failure), and a serialization failure or deadlock as `Conflict`, which the writer
answers by running the batch again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg

from .dialect import POSTGRES
from .pg_sql import returns_rows, to_postgres
from .store import Conflict

__all__ = ["PgConnection", "PgCursor", "connect"]

T = TypeVar("T")

_MAX_PREPARED = 1000


class PgCursor:
    """The rows (as tuples) and the row count of one statement."""

    __slots__ = ("_rows", "_next", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple[Any, ...]]:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())


def _count(status: str) -> int:
    """The row count of a command tag ('UPDATE 3', 'INSERT 0 1'); -1 when it has none."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


def _numeric(text: str) -> int | Decimal:
    # sum() over BIGINT is NUMERIC in PostgreSQL; the ledger's sums are whole minor units.
    return int(text) if text.lstrip("-").isdigit() else Decimal(text)


def _as_dbapi_error(exc: BaseException) -> BaseException:
    if isinstance(exc, (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
        return Conflict(str(exc))
    if isinstance(exc, (asyncpg.IntegrityConstraintViolationError, asyncpg.RaiseError)):
        return sqlite3.IntegrityError(str(exc))
    if isinstance(exc, (asyncpg.DataError, OverflowError, ValueError, TypeError)):
        return sqlite3.DataError(str(exc))
    if isinstance(exc, (asyncpg.SyntaxOrAccessError, asyncpg.ReadOnlySQLTransactionError)):
        return sqlite3.ProgrammingError(str(exc))
    return sqlite3.OperationalError(f"{type(exc).__name__}: {exc}")


class PgConnection:
    """One asyncpg connection, driven synchronously from the thread that owns its loop."""

    dialect = POSTGRES

    def __init__(self, loop: asyncio.AbstractEventLoop, raw: asyncpg.Connection) -> None:
        self._loop = loop
        self._raw = raw
        self._prepared: dict[str, Any] = {}

    def _run(self, awaitable: Any) -> Any:
        try:
            return self._loop.run_until_complete(awaitable)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, OverflowError,
                ValueError, TypeError) as exc:
            raise _as_dbapi_error(exc) from exc

    @property
    def closed(self) -> bool:
        return bool(self._raw.is_closed())

    @property
    def in_transaction(self) -> bool:
        return not self._raw.is_closed() and bool(self._raw.is_in_transaction())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Run one statement (several for parameterless DDL) and return its rows and count."""
        query = to_postgres(sql)
        if not params and not returns_rows(query):
            return PgCursor([], _count(self._run(self._raw.execute(query))))
        statement = self._statement(query)
        try:
            rows = self._run(statement.fetch(*params))
        except sqlite3.OperationalError:
            self._prepared.pop(query, None)  # e.g. its plan went stale after a migration
            raise
        return PgCursor([tuple(row) for row in rows], _count(statement.get_statusmsg() or ""))

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> PgCursor:
        self._run(self._raw.executemany(to_postgres(sql), [tuple(p) for p in seq]))
        return PgCursor([], -1)

    def _statement(self, query: str) -> Any:
        statement = self._prepared.get(query)
        if statement is None:
            if len(self._prepared) >= _MAX_PREPARED:
                self._prepared.clear()
            statement = self._prepared[query] = self._run(self._raw.prepare(query))
        return statement

    def forget_statements(self) -> None:
        """Drop the prepared statements (after the schema changed under them)."""
        self._prepared.clear()

    def close(self) -> None:
        try:
            if not self._raw.is_closed():
                self._loop.run_until_complete(self._raw.close(timeout=5))
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            self._raw.terminate()
        finally:
            self._loop.close()


def connect(url: str, *, timeout_s: float = 10.0) -> PgConnection:
    """Open a connection to `url` on a new private loop (call it on the thread that owns it)."""
    loop = asyncio.new_event_loop()
    try:
        raw = loop.run_until_complete(_open(url, timeout_s))
    except BaseException as exc:
        loop.close()
        if isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError,
                            asyncio.TimeoutError)):
            raise sqlite3.OperationalError(f"cannot connect to PostgreSQL: {exc}") from None
        raise
    return PgConnection(loop, raw)


async def _open(url: str, timeout_s: float) -> asyncpg.Connection:
    raw = await asyncpg.connect(url, timeout=timeout_s, statement_cache_size=0)
    await raw.set_type_codec("numeric", encoder=str, decoder=_numeric, schema="pg_catalog",
                             format="text")
    return raw
