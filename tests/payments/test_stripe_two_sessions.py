"""One order paid through two Checkout Sessions (an old link paid after a new one was made):
each payment is credited, and a refund of either charge is taken back from its own payment."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ledger import Ledger
from payments.stripe_dispatch import handle_event


def _session(sid: str, order_id: int, user_id: int, intent: str) -> dict[str, Any]:
    return {"id": sid, "object": "checkout.session", "client_reference_id": str(order_id),
            "metadata": {"order_id": str(order_id), "telegram_user_id": str(user_id)},
            "amount_total": 1000, "currency": "usd", "payment_status": "paid", "status": "complete",
            "payment_intent": intent}


def _refund(charge: str, order_id: int, intent: str) -> dict[str, Any]:
    obj = {"id": charge, "object": "charge", "amount": 1000, "amount_refunded": 1000, "currency": "usd",
           "payment_intent": intent, "metadata": {"order_id": str(order_id)}}
    return {"id": f"evt_{charge}", "type": "charge.refunded", "data": {"object": obj}}


class _Sessions:
    """The one API call the dispatcher makes: checkout.sessions.list by payment_intent."""

    def __init__(self, sessions: list[dict[str, Any]]) -> None:
        self.sessions = sessions

    async def list_async(self, params: dict[str, Any]) -> Any:
        found = [s for s in self.sessions if s["payment_intent"] == params["payment_intent"]]
        return SimpleNamespace(data=[SimpleNamespace(to_dict=lambda s=s: dict(s)) for s in found])


async def test_refund_of_the_second_paid_session_is_taken_back_from_it(tmp_path: Path) -> None:
    user = 4242
    async with await Ledger.open(tmp_path / "two.db") as ledger:
        order = await ledger.create_order("two", user, "topup", 1000)
        a = _session("cs_a", order.id, user, "pi_a")
        b = _session("cs_b", order.id, user, "pi_b")
        client: Any = SimpleNamespace(v1=SimpleNamespace(checkout=SimpleNamespace(sessions=_Sessions([a, b]))))
        for sid, session in (("a", a), ("b", b)):
            paid = {"id": f"evt_paid_{sid}", "type": "checkout.session.completed", "data": {"object": session}}
            assert (await handle_event(ledger, paid, client=client)).status == "credited"
        assert (await ledger.balance(user)).available == 2000

        for charge, intent in (("ch_b", "pi_b"), ("ch_a", "pi_a"), ("ch_b", "pi_b")):
            await handle_event(ledger, _refund(charge, order.id, intent), client=client)

        refunded = {p.external_id: p.refunded for p in await ledger.payments(user)}
        assert refunded == {"cs_a": 1000, "cs_b": 1000}
        assert (await ledger.balance(user)).posted == 0
        assert (await ledger.audit()).ok
