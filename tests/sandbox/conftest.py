"""Fixtures of the Stripe emulator tests: a webhook receiver and an emulator delivering to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sandbox.stripe_api import StripeEmulator
from tests.sandbox.test_stripe_support import API_KEY, SECRET, Receiver

FAST = (0.02, 0.05, 0.1)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def emu(receiver: Receiver) -> AsyncIterator[StripeEmulator]:
    """The emulator delivering signed webhooks to `receiver` (a test module may override)."""
    e = StripeEmulator(receiver.url, SECRET, API_KEY, retry_schedule=FAST)
    await e.start()
    yield e
    await e.stop()
