"""The sandbox in a real browser: `gridshop sandbox` started in-process (the real shop against
the emulators), and Debian's Chromium driven by Playwright. Skipped, with the reason, only when
Chromium or Playwright is missing (`.ci/run` installs both)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox_cmd import Sandbox

CHROMIUM = Path(os.environ.get("GRIDSHOP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-screenshots"

if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
playwright = pytest.importorskip("playwright.async_api", reason="browser tests need the playwright package")
playwright.expect.set_options(timeout=20_000)  # a deployment, a webhook: seconds, under load more


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    box = Sandbox(tmp_path, port=0)
    await box.start()
    try:
        yield box
    finally:
        await box.stop()


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[playwright.Page]:
    async with playwright.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = await browser.new_page(viewport={"width": 1440, "height": 900})
            tab.set_default_timeout(20_000)
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            await tab.goto(sandbox.url)
            yield tab
            assert errors == [], f"the page's JavaScript failed: {errors}"
        finally:
            await browser.close()


async def screenshot(page: playwright.Page, name: str) -> Path:
    """Save the page as test-screenshots/<name>.png (the README shows copies in docs/img/)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
