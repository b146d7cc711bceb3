"""Bad input: every malformed or refused request raises a `LedgerError` subclass with a clear
message, and writes NOTHING (a full dump of the database file is the same before and after)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from ledger import (
    MAX_AMOUNT,
    PAYABLE_GRID,
    REVENUE_COMMISSION,
    DatabaseRefused,
    HoldAlreadyResolved,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    Ledger,
    LedgerError,
    OrderNotFound,
    OrderStateError,
    PaymentConflict,
    PaymentNotFound,
    UnknownAccount,
)

from .helpers import dump, fund

BAD_AMOUNTS = {
    "zero": 0, "negative": -5, "float": 1.5, "whole float": 10.0, "Decimal": Decimal("5"),
    "bool": True, "str": "5", "None": None, "over MAX_AMOUNT": MAX_AMOUNT + 1, "int64": 2**63,
}
BAD_IDS = {
    "str": "1000", "float": 1000.0, "bool": True, "None": None, "zero": 0, "negative": -1,
    "int64": 2**63,
}
BAD_KEYS = {"int": 123, "None": None, "bytes": b"key", "empty": "", "too long": "k" * 201}


@dataclass
class World:
    ledger: Ledger
    alice: int  # user 1's account, funded with 1000, 100 of it held
    bob: int  # user 2's account, empty
    hold: int  # alice's pending hold of 100
    voided: int  # alice's hold of 50, voided with key "void-1"
    topup: int  # alice's open top-up order
    purchase: int  # bob's open purchase order


@pytest.fixture
async def world(ledger: Ledger) -> World:
    alice = await fund(ledger, 1, 1_000, "pay-1")
    bob = await ledger.user_account(2)
    hold = await ledger.place_hold("hold-1", alice, 100)
    voided = await ledger.place_hold("hold-2", alice, 50)
    await ledger.void_hold(voided.id, "void-1")
    await ledger.transfer("t-1", alice, bob, 10)
    topup = await ledger.create_order("order-1", 1, "topup", 500)
    purchase = await ledger.create_order("order-2", 2, "purchase", 500, service_id="vm-small")
    return World(ledger, alice, bob, hold.id, voided.id, topup.id, purchase.id)


Call = Callable[[World], Awaitable[object]]
CASES: list[tuple[str, Call, type[LedgerError], str]] = []


def case(name: str, call: Call, error: type[LedgerError], match: str) -> None:
    CASES.append((name, call, error, match))


def _pay(provider="stripe", external_id="pay-new", **changes) -> Call:
    kwargs = dict(user_id=1, amount=100, provider_amount=100, provider_currency="usd")
    kwargs.update(changes)
    return lambda w: w.ledger.record_payment(provider, external_id, **kwargs)


for label, bad in BAD_AMOUNTS.items():
    error_text = "over the limit" if label in ("over MAX_AMOUNT", "int64") else (
        "positive" if label in ("zero", "negative") else "whole number")
    case(f"transfer amount {label}", lambda w, bad=bad: w.ledger.transfer("k", w.alice, w.bob, bad),
         InvalidRequest, error_text)
    case(f"hold amount {label}", lambda w, bad=bad: w.ledger.place_hold("k", w.alice, bad),
         InvalidRequest, error_text)
    case(f"payment amount {label}", _pay(amount=bad), InvalidRequest, error_text)
    case(f"payment provider amount {label}", _pay(provider_amount=bad), InvalidRequest, error_text)
    case(f"clawback amount {label}",
         lambda w, bad=bad: w.ledger.clawback("stripe", "pay-1", "k", bad, reason="x"),
         InvalidRequest, error_text)
    case(f"split amount {label}",
         lambda w, bad=bad: w.ledger.post_hold(w.hold, "k", [(PAYABLE_GRID, bad)]),
         InvalidRequest, error_text)
    case(f"order amount {label}",
         lambda w, bad=bad: w.ledger.create_order("k", 1, "topup", bad), InvalidRequest, error_text)

for label, bad in BAD_IDS.items():
    case(f"debit account {label}", lambda w, bad=bad: w.ledger.transfer("k", bad, w.bob, 1),
         InvalidRequest, "debit account must be a positive integer")
    case(f"credit account {label}", lambda w, bad=bad: w.ledger.transfer("k", w.alice, bad, 1),
         InvalidRequest, "credit account must be a positive integer")
    case(f"hold account {label}", lambda w, bad=bad: w.ledger.place_hold("k", bad, 1),
         InvalidRequest, "account must be a positive integer")
    case(f"hold id {label} (post)",
         lambda w, bad=bad: w.ledger.post_hold(bad, "k", [(PAYABLE_GRID, 1)]),
         InvalidRequest, "hold id must be a positive integer")
    case(f"hold id {label} (settle)", lambda w, bad=bad: w.ledger.settle_hold(bad, "k"),
         InvalidRequest, "hold id must be a positive integer")
    case(f"hold id {label} (void)", lambda w, bad=bad: w.ledger.void_hold(bad, "k"),
         InvalidRequest, "hold id must be a positive integer")
    case(f"split account {label}",
         lambda w, bad=bad: w.ledger.post_hold(w.hold, "k", [(bad, 1)]),
         InvalidRequest, "credit account must be a positive integer")
    case(f"payment user {label}", _pay(user_id=bad), InvalidRequest, "user id")
    if bad is not None:  # None means "no order" / "first page"
        case(f"payment order {label}", _pay(order_id=bad), InvalidRequest, "order id")
        case(f"history before_id {label}", lambda w, bad=bad: w.ledger.history(1, before_id=bad),
             InvalidRequest, "before id")
    case(f"order user {label}", lambda w, bad=bad: w.ledger.create_order("k", bad, "topup", 1),
         InvalidRequest, "user id")
    case(f"purchase order {label}", lambda w, bad=bad: w.ledger.purchase(bad, 1),
         InvalidRequest, "order id")
    case(f"balance user {label}", lambda w, bad=bad: w.ledger.balance(bad), InvalidRequest, "user id")
    case(f"history user {label}", lambda w, bad=bad: w.ledger.history(bad), InvalidRequest, "user id")
    case(f"adjust user {label}",
         lambda w, bad=bad: w.ledger.adjust("k", bad, 5, admin_id=9, reason="x"),
         InvalidRequest, "user id")

for label, bad in BAD_KEYS.items():
    text = "longer than 200" if label == "too long" else "must be a non-empty string"
    case(f"transfer key {label}", lambda w, bad=bad: w.ledger.transfer(bad, w.alice, w.bob, 1),
         InvalidRequest, text)
    case(f"hold key {label}", lambda w, bad=bad: w.ledger.place_hold(bad, w.alice, 1),
         InvalidRequest, text)
    case(f"post key {label}", lambda w, bad=bad: w.ledger.post_hold(w.hold, bad, [(PAYABLE_GRID, 1)]),
         InvalidRequest, text)
    case(f"settle key {label}", lambda w, bad=bad: w.ledger.settle_hold(w.hold, bad),
         InvalidRequest, text)
    case(f"void key {label}", lambda w, bad=bad: w.ledger.void_hold(w.hold, bad), InvalidRequest, text)
    case(f"order key {label}", lambda w, bad=bad: w.ledger.create_order(bad, 1, "topup", 1),
         InvalidRequest, text)
    case(f"payment external id {label}", _pay(external_id=bad), InvalidRequest,
         text.replace("must", "external id must") if label != "too long" else text)
    case(f"clawback key {label}",
         lambda w, bad=bad: w.ledger.clawback("stripe", "pay-1", bad, 1, reason="x"),
         InvalidRequest, text)

for provider in ("paypal", "", None, "Stripe", 1):
    case(f"payment provider {provider!r}", _pay(provider=provider), InvalidRequest,
         "unknown payment provider")
    case(f"clawback provider {provider!r}",
         lambda w, p=provider: w.ledger.clawback(p, "pay-1", "k", 1, reason="x"),
         InvalidRequest, "unknown payment provider")

# Unknown things: some are refused only after part of the write ran, inside its SAVEPOINT.
case("transfer from unknown account", lambda w: w.ledger.transfer("k", 99_999, w.bob, 1),
     UnknownAccount, "account 99999 does not exist")
case("transfer to unknown account (after the debit)",
     lambda w: w.ledger.transfer("k", w.alice, 99_999, 1), UnknownAccount, "99999 does not exist")
case("hold on unknown account", lambda w: w.ledger.place_hold("k", 99_999, 1), UnknownAccount,
     "99999 does not exist")
case("post to unknown account (after the hold is marked posted)",
     lambda w: w.ledger.post_hold(w.hold, "k", [(PAYABLE_GRID, 10), (99_999, 10)]),
     UnknownAccount, "99999 does not exist")
case("post of unknown hold", lambda w: w.ledger.post_hold(99_999, "k", [(PAYABLE_GRID, 1)]),
     HoldNotFound, "hold 99999 does not exist")
case("void of unknown hold", lambda w: w.ledger.void_hold(99_999, "k"), HoldNotFound, "99999")
case("settle of unknown hold", lambda w: w.ledger.settle_hold(99_999, "k"), HoldNotFound, "99999")
case("clawback of unknown payment", lambda w: w.ledger.clawback("stripe", "nope", "k", 1, reason="x"),
     PaymentNotFound, "no stripe payment 'nope'")
case("payment for unknown order", _pay(order_id=99_999), OrderNotFound, "order 99999 does not exist")
case("purchase of unknown order", lambda w: w.ledger.purchase(99_999, 1), OrderNotFound, "99999")

# Refusals of well-formed requests.
case("post with splits over the hold",
     lambda w: w.ledger.post_hold(w.hold, "k", [(PAYABLE_GRID, 60), (REVENUE_COMMISSION, 41)]),
     InvalidRequest, "cannot post 101: hold .* is for 100")
case("post with no splits", lambda w: w.ledger.post_hold(w.hold, "k", []), InvalidRequest,
     "at least one")
case("post with malformed splits", lambda w: w.ledger.post_hold(w.hold, "k", [PAYABLE_GRID]),
     InvalidRequest, "split")
case("post to the hold's own account",
     lambda w: w.ledger.post_hold(w.hold, "k", [(w.alice, 10)]), LedgerError, ".")
case("void twice with different keys", lambda w: w.ledger.void_hold(w.voided, "void-2"),
     HoldAlreadyResolved, "already voided")
case("post of a voided hold", lambda w: w.ledger.post_hold(w.voided, "k", [(PAYABLE_GRID, 1)]),
     HoldAlreadyResolved, "already voided")
case("transfer to the same account", lambda w: w.ledger.transfer("k", w.alice, w.alice, 1),
     InvalidRequest, "two different accounts")
case("transfer over the available balance (held money)",
     lambda w: w.ledger.transfer("k", w.alice, w.bob, 891), InsufficientFunds, "890 available")
case("hold over the available balance", lambda w: w.ledger.place_hold("k", w.bob, 11),
     InsufficientFunds, "10 available, 11 needed")
case("transfer key replayed with another amount",
     lambda w: w.ledger.transfer("t-1", w.alice, w.bob, 11), IdempotencyConflict,
     "already used with a different amount")
case("hold key replayed with another amount", lambda w: w.ledger.place_hold("hold-1", w.alice, 99),
     IdempotencyConflict, "different amount")
case("payment replayed with another amount", _pay(external_id="pay-1", amount=999), PaymentConflict,
     "different amount")
case("clawback over the payment", lambda w: w.ledger.clawback("stripe", "pay-1", "k", 1_001, reason="x"),
     InvalidRequest, "cannot take back 1001")
case("payment for another user's order", lambda w: _pay(order_id=w.purchase)(w), OrderStateError,
     "belongs to another user")
case("purchase of a top-up order", lambda w: w.ledger.purchase(w.topup, 1), OrderStateError,
     "not a purchase")
case("purchase of another user's order", lambda w: w.ledger.purchase(w.purchase, 1),
     OrderStateError, "belongs to another user")
case("purchase without the funds", lambda w: w.ledger.purchase(w.purchase, 2), InsufficientFunds,
     "available")
case("hold that expires now", lambda w: w.ledger.place_hold("k", w.alice, 1, ttl_s=0),
     InvalidRequest, "expire in the future")
case("order of unknown kind", lambda w: w.ledger.create_order("k", 1, "gift", 1), InvalidRequest,
     "order kind")
case("purchase order without a service", lambda w: w.ledger.create_order("k", 1, "purchase", 1),
     InvalidRequest, "names a service")
case("adjustment of zero", lambda w: w.ledger.adjust("k", 1, 0, admin_id=9, reason="x"),
     InvalidRequest, "non-zero")
case("adjustment of a float", lambda w: w.ledger.adjust("k", 1, 1.5, admin_id=9, reason="x"),
     InvalidRequest, "whole number")
case("adjustment without a reason", lambda w: w.ledger.adjust("k", 1, 5, admin_id=9, reason=" "),
     InvalidRequest, "reason")
case("history limit 0", lambda w: w.ledger.history(1, limit=0), InvalidRequest, "limit")
case("memo the database cannot store",
     lambda w: w.ledger.transfer("k", w.alice, w.bob, 1, memo=object()), DatabaseRefused, "memo|parameter|argument")


@pytest.mark.parametrize(("call", "error", "match"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_refused_and_nothing_written(
    world: World, db_path: Path, call: Call, error: type[LedgerError], match: str
) -> None:
    before = dump(db_path)
    with pytest.raises(error, match=match) as info:
        await call(world)
    assert isinstance(info.value, LedgerError)
    assert str(info.value).strip()
    assert dump(db_path) == before
    # The store is still healthy afterwards.
    assert (await world.ledger.audit()).ok
    assert (await world.ledger.transfer("after", world.alice, world.bob, 1)).amount == 1
