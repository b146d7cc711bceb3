"""Fixtures shared by every test folder: a ledger on a real SQLite file, a PostgreSQL server
for the suites that run on both stores, and the emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ledger import Ledger
from sandbox.stripe_api import StripeEmulator
from sandbox.telegram_api import TelegramEmulator

from .pg_cluster import fresh_database, session_server


class FakeClock:
    """A clock tests move by hand: `clock()` returns unix seconds, `advance(s)` moves it on."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "gridshop.db"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """A superuser's URL on the session's throwaway PostgreSQL server, started on first use;
    the test skips (or, with GRIDSHOP_REQUIRE_POSTGRES set, fails) without PostgreSQL."""
    yield from session_server()


@pytest.fixture
def pg_url(pg_cluster: str) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return fresh_database(pg_cluster)


@pytest.fixture
async def ledger(db_path: Path) -> AsyncIterator[Ledger]:
    """A ledger on a real SQLite file in a temporary folder, on the real clock."""
    opened = await Ledger.open(db_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramEmulator]:
    """The Bot API emulator with Telegram's rate limits on and a 10 s pre-checkout limit."""
    emulator = TelegramEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def stripe_emulator() -> AsyncIterator[StripeEmulator]:
    """The Stripe emulator with a short retry schedule; set `webhook_url` before paying."""
    emulator = StripeEmulator(retry_schedule=(0.05, 0.1, 0.2))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
