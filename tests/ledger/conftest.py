"""The ledger suites run against both stores: `db_path` is a SQLite file's path, or the URL of
a fresh database on the session's throwaway PostgreSQL cluster (tests/pg_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import STORES


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_path(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where the test's ledger lives: a SQLite file, or a new PostgreSQL database's URL."""
    if store_kind == "sqlite":
        return tmp_path / "gridshop.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """For the tests of what only the SQLite store has (its file, WAL, pragmas)."""
    return tmp_path / "gridshop.db"
