"""A new user buys a VM with Telegram Stars in the web chat and watches it become ready."""

from __future__ import annotations

from playwright.async_api import Page, expect

from bot.sandbox_cmd import Sandbox

from .conftest import screenshot


async def test_new_user_buys_a_vm_with_stars_and_sees_it_ready(sandbox: Sandbox, page: Page) -> None:
    await page.fill("#new-user", "Linus")
    await page.click("#add-user button")
    await expect(page.locator(".chat-item.active .name")).to_contain_text("Linus")
    await page.click("#start")
    await expect(page.locator(".msg.in").last).to_contain_text("Hi Linus!")
    await page.fill("#text", "/buy")
    await page.press("#text", "Enter")
    await page.locator(".keyboard button", has_text="Small VM").last.click()
    await page.locator(".keyboard button", has_text="Buy for 4.00 TFC").last.click()
    await page.locator(".keyboard button", has_text="Stars").last.click()
    invoice = page.locator(".msg.in .bubble.invoice").last
    await expect(invoice).to_contain_text("⭐")
    await page.locator(".msg.in").last.locator(".keyboard button").first.click()
    await page.click(".sheet .pay")
    await expect(page.locator(".service").last).to_contain_text("You paid ⭐")
    # The order message, edited in place from the pay buttons through paid, deploying, to ready.
    status = page.locator(".msg.in .bubble", has_text="Small VM #1")
    await expect(status).to_contain_text("Small VM #1 is ready.")
    await expect(status).to_contain_text("ssh root@")
    await expect(status).to_have_count(1)
    await screenshot(page, "buy-with-stars")

    # The bot's answer to a button press shows as a toast.
    await page.fill("#text", "/deployments")
    await page.press("#text", "Enter")
    await page.locator(".keyboard button", has_text="Small VM #1").last.click()
    await page.locator(".keyboard button", has_text="Auto-renew: off").last.click()
    await expect(page.locator(".toast")).to_have_text("Auto-renew is on.")
    await expect(page.locator(".keyboard button", has_text="Auto-renew: on").last).to_be_visible()
