"""`gridshop stripe setup` against the Stripe emulator through the real SDK: the endpoint is
registered with exactly the events the shop handles and the SDK's API version, its signing
secret printed once; run again, it is updated, not duplicated, and no secret is shown."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import stripe

from bot.cli import main
from ledger.stripe_events import HANDLED_EVENTS
from sandbox.stripe_api import StripeEmulator

URL = "https://shop.example/webhooks/stripe"


def config_for(tmp_path: Path, api_base: str) -> Path:
    path = tmp_path / "gridshop.toml"
    path.write_text(f'[database]\npath = "shop.db"\n[stripe]\napi_base = "{api_base}"\n')
    return path


async def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await asyncio.to_thread(main, list(argv), out)  # main runs its own event loop
    return code, out.getvalue()


async def test_setup_creates_then_updates_the_endpoint(
        tmp_path: Path, stripe_emulator: StripeEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_SECRET_KEY", stripe_emulator.api_key)
    config = str(config_for(tmp_path, stripe_emulator.base_url))
    code, text = await run_cli("--config", config, "stripe", "setup", "--url", URL)
    assert code == 0, text
    [endpoint] = stripe_emulator.webhook_endpoints.endpoints.values()
    assert endpoint["url"] == URL and endpoint["api_version"] == stripe.api_version
    assert sorted(endpoint["enabled_events"]) == sorted(HANDLED_EVENTS)
    secret = next(line for line in text.splitlines() if line.startswith("whsec_"))
    assert "created" in text and stripe_emulator.api_key not in text

    stripe_emulator.webhook_endpoints.endpoints[endpoint["id"]]["enabled_events"] = ["charge.refunded"]
    code, again = await run_cli("--config", config, "stripe", "setup", "--url", URL)
    assert code == 0 and "updated" in again and "whsec_" not in again and secret not in again
    [endpoint] = stripe_emulator.webhook_endpoints.endpoints.values()
    assert sorted(endpoint["enabled_events"]) == sorted(HANDLED_EVENTS)


async def test_setup_refuses_a_plain_http_url_and_a_missing_key(
        tmp_path: Path, stripe_emulator: StripeEmulator, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = str(config_for(tmp_path, stripe_emulator.base_url))
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    code, _ = await run_cli("--config", config, "stripe", "setup", "--url", URL)
    assert code == 2 and "STRIPE_SECRET_KEY" in capsys.readouterr().err
    monkeypatch.setenv("STRIPE_SECRET_KEY", stripe_emulator.api_key)
    code, _ = await run_cli("--config", config, "stripe", "setup", "--url",
                            "http://shop.example/webhooks/stripe")
    assert code == 2 and "https" in capsys.readouterr().err
    assert stripe_emulator.webhook_endpoints.endpoints == {}
