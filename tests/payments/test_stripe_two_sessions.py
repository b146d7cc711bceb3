"""One order paid through two Checkout Sessions (an old link paid after a new one was made):
each payment is credited, and a refund of either charge is taken back from its own payment."""

from __future__ import annotations

from ledger import Ledger
from tests.webhooks.harness import running_shop


async def test_refund_of_the_second_paid_session_is_taken_back_from_it(ledger: Ledger) -> None:
    async with running_shop(ledger) as shop:
        order = await shop.order(user_id=4242, amount=1000)
        first = await shop.session_of(order)
        # A second link for the same order, as the shop makes when the first one's plan ran out.
        second = (await shop.checkout._create(order, shop.emu.now() + 3600)).id
        assert first != second
        for sid in (first, second):
            shop.emu.pay_session(sid)
        await shop.emu.wait_for_deliveries()
        assert (await ledger.balance(4242)).available == 2000
        charge_a, charge_b = shop.charge_of(first), shop.charge_of(second)
        for charge in (charge_b, charge_a):
            shop.emu.refund_payment(charge)
        shop.emu.redeliver(shop.emu.events("charge.refunded")[0]["id"])
        await shop.emu.wait_for_deliveries()
        refunded = {p.external_id: p.refunded for p in await ledger.payments(4242)}
        assert refunded == {first: 1000, second: 1000}
        assert (await ledger.balance(4242)).posted == 0
        assert (await ledger.audit()).ok

