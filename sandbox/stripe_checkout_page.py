"""The Stripe emulator's hosted Checkout page (`session.url`, `/c/pay/{session}`).

A person pays a Checkout Session here as on Stripe's page in test mode: with a card, where
Stripe's test card numbers behave as documented (docs.stripe.com/testing, "Cards by brand"
and "Declined payments"; 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined with
`card_declined`/`generic_decline`, ...), or with a US bank account, a delayed-notification
method whose test account numbers (docs.stripe.com/payments/ach-direct-debit, "Test account
numbers") complete the session unpaid and settle later. A declined card keeps the session
open for another try; a completed one redirects to the session's `success_url`, as Stripe
does, or, when the page is shown inside the sandbox's web chat, tells the chat where to go.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import stripe_objects as obj
from .stripe_core import ControlError

if TYPE_CHECKING:
    from .stripe_api import StripeEmulator


@dataclass(frozen=True)
class TestCard:
    """What one of Stripe's test card numbers does (docs.stripe.com/testing)."""

    brand: str
    decline: tuple[str, str, str] | None = None  # (code, decline_code, message)
    disputed: bool = False  # succeeds, then the cardholder disputes it as fraudulent


DECLINED = "Your card was declined."
TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa"),
    "4000056655665556": TestCard("visa"),
    "5555555555554444": TestCard("mastercard"),
    "378282246310005": TestCard("amex"),
    "6011111111111117": TestCard("discover"),
    "4000000000000002": TestCard("visa", ("card_declined", "generic_decline", DECLINED)),
    "4000000000009995": TestCard("visa", ("card_declined", "insufficient_funds",
                                          "Your card has insufficient funds.")),
    "4000000000009987": TestCard("visa", ("card_declined", "lost_card", DECLINED)),
    "4000000000009979": TestCard("visa", ("card_declined", "stolen_card", DECLINED)),
    "4000000000000069": TestCard("visa", ("expired_card", "expired_card", "Your card has expired.")),
    "4000000000000127": TestCard("visa", ("incorrect_cvc", "incorrect_cvc",
                                          "Your card's security code is incorrect.")),
    "4000000000000119": TestCard("visa", ("processing_error", "processing_error",
                                          "An error occurred while processing your card. "
                                          "Try again in a little bit.")),
    "4000000000000259": TestCard("visa", disputed=True),
}
# Real card numbers are refused in test mode (docs.stripe.com/testing, "Test mode").
LIVE_CARD = ("card_declined", "test_mode_live_card",
             "Your card was declined. Your request was in test mode, but used a non test card. "
             "For a list of valid test cards, visit: https://stripe.com/docs/testing.")
TEST_ROUTING = "110000000"
# Test account number -> settles successfully (ACH Direct Debit, "Test account numbers").
TEST_BANK_ACCOUNTS = {"000123456789": True, "000222222227": False}

HINTS = [
    ("4242 4242 4242 4242", "succeeds"),
    ("4000 0000 0000 0002", "declined (card_declined)"),
    ("4000 0000 0000 9995", "declined: insufficient funds"),
    ("4000 0000 0000 0259", "succeeds, then disputed"),
    ("bank 000123456789", "bank debit, settles later"),
    ("bank 000222222227", "bank debit, fails later"),
]


def luhn_ok(number: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(number)):
        d = int(digit) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


class CardError(ValueError):
    """What Stripe's card form says before anything reaches the bank."""


def check_card(number: str, expiry: str, cvc: str, now: int) -> str:
    """The digits of a well-formed, unexpired card (messages as Stripe.js words them)."""
    digits = re.sub(r"[\s-]", "", number)
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_ok(digits):
        raise CardError("Your card number is invalid.")
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", expiry)
    if not match or not 1 <= int(match.group(1)) <= 12:
        raise CardError("Your card's expiration date is incomplete.")
    month, year = int(match.group(1)), int(match.group(2))
    year += 2000 if year < 100 else 0
    today = datetime.fromtimestamp(now, UTC)
    if (year, month) < (today.year, today.month):
        raise CardError("Your card's expiration year is in the past.")
    if not re.fullmatch(r"\d{3,4}", cvc.strip()):
        raise CardError("Your card's security code is incomplete.")
    return digits


def pay_with_card(emu: StripeEmulator, sid: str, form: dict[str, str]) -> None:
    """One attempt with the card in `form`; raises CardError when the card is refused."""
    email = form.get("email") or "customer@example.com"
    digits = check_card(form.get("number", ""), form.get("expiry", ""), form.get("cvc", ""), emu.now())
    card = TEST_CARDS.get(digits)
    details = {"brand": card.brand if card else "visa", "last4": digits[-4:]}
    decline = LIVE_CARD if card is None else card.decline
    if decline is not None:
        emu.decline_card(sid, *decline, card=details, email=email)
        raise CardError(decline[2])
    session = emu.pay_session(sid, "succeeded", email, card=details)
    if card is not None and card.disputed:
        emu.dispute_payment(session["payment_intent"], "fraudulent")


def pay_with_bank(emu: StripeEmulator, sid: str, form: dict[str, str]) -> None:
    """A bank debit: the session completes unpaid; the bank settles it later."""
    routing = re.sub(r"\D", "", form.get("routing", ""))
    account = re.sub(r"\D", "", form.get("account", ""))
    if routing != TEST_ROUTING or account not in TEST_BANK_ACCOUNTS:
        raise CardError(f"Use routing number {TEST_ROUTING} and a test account number "
                        f"({', '.join(TEST_BANK_ACCOUNTS)}).")
    emu.pay_session(sid, "async_pending", form.get("email") or "customer@example.com")
    emu.settle_later(sid, TEST_BANK_ACCOUNTS[account])


def _redirect(session: dict[str, Any]) -> str | None:
    url = session.get("success_url")
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _money(amount: int, currency: str) -> str:
    text = obj.format_amount(amount, currency)
    value, code = text.rsplit(" ", 1)
    return f"${value}" if code == "usd" else f"{value} {code.upper()}"


def render(emu: StripeEmulator, session: dict[str, Any], error: str = "",
           form: dict[str, str] | None = None) -> str:
    form = form or {}
    sid = session["id"]
    items = emu.core.line_items.get(sid, [])
    amount = _money(session["amount_total"] or 0, session["currency"] or "usd")
    rows = "".join(f'<div class="item"><span>{html.escape(i["description"] or "Item")}</span>'
                   f'<span>{_money(i["amount_total"], i["currency"])}</span></div>' for i in items)
    if session["status"] == "open":
        method = form.get("method", "card")
        body = _FORM.format(
            sid=html.escape(sid), amount=amount, error=html.escape(error),
            email=html.escape(form.get("email", "")), number=html.escape(form.get("number", "")),
            expiry=html.escape(form.get("expiry", "")), cvc=html.escape(form.get("cvc", "")),
            routing=html.escape(form.get("routing", TEST_ROUTING)),
            account=html.escape(form.get("account", "")),
            card_checked="checked" if method == "card" else "",
            bank_checked="checked" if method == "bank" else "",
            hints="".join(f"<li><code>{html.escape(n)}</code> {html.escape(w)}</li>" for n, w in HINTS),
            cancel=(f'<a class="back" href="{html.escape(session["cancel_url"])}">← Back</a>'
                    if session.get("cancel_url") else ""),
        )
    else:
        paid = session["payment_status"] == "paid"
        title = ("Payment successful" if paid else "Payment processing") \
            if session["status"] == "complete" else "This Checkout Session is no longer active"
        note = ("Your bank debit was submitted; it settles in a little while."
                if session["status"] == "complete" and not paid else "")
        redirect = _redirect(session) if session["status"] == "complete" else None
        body = _DONE.format(title=title, note=note, status=session["status"],
                            redirect=html.escape(redirect or ""),
                            script=_REDIRECT_SCRIPT if redirect else "")
    return _PAGE.format(amount=amount, rows=rows, body=body)


def add_checkout_page(app: web.Application, emu: StripeEmulator) -> None:
    """`GET /c/pay/{session}` shows the page; `POST` pays (or fails to) and shows the result."""

    def session_of(request: web.Request) -> dict[str, Any]:
        emu.core.sweep()
        session = emu.core.sessions.get(request.match_info["session"])
        if session is None:
            raise web.HTTPNotFound(text="Something went wrong: this Checkout Session does not exist.")
        return session

    async def show(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=render(emu, session_of(request)))

    async def pay(request: web.Request) -> web.Response:
        session = session_of(request)
        form = {k: str(v) for k, v in (await request.post()).items()}
        error = ""
        try:
            if form.get("method") == "bank":
                pay_with_bank(emu, session["id"], form)
            else:
                pay_with_card(emu, session["id"], form)
        except CardError as exc:
            error = str(exc)
        except ControlError as exc:  # paid in another tab, or expired meanwhile
            error = str(exc)
        return web.Response(content_type="text/html", status=402 if error else 200,
                            text=render(emu, session_of(request), error, form))

    app.router.add_get("/c/pay/{session}", show)
    app.router.add_post("/c/pay/{session}", pay)


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Checkout · Stripe (emulator)</title><style>
*{{box-sizing:border-box}} body{{margin:0;font:15px/1.45 -apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1a1f36;background:#fff}}
.wrap{{display:grid;grid-template-columns:1fr;max-width:480px;margin:0 auto;padding:22px 20px 30px}}
.merchant{{display:flex;align-items:center;gap:8px;font-weight:600}} .merchant .dot{{width:26px;height:26px;border-radius:50%;background:#3390ec;color:#fff;display:grid;place-items:center;font-size:13px}}
.test{{background:#ffde92;color:#7a4b00;font-size:11px;font-weight:700;border-radius:4px;padding:1px 6px;letter-spacing:.04em}}
.amount{{font-size:34px;font-weight:600;margin:10px 0 4px}} .item{{display:flex;justify-content:space-between;color:#4f566b;font-size:14px;padding:3px 0}}
h2{{font-size:16px;margin:22px 0 8px}} label{{display:block;font-size:13px;color:#4f566b;margin:10px 0 4px}}
input[type=text],input[type=email]{{width:100%;padding:10px 12px;border:1px solid #d5dbe1;border-radius:6px;font-size:15px}}
input:focus{{outline:2px solid #80bdff;border-color:#0570de}} .pair{{display:flex}} .pair input{{border-radius:0}}
.cardbox input.number{{border-radius:6px 6px 0 0}} .cardbox .pair input:first-child{{border-radius:0 0 0 6px;border-top:0}} .cardbox .pair input:last-child{{border-radius:0 0 6px 0;border-top:0;border-left:0}}
.tabs{{display:flex;gap:8px}} .tabs label{{flex:1;border:1px solid #d5dbe1;border-radius:6px;padding:9px 12px;margin:0;cursor:pointer;color:#1a1f36;font-weight:500}}
.tabs input{{margin-right:6px}} .bank,.card{{display:none}} #m-card:checked~.card,#m-bank:checked~.bank{{display:block}}
.err{{color:#df1b41;font-size:14px;margin:10px 0 0;min-height:1em}} button.pay{{width:100%;margin-top:18px;padding:13px;border:0;border-radius:6px;background:#0570de;color:#fff;font-size:16px;font-weight:600;cursor:pointer}}
button.pay:hover{{background:#0461c6}} .hints{{margin-top:18px;font-size:12.5px;color:#697386;background:#f6f8fa;border-radius:6px;padding:8px 12px}} .hints ul{{margin:4px 0 0;padding-left:16px}}
code{{font-size:12px}} .back{{color:#697386;text-decoration:none;font-size:14px}} .foot{{color:#a3acb9;font-size:12px;text-align:center;margin-top:18px}}
.done{{text-align:center;padding:30px 0}} .done .tick{{font-size:44px}}
</style></head><body><div class="wrap">
<div class="merchant"><span class="dot">G</span>GridShop <span class="test">TEST MODE</span></div>
<div class="amount">{amount}</div>{rows}
{body}
<div class="foot">Powered by the gridshop Stripe emulator · no real money</div>
</div></body></html>"""

_FORM = """<form method="post" action="/c/pay/{sid}" id="pay">{cancel}
<h2>Contact information</h2><label for="email">Email</label>
<input type="email" id="email" name="email" value="{email}" placeholder="you@example.com">
<h2>Payment method</h2>
<input type="radio" name="method" value="card" id="m-card" {card_checked} hidden>
<input type="radio" name="method" value="bank" id="m-bank" {bank_checked} hidden>
<div class="tabs"><label for="m-card">💳 Card</label><label for="m-bank">🏦 US bank account</label></div>
<div class="card cardbox"><label for="number">Card information</label>
<input type="text" class="number" id="number" name="number" value="{number}" placeholder="1234 1234 1234 1234" inputmode="numeric" autocomplete="cc-number">
<div class="pair"><input type="text" id="expiry" name="expiry" value="{expiry}" placeholder="MM / YY" autocomplete="cc-exp">
<input type="text" id="cvc" name="cvc" value="{cvc}" placeholder="CVC" inputmode="numeric" autocomplete="cc-csc"></div></div>
<div class="bank"><label for="routing">Routing number</label><input type="text" id="routing" name="routing" value="{routing}">
<label for="account">Account number</label><input type="text" id="account" name="account" value="{account}" placeholder="000123456789"></div>
<div class="err" id="error" role="alert">{error}</div>
<button class="pay" type="submit" id="submit">Pay {amount}</button>
<div class="hints">Test mode: no real card works. Any future expiry and any CVC.<ul>{hints}</ul></div>
</form>"""

_DONE = """<div class="done" data-status="{status}"><div class="tick">✓</div><h2 id="outcome">{title}</h2>
<p>{note}</p><p><a id="return" href="{redirect}">Return to GridShop</a></p></div>{script}"""

# Inside the sandbox's web chat the page is in a frame: the chat follows the redirect itself
# (a t.me link opens the bot's chat there); alone, it redirects like Stripe's own page.
_REDIRECT_SCRIPT = """<script>
(function(){var url=document.getElementById("return").getAttribute("href");
setTimeout(function(){if(window.parent!==window){window.parent.postMessage({source:"stripe-checkout",redirect:url},"*");}
else{location.href=url;}},1200);})();</script>"""
