"""Moving a shop from its SQLite file to PostgreSQL (`gridshop ledger migrate --to URL`).

Every table is read from the SQLite file in ONE snapshot and written into an empty PostgreSQL
database, brought to the same schema version, in ONE transaction (ids kept as they are; the
identity sequences then moved past them), so a failure halfway leaves the target as empty as
it was. The /stats roll-ups are not copied but rebuilt from the copied rows. Then the audit runs
on both (it checks the roll-ups too), and every account's balance and held amount, and every
table's row count, are compared: the copy is reported good only when all of them match.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import rollups
from .errors import InvalidRequest
from .ledger import Ledger
from .pg_store import display_url, is_postgres_url
from .store import Store

__all__ = ["CopyReport", "copy_to_postgres"]

_CHUNK = 5000


@dataclass
class CopyReport:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    source_audit: str = ""
    target_audit: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        total = sum(self.rows.values())
        verdict = "balances and audit match" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"copied {total} rows in {len(self.rows)} tables from {self.source} to "
                f"{self.target}: {verdict}")


def _tables(conn: sqlite3.Connection) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    # The /stats roll-ups are derived: rebuilt in the target from the rows copied (and checked
    # against them by the target's audit).
    names = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name") if name not in rollups.TABLES]
    out = {}
    for name in names:
        cursor = conn.execute(f'SELECT * FROM "{name}"')
        columns = [column[0] for column in cursor.description]
        out[name] = (columns, cursor.fetchall())
    return out


def _accounts(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in
            conn.execute("SELECT id, code, balance, held FROM accounts ORDER BY id").fetchall()]


def _counts(conn: sqlite3.Connection, tables: list[str]) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}


def _target_is_empty(conn: sqlite3.Connection) -> bool:
    # A fresh database holds only the system accounts the first migration creates.
    users = conn.execute("SELECT count(*) FROM accounts WHERE kind = 'user'").fetchone()[0]
    transfers = conn.execute("SELECT count(*) FROM transfers").fetchone()[0]
    return int(users) == 0 and int(transfers) == 0


def _write_all(conn: sqlite3.Connection, now: int,
               tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> None:
    if not _target_is_empty(conn):
        raise InvalidRequest("the PostgreSQL database already holds a shop: copy only into an "
                             "empty one")
    for name, (columns, rows) in tables.items():
        conn.execute(f"DELETE FROM {name}")  # the system accounts the migration created
        if not rows:
            continue
        insert = (f"INSERT INTO {name} ({', '.join(columns)}) "
                  f"VALUES ({', '.join('?' for _ in columns)})")
        for start in range(0, len(rows), _CHUNK):
            conn.executemany(insert, rows[start:start + _CHUNK])
    rollups.rebuild(conn)  # the rows' triggers summed them as they came, in no useful order
    # Ids were copied as they are: move each identity sequence past the largest one.
    for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall():
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"coalesce(max({column}), 0) + 1, false) FROM {table}")


async def copy_to_postgres(source: str | Path, url: str) -> CopyReport:
    """Copy the shop in the SQLite file `source` into the empty PostgreSQL database `url`."""
    if not is_postgres_url(url):
        raise InvalidRequest(f"--to must be a postgresql:// URL, not {url!r}")
    report = CopyReport(str(source), display_url(url))
    sqlite = Ledger(await Store(source).open())
    try:
        target = await Ledger.open(url)
        try:
            tables = await sqlite.read(_tables)
            # The transfers' immutability trigger guards UPDATE and DELETE, not this INSERT.
            await target.write(lambda conn, now: _write_all(conn, now, tables))
            await _compare(sqlite, target, list(tables), report)
        finally:
            await target.close()
    finally:
        await sqlite.close()
    return report


async def _compare(sqlite: Ledger, target: Ledger, tables: list[str], report: CopyReport) -> None:
    source_audit, target_audit = await sqlite.audit(), await target.audit()
    report.source_audit, report.target_audit = source_audit.summary(), target_audit.summary()
    if not source_audit.ok:
        report.problems += [f"source audit: {v}" for v in source_audit.violations]
    if not target_audit.ok:
        report.problems += [f"target audit: {v}" for v in target_audit.violations]
    source_counts = await sqlite.read(lambda conn: _counts(conn, tables))
    target_counts = await target.read(lambda conn: _counts(conn, tables))
    report.rows = source_counts
    for table in tables:
        if source_counts[table] != target_counts[table]:
            report.problems.append(f"{table}: {source_counts[table]} rows in the source, "
                                   f"{target_counts[table]} in the target")
    source_accounts = await sqlite.read(_accounts)
    target_accounts = {row[0]: row for row in await target.read(_accounts)}
    for row in source_accounts:
        copied = target_accounts.get(row[0])
        if copied != row:
            report.problems.append(f"account {row[0]} ({row[1]}): balance/held {row[2:]} in the "
                                   f"source, {copied[2:] if copied else 'missing'} in the target")
