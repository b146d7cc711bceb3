"""credit_order_payment: a buy-now purchase is tried with the credit, once; a repeated delivery
of the same charge changes nothing, even when the purchase could now be placed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import Ledger, OrderStateError, deployments
from payments.telegram_credit import credit_order_payment


async def test_redelivered_charge_does_not_place_a_refused_buy_now_later(tmp_path: Path) -> None:
    user = 7001
    async with await Ledger.open(tmp_path / "credit.db") as ledger:
        # The user owes 500: paid 500, spent it, then the payment was clawed back.
        await ledger.record_payment("stars", "old", user_id=user, amount=500, provider_amount=385,
                                    provider_currency="XTR")
        await ledger.adjust("spend", user, -500, admin_id=1, reason="spent")
        await ledger.clawback("stars", "old", "refund:stars:old", 500, reason="refund")
        assert (await ledger.balance(user)).debt == 500
        order = await ledger.create_order("buy", user, "purchase", 400, "vm-small")

        first = await credit_order_payment(ledger, provider="stars", charge_id="c1", user_id=user,
                                           order_id=order.id, provider_amount=308, provider_currency="XTR")
        assert first.new and first.purchase is None and first.purchase_error
        # The user repays the debt; then Telegram delivers the same successful_payment again.
        await ledger.record_payment("stars", "repay", user_id=user, amount=1000, provider_amount=770,
                                    provider_currency="XTR")
        again = await credit_order_payment(ledger, provider="stars", charge_id="c1", user_id=user,
                                           order_id=order.id, provider_amount=308, provider_currency="XTR")
        assert not again.new and again.purchase is None
        assert (await ledger.get_order(order.id)).state == "paid"
        balance = await ledger.balance(user)
        assert (balance.held, balance.available) == (0, 900)
        assert (await ledger.audit()).ok


async def test_a_second_payment_for_a_placed_order_is_credit_not_a_second_buy(tmp_path: Path) -> None:
    user = 7002
    async with await Ledger.open(tmp_path / "credit.db") as ledger:
        order = await ledger.create_order("buy", user, "purchase", 400, "vm-small")
        first = await credit_order_payment(ledger, provider="stars", charge_id="c1", user_id=user,
                                           order_id=order.id, provider_amount=308, provider_currency="XTR")
        assert first.purchase is not None
        # An old invoice for the same order is paid again: real money, a new charge id.
        second = await credit_order_payment(ledger, provider="stars", charge_id="c2", user_id=user,
                                            order_id=order.id, provider_amount=308, provider_currency="XTR")
        assert second.new and second.purchase is None and second.purchase_error is None
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held, balance.available) == (800, 400, 400)
        assert (await ledger.audit()).ok


async def test_a_payment_for_an_order_whose_deployment_failed_is_balance(tmp_path: Path) -> None:
    user = 7003
    async with await Ledger.open(tmp_path / "credit.db") as ledger:
        order = await ledger.create_order("buy", user, "purchase", 400, "vm-small")
        first = await credit_order_payment(ledger, provider="stars", charge_id="c1", user_id=user,
                                           order_id=order.id, provider_amount=308, provider_currency="XTR")
        assert first.purchase is not None
        await ledger.write(lambda conn, now: deployments.complete_failure(
            conn, now, first.purchase.deployment_id, "no capacity"))
        # A card invoice for the same order, opened before, is paid now: never a second deployment.
        late = await credit_order_payment(ledger, provider="telegram_card", charge_id="card1",
                                          user_id=user, order_id=order.id, provider_amount=400,
                                          provider_currency="USD")
        assert late.new and late.purchase is None and late.unplaceable == "failed"
        assert late.order.state == "failed"
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held, balance.available) == (800, 0, 800)
        with pytest.raises(OrderStateError, match="can no longer be placed"):
            await ledger.purchase(order.id, user)
        assert (await ledger.audit()).ok
