"""Nested savepoints: a step of a write that may be refused without undoing the rest.

`with savepoint(conn, "buy_now"): ...` runs the block inside `SAVEPOINT buy_now`; if the block
raises, everything it did is rolled back (and the savepoint released) before the exception goes
on, so the caller can catch it and carry on with the rest of its transaction. The group-commit
writer runs each request in one too (`ledger.store`), so a refused request sinks no batch; it
makes one `savepoint` per batch and enters it for each request in turn (an instance may be
entered again once its block has ended, never while it is open).
"""

from __future__ import annotations

import sqlite3
from types import TracebackType

__all__ = ["savepoint"]


class savepoint:  # noqa: N801  # used as a statement, like contextlib's helpers
    """`SAVEPOINT <name>` around a block: RELEASE on success, ROLLBACK TO + RELEASE on error."""

    __slots__ = ("_execute", "_release", "_rollback", "_start")

    def __init__(self, conn: sqlite3.Connection, name: str = "step") -> None:
        if not name.isidentifier():
            raise ValueError(f"a savepoint name must be an identifier, not {name!r}")
        self._execute = conn.execute
        self._start = f"SAVEPOINT {name}"
        self._rollback = f"ROLLBACK TO {name}"
        self._release = f"RELEASE {name}"

    def __enter__(self) -> None:
        self._execute(self._start)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._execute(self._rollback)
        self._execute(self._release)
