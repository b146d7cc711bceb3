"""Through the web chat: a top-up paid on the emulated Stripe Checkout page, a declined test
card, and an admin's /stats with its chart."""

from __future__ import annotations

from playwright.async_api import FrameLocator, Page, expect

from bot.sandbox_cmd import Sandbox
from bot.sandbox_config import BUYER_ID

from .conftest import screenshot


async def open_checkout(page: Page, amount: str) -> FrameLocator:
    """As Ada: /topup, a preset amount, Pay with Stripe, open the checkout link."""
    await page.click("#start")
    await expect(page.locator(".msg.in").last).to_contain_text("Hi Ada!")
    await page.fill("#text", "/topup")
    await page.press("#text", "Enter")
    await page.locator(".keyboard button", has_text=amount).last.click()
    await page.locator(".keyboard button", has_text="Pay with Stripe").last.click()
    await page.locator(".keyboard button", has_text="Open secure checkout").last.click()
    checkout = page.frame_locator(".browser iframe")
    await expect(checkout.locator(".amount")).to_contain_text("$10.00")
    return checkout


async def pay_card(checkout: FrameLocator, number: str) -> None:
    await checkout.locator("#email").fill("ada@example.com")
    await checkout.locator("#number").fill(number)
    await checkout.locator("#expiry").fill("12 / 34")
    await checkout.locator("#cvc").fill("123")
    await checkout.locator("#submit").click()


async def test_top_up_through_the_stripe_checkout_page(sandbox: Sandbox, page: Page) -> None:
    checkout = await open_checkout(page, "10.00 TFC")
    await pay_card(checkout, "4242 4242 4242 4242")
    await expect(checkout.locator("#outcome")).to_have_text("Payment successful")
    # The Checkout page returns to the bot (t.me/<bot>?start=paid_<order>): the chat sends /start.
    await expect(page.locator(".browser")).to_have_count(0)
    await expect(page.locator(".msg.out").last).to_contain_text("/start paid_")
    await expect(page.locator(".msg.in", has_text="paid with 10.00 TFC by card (Stripe)")).to_be_visible()
    await expect(page.locator(".msg.in").last).to_contain_text("10.00 TFC · paid")
    await expect(page.locator("#stripe-payments .tag.succeeded")).to_have_count(1)
    await expect(page.locator("#accounts")).to_contain_text("10.00 TFC")
    await screenshot(page, "stripe-top-up")


async def test_declined_card_is_refused_and_credits_nothing(sandbox: Sandbox, page: Page) -> None:
    checkout = await open_checkout(page, "10.00 TFC")
    await pay_card(checkout, "4000 0000 0000 0002")
    await expect(checkout.locator("#error")).to_have_text("Your card was declined.")
    await expect(page.locator("#stripe-payments .tag.failed")).to_have_count(1)
    await expect(page.locator("#stripe-payments")).to_contain_text("Your card was declined.")
    await screenshot(page, "stripe-declined")
    assert sandbox.stripe is not None
    [charge] = sandbox.stripe.charges()
    assert (charge["status"], charge["failure_code"]) == ("failed", "card_declined")
    await expect(page.locator("#accounts tr", has_text="Ada")).to_contain_text("0.00 TFC")


async def stars_top_up(sandbox: Sandbox, user_id: int, amount: str) -> None:
    """The user tops up with Stars through the Bot API emulator's control surface (no page)."""
    tg = sandbox.telegram
    assert tg is not None
    sent = await tg.send_text(user_id, "/topup")
    presets = await tg.wait_for_bot_message(user_id, after_message_id=sent["message_id"], timeout=20)
    await tg.press_button(user_id, presets.message_id, text=amount)
    await tg.wait_for(lambda: any("Stars" in b["text"] for b in tg.last_bot_message(user_id).buttons), 20)
    choices = tg.last_bot_message(user_id)
    stars = next(b["text"] for b in choices.buttons if "Stars" in b["text"])
    await tg.press_button(user_id, choices.message_id, text=stars)
    invoice = await tg.wait_for(lambda: next((m for m in tg.bot_messages(user_id) if m.invoice), None), 20)
    assert (await tg.pay_invoice(user_id, invoice.message_id)).paid


async def test_admin_stats_shows_the_chart(sandbox: Sandbox, page: Page) -> None:
    await stars_top_up(sandbox, BUYER_ID, "25.00 TFC")
    await page.locator(".chat-item", has_text="Grace").click()
    await page.click("#start")
    await expect(page.locator(".msg.in").last).to_contain_text("Hi Grace!")
    await page.click("#menu-button")
    await expect(page.locator("#commands")).to_contain_text("/stats")  # admins' own menu
    await page.locator("#commands .cmd", has_text="/stats").click()
    chart = page.locator(".msg.in .bubble.photo img").last
    await expect(chart).to_be_visible()
    await chart.evaluate("img => img.decode()")
    assert await chart.evaluate("img => img.naturalWidth") > 300  # the PNG the bot uploaded
    await expect(page.locator(".msg.in .bubble", has_text="Revenue").first).to_contain_text("25.00 TFC")
    await page.locator("#messages").evaluate("box => box.scrollTop = box.scrollHeight")
    await screenshot(page, "admin-stats")
