"""An admin's Stripe refund races Stripe's own charge.refunded webhook about it: when the webhook
is applied first, the admin's write takes nothing more, the admin is told the amount the refund
really took back (not "0.00 TFC"), and the user hears of the one refund once."""

from __future__ import annotations

from functools import partial

from ledger import Ledger, admin_actions
from ledger import admin_state as state
from payments.stripe_checkout import make_client
from payments.stripe_dispatch import handle_event
from payments.stripe_refunds import create_refund, message_key, refund_taken_back
from sandbox.stripe_api import StripeEmulator

AMY, ADMIN = 4242, 1


def _refund_messages(conn, user_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [t for (t,) in conn.execute("SELECT text FROM notifications WHERE chat_id = ?", (user_id,))
            if "refund" in t.lower()]


async def test_the_webhook_first_then_the_admin_write_tells_the_real_amount_once(
    ledger: Ledger, stripe_emulator: StripeEmulator
) -> None:
    client = make_client(stripe_emulator.api_key, stripe_emulator.base_url)
    session = await client.v1.checkout.sessions.create_async(params={
        "mode": "payment", "success_url": "https://t.me/x", "cancel_url": "https://t.me/x",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 1000,
                                                      "product_data": {"name": "credits"}}}],
    })
    stripe_emulator.pay_session(session.id)
    result = await ledger.record_payment("stripe", session.id, user_id=AMY, amount=1000,
                                         provider_amount=1000, provider_currency="usd")
    payment = result.payment

    refund = await create_refund(client, payment, 400, taken=0)
    [event] = stripe_emulator.events("charge.refunded")
    outcome = await handle_event(ledger, event, client=client)  # the webhook is applied first
    assert outcome.status != "kept", outcome

    def admin_write(conn, now):  # type: ignore[no-untyped-def]
        request = state.open_request(conn, now, "cmd:refund", ADMIN, "refund",
                                     {"payment_id": payment.id}, ADMIN).request
        return admin_actions.record_refund(
            conn, now, request, payment=payment,
            take_back=partial(refund_taken_back, payment=payment, refund=refund),
            where="refunded by Stripe",
            user_key=partial(message_key, payment=payment, refund=refund))

    done = await ledger.write(admin_write)
    assert done.taken == 400  # what the refund took back, though the webhook took it
    assert (await ledger.balance(AMY)).available == 600
    told = await ledger.read(lambda conn: _refund_messages(conn, AMY))
    assert told == ["↩️ Refund: 4.00 TFC returned to your card and taken off your balance. Balance: 6.00 TFC."]
    assert (await ledger.audit()).ok

