"""What the two stores' databases do differently around the schema: how a write transaction
begins, and where the schema version lives (SQLite's `PRAGMA user_version`, a one-row table in
PostgreSQL, whose migrations also take an advisory lock so that instances starting together
migrate one after the other). The statements themselves are shared (`ledger.pg_sql`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POSTGRES", "SQLITE", "Dialect"]


@dataclass(frozen=True)
class Dialect:
    name: str
    begin_write: str
    # Run first in each migration's transaction (locks, the version table).
    migration_setup: tuple[str, ...]
    read_version: str
    write_version: tuple[str, ...]  # each formatted with {version}


SQLITE = Dialect(
    name="sqlite",
    begin_write="BEGIN IMMEDIATE",
    migration_setup=(),
    read_version="PRAGMA user_version",
    write_version=("PRAGMA user_version = {version}",),
)

# An arbitrary constant: the advisory lock key of "migrating the gridshop schema".
MIGRATION_LOCK = 0x67726964

POSTGRES = Dialect(
    name="postgresql",
    begin_write="BEGIN ISOLATION LEVEL SERIALIZABLE",
    migration_setup=(
        f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})",
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
    ),
    read_version="SELECT coalesce(max(version), 0) FROM schema_version",
    write_version=("DELETE FROM schema_version",
                   "INSERT INTO schema_version (version) VALUES ({version})"),
)
