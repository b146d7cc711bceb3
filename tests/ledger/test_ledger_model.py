"""The ledger against a plain Python model: a hypothesis state machine drives payments,
transfers, holds, purchases, expiry, replays and clawbacks, and after every step the ledger's
balances must equal the model's and the audit must pass.

The ledger is async; the machine owns a private event loop and runs each call to completion.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger import (
    ADJUSTMENTS,
    MAX_AMOUNT,
    PAYABLE_GRID,
    REVENUE_COMMISSION,
    SOURCE_STARS,
    SOURCE_STRIPE,
    SOURCE_TELEGRAM_CARD,
    AccountInDebt,
    Balance,
    HoldAlreadyResolved,
    HoldExpired,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    Ledger,
    PaymentConflict,
    split_commission,
)
from tests.conftest import FakeClock
from tests.pg_cluster import fresh_database

USERS = (101, 102, 103)
SYSTEM = (SOURCE_STRIPE, SOURCE_STARS, SOURCE_TELEGRAM_CARD, REVENUE_COMMISSION, PAYABLE_GRID,
          ADJUSTMENTS)
SOURCE = {"stripe": SOURCE_STRIPE, "stars": SOURCE_STARS, "telegram_card": SOURCE_TELEGRAM_CARD}
COMMISSION_PPM = 100_000
HOLD_TTL_S = 600

# Payments are larger than spends, so that most spends succeed and some are refused.
payment_amounts = st.integers(100, 5_000) | st.sampled_from([1, 1234, MAX_AMOUNT // 10**6])
amounts = st.integers(1, 400) | st.sampled_from([1, 5, 1234, 5_000])
users = st.sampled_from(USERS)


@dataclass
class ModelPayment:
    id: int
    user: int
    amount: int
    refunded: int = 0


@dataclass
class ModelHold:
    key: str
    account: int
    amount: int
    expires_at: int
    order_id: int | None = None
    state: str = "pending"


@dataclass
class Resolution:
    kind: str  # post | settle | void
    key: str
    splits: list[tuple[int, int]] = field(default_factory=list)


class LedgerMachine(RuleBasedStateMachine):
    @staticmethod
    def target(folder: Path) -> str | Path:
        """Where each run's ledger lives (the test sets it: a SQLite file, or a new PostgreSQL
        database)."""
        return folder / "model.db"

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="ledger-model-")
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.ledger: Ledger = self.run(Ledger.open(
            self.target(Path(self.dir)), clock=self.clock, commission_ppm=COMMISSION_PPM,
            hold_ttl_s=HOLD_TTL_S,
        ))
        self.account = {user: self.run(self.ledger.user_account(user)) for user in USERS}
        self.posted: dict[int, int] = defaultdict(int)
        self.held: dict[int, int] = defaultdict(int)
        self.payments: dict[tuple[str, str], ModelPayment] = {}
        self.transfers: dict[str, tuple] = {}  # key -> (Transfer, debit, credit, amount, memo)
        self.holds: dict[int, ModelHold] = {}
        self.resolutions: dict[int, Resolution] = {}
        self.counter = 0

    # --- plumbing ---

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.ledger.close())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def now(self) -> int:
        return int(self.clock())

    def move(self, debit: int, credit: int, amount: int) -> None:
        self.posted[debit] -= amount
        self.posted[credit] += amount

    def available(self, account: int) -> int:
        return self.posted[account] - self.held[account]

    def refusal(self, account: int) -> type[Exception]:
        """What the ledger must raise when `account` cannot cover a spend."""
        return AccountInDebt if self.posted[account] < 0 else InsufficientFunds

    def expect(self, error: type[Exception], coro, not_error: type[Exception] | None = None):
        event(f"refused: {error.__name__}")
        with pytest.raises(error) as info:
            self.run(coro)
        if not_error is not None:
            assert not isinstance(info.value, not_error), info.value
        assert str(info.value)
        return info.value

    def expect_refused(self, account: int, coro) -> None:
        if self.posted[account] < 0:
            self.expect(AccountInDebt, coro)
        else:
            self.expect(InsufficientFunds, coro, not_error=AccountInDebt)

    def draw_hold(self, data) -> tuple[int, ModelHold]:
        """A hold, most often a pending one (resolving those is where the work is)."""
        pending = sorted(i for i, h in self.holds.items() if h.state == "pending")
        if pending and data.draw(st.integers(0, 4), label="prefer pending"):
            hold_id = data.draw(st.sampled_from(pending), label="pending hold")
        else:
            hold_id = data.draw(st.sampled_from(sorted(self.holds)), label="hold")
        return hold_id, self.holds[hold_id]

    # --- payments ---

    @initialize(funds=st.lists(st.integers(0, 5_000), min_size=len(USERS), max_size=len(USERS)))
    def fund_users(self, funds: list[int]) -> None:
        for user, amount in zip(USERS, funds, strict=True):
            if amount:
                self.pay(user, "stripe", amount)

    @rule(user=users, provider=st.sampled_from(sorted(SOURCE)), amount=payment_amounts)
    def pay(self, user: int, provider: str, amount: int) -> None:
        external_id = self.fresh("ext")
        result = self.run(self.ledger.record_payment(
            provider, external_id, user_id=user, amount=amount, provider_amount=amount * 3,
            provider_currency="usd",
        ))
        assert result.new
        self.move(SOURCE[provider], self.account[user], amount)
        self.payments[(provider, external_id)] = ModelPayment(result.payment.id, user, amount)
        account = self.account[user]
        assert result.balance == Balance(account, self.posted[account], self.held[account])

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), change=st.sampled_from(
        [None, None, "amount", "user", "provider_amount", "currency"]))
    def replay_payment(self, data, change: str | None) -> None:
        provider, external_id = data.draw(st.sampled_from(sorted(self.payments)), label="payment")
        payment = self.payments[(provider, external_id)]
        kwargs = dict(user_id=payment.user, amount=payment.amount,
                      provider_amount=payment.amount * 3, provider_currency="usd")
        if change == "amount":
            kwargs["amount"] += 1
        elif change == "user":
            kwargs["user_id"] = next(u for u in USERS if u != payment.user)
        elif change == "provider_amount":
            kwargs["provider_amount"] += 1
        elif change == "currency":
            kwargs["provider_currency"] = "eur"
        call = self.ledger.record_payment(provider, external_id, **kwargs)
        if change is None:
            result = self.run(call)
            assert not result.new
            assert result.payment.id == payment.id and result.payment.amount == payment.amount
        else:
            self.expect(PaymentConflict, call)

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def clawback(self, data) -> None:
        provider, external_id = data.draw(st.sampled_from(sorted(self.payments)), label="payment")
        payment = self.payments[(provider, external_id)]
        left = payment.amount - payment.refunded
        amount = data.draw(st.sampled_from([max(left, 1), left + 1]) | st.integers(1, left + 3),
                           label="clawback amount")
        call = self.ledger.clawback(provider, external_id, self.fresh("claw"), amount,
                                    reason="dispute")
        if amount > left:
            self.expect(InvalidRequest, call)
            return
        transfer = self.run(call)
        assert transfer.amount == amount and transfer.kind == "clawback"
        payment.refunded += amount
        self.move(self.account[payment.user], SOURCE[provider], amount)

    # --- transfers ---

    @rule(src=users, dst=st.sampled_from(USERS + (PAYABLE_GRID, REVENUE_COMMISSION)),
          amount=amounts, memo=st.sampled_from(["", "gift"]))
    def transfer(self, src: int, dst: int, amount: int, memo: str) -> None:
        debit = self.account[src]
        credit = self.account.get(dst, dst)
        key = self.fresh("tr")
        call = self.ledger.transfer(key, debit, credit, amount, memo=memo)
        if debit == credit:
            self.expect(InvalidRequest, call)
        elif self.available(debit) >= amount:
            transfer = self.run(call)
            assert (transfer.debit_account_id, transfer.credit_account_id, transfer.amount) == (
                debit, credit, amount)
            self.move(debit, credit, amount)
            self.transfers[key] = (transfer, debit, credit, amount, memo)
        else:
            self.expect_refused(debit, call)

    @precondition(lambda self: self.transfers)
    @rule(data=st.data(), change=st.sampled_from([None, None, "amount", "credit", "memo"]))
    def replay_transfer(self, data, change: str | None) -> None:
        key = data.draw(st.sampled_from(sorted(self.transfers)), label="transfer key")
        first, debit, credit, amount, memo = self.transfers[key]
        if change == "amount":
            amount += 1
        elif change == "credit":
            credit = PAYABLE_GRID if credit != PAYABLE_GRID else REVENUE_COMMISSION
        elif change == "memo":
            memo += "!"
        call = self.ledger.transfer(key, debit, credit, amount, memo=memo)
        if change is None:
            assert self.run(call) == first  # the original, not a second movement
        else:
            self.expect(IdempotencyConflict, call, not_error=PaymentConflict)

    # --- holds ---

    @rule(user=users, amount=amounts, ttl=st.sampled_from([60, 600, 3600]))
    def place_hold(self, user: int, amount: int, ttl: int) -> None:
        account = self.account[user]
        key = self.fresh("hold")
        call = self.ledger.place_hold(key, account, amount, ttl_s=ttl)
        if self.available(account) >= amount:
            hold = self.run(call)
            assert (hold.state, hold.amount, hold.account_id) == ("pending", amount, account)
            assert hold.expires_at == self.now() + ttl
            self.held[account] += amount
            self.holds[hold.id] = ModelHold(key, account, amount, hold.expires_at)
        else:
            self.expect_refused(account, call)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), change=st.sampled_from([None, "amount", "account"]))
    def replay_hold(self, data, change: str | None) -> None:
        hold_id, model = self.draw_hold(data)
        account, amount = model.account, model.amount
        if change == "amount":
            amount += 1
        elif change == "account":
            account = next(a for a in self.account.values() if a != account)
        call = self.ledger.place_hold(model.key, account, amount, order_id=model.order_id)
        if change is None:
            hold = self.run(call)
            assert (hold.id, hold.state, hold.amount) == (hold_id, model.state, model.amount)
        else:
            self.expect(IdempotencyConflict, call)

    @rule(user=users, amount=amounts, double_tap=st.booleans())
    def purchase(self, user: int, amount: int, double_tap: bool) -> None:
        account = self.account[user]
        order = self.run(self.ledger.create_order(self.fresh("order"), user, "purchase", amount,
                                                  service_id="vm-small"))
        call = self.ledger.purchase(order.id, user)
        if self.available(account) < amount:
            self.expect_refused(account, call)
            assert self.run(self.ledger.get_order(order.id)).state == "open"
            return
        bought = self.run(call)
        assert bought.order.state == "placed" and bought.hold.amount == amount
        self.held[account] += amount
        self.holds[bought.hold.id] = ModelHold(bought.hold.key, account, amount,
                                               bought.hold.expires_at, order.id)
        if double_tap:
            again = self.run(self.ledger.purchase(order.id, user))
            assert (again.hold.id, again.deployment_id) == (bought.hold.id, bought.deployment_id)

    def _resolve_refusal(self, model: ModelHold) -> type[Exception] | None:
        """The error a post of this hold must raise before its splits are even looked at."""
        if model.state == "expired":
            return HoldExpired
        if model.state != "pending":
            return HoldAlreadyResolved
        if model.expires_at <= self.now():
            return HoldExpired
        return None

    def _apply_post(self, hold_id: int, model: ModelHold, splits: list[tuple[int, int]],
                    result) -> None:
        total = sum(amount for _, amount in splits)
        assert result.hold.state == "posted" and result.hold.posted_amount == total
        assert [(t.credit_account_id, t.amount) for t in result.transfers] == splits
        assert all(t.debit_account_id == model.account for t in result.transfers)
        self.posted[model.account] -= total
        self.held[model.account] -= model.amount
        for account, amount in splits:
            self.posted[account] += amount
        model.state = "posted"

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def post_hold(self, data) -> None:
        hold_id, model = self.draw_hold(data)
        targets = [PAYABLE_GRID, REVENUE_COMMISSION] + [
            a for a in self.account.values() if a != model.account]
        # Up to 3 splits of at most a third of the hold fit in it; now and then one may not.
        cap = data.draw(st.sampled_from([max(1, model.amount // 3)] * 4 + [model.amount]))
        splits = data.draw(st.lists(
            st.tuples(st.sampled_from(targets), st.integers(1, cap)),
            min_size=1, max_size=3), label="splits")
        key = self.fresh("post")
        call = self.ledger.post_hold(hold_id, key, splits)
        refusal = self._resolve_refusal(model)
        if refusal is not None:
            self.expect(refusal, call)
        elif sum(amount for _, amount in splits) > model.amount:
            self.expect(InvalidRequest, call)
        else:
            self._apply_post(hold_id, model, splits, self.run(call))
            self.resolutions[hold_id] = Resolution("post", key, splits)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def settle_hold(self, data) -> None:
        hold_id, model = self.draw_hold(data)
        key = self.fresh("settle")
        call = self.ledger.settle_hold(hold_id, key)
        refusal = self._resolve_refusal(model)
        if refusal is not None:
            self.expect(refusal, call)
            return
        payable, commission = split_commission(model.amount, COMMISSION_PPM)
        splits = [(account, amount) for account, amount in
                  ((PAYABLE_GRID, payable), (REVENUE_COMMISSION, commission)) if amount]
        self._apply_post(hold_id, model, splits, self.run(call))
        self.resolutions[hold_id] = Resolution("settle", key, splits)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def void_hold(self, data) -> None:
        hold_id, model = self.draw_hold(data)
        key = self.fresh("void")
        call = self.ledger.void_hold(hold_id, key)
        if model.state != "pending":  # voiding a pending hold past its expiry is allowed
            self.expect(HoldExpired if model.state == "expired" else HoldAlreadyResolved, call)
            return
        hold = self.run(call)
        assert hold.state == "voided"
        self.held[model.account] -= model.amount
        model.state = "voided"
        self.resolutions[hold_id] = Resolution("void", key)

    @precondition(lambda self: self.resolutions)
    @rule(data=st.data(), conflict=st.booleans())
    def replay_resolution(self, data, conflict: bool) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.resolutions)), label="resolved hold")
        done = self.resolutions[hold_id]
        if done.kind == "void":
            if conflict:  # the void's key, now asking for a post: the hold is already voided
                self.expect(HoldAlreadyResolved,
                            self.ledger.post_hold(hold_id, done.key, [(PAYABLE_GRID, 1)]))
            else:
                assert self.run(self.ledger.void_hold(hold_id, done.key)).state == "voided"
            return
        if conflict:
            other = [(PAYABLE_GRID, 1)] if done.splits != [(PAYABLE_GRID, 1)] else [(ADJUSTMENTS, 1)]
            self.expect(IdempotencyConflict, self.ledger.post_hold(hold_id, done.key, other))
            return
        if done.kind == "settle":
            result = self.run(self.ledger.settle_hold(hold_id, done.key))
        else:
            result = self.run(self.ledger.post_hold(hold_id, done.key, done.splits))
        assert result.hold.state == "posted"
        assert [(t.credit_account_id, t.amount) for t in result.transfers] == done.splits

    # --- time ---

    @rule(seconds=st.sampled_from([1, 30, 300, 700, 4000]))
    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: any(h.state == "pending" for h in self.holds.values()))
    @rule(data=st.data(), past=st.sampled_from([-1, 0, 1]))
    def tick_to_a_hold_expiry(self, data, past: int) -> None:
        """Move the clock to just before, at or after a pending hold's expiry."""
        pending = sorted(i for i, h in self.holds.items() if h.state == "pending")
        model = self.holds[data.draw(st.sampled_from(pending), label="pending hold")]
        target = model.expires_at + past
        if target > self.now():
            self.clock.advance(target - self.now())

    @rule()
    def expire_holds(self) -> None:
        expired = self.run(self.ledger.expire_holds())
        due = {hold_id for hold_id, model in self.holds.items()
               if model.state == "pending" and model.expires_at <= self.now()}
        assert {hold.id for hold in expired} == due
        assert all(hold.state == "expired" for hold in expired)
        for hold_id in due:
            model = self.holds[hold_id]
            model.state = "expired"
            self.held[model.account] -= model.amount

    # --- after every step ---

    @invariant()
    def ledger_equals_model(self) -> None:
        assert sum(self.posted.values()) == 0  # the model itself is double entry
        for user in USERS:
            account = self.account[user]
            balance = self.run(self.ledger.balance(user))
            posted, held = self.posted[account], self.held[account]
            assert (balance.account_id, balance.posted, balance.held) == (account, posted, held), user
            assert balance.available == max(0, posted - held)
            assert balance.debt == max(0, -posted)
        for account in SYSTEM:
            balance = self.run(self.ledger.account_balance(account))
            assert (balance.posted, balance.held) == (self.posted[account], 0), account
        states = self.run(self.ledger.read(
            lambda conn: dict(conn.execute("SELECT id, state FROM holds").fetchall())))
        assert states == {hold_id: model.state for hold_id, model in self.holds.items()}

    @invariant()
    def audit_passes(self) -> None:
        report = self.run(self.ledger.audit())
        assert report.ok, report.violations


def test_ledger_matches_model(store_kind: str, request: pytest.FixtureRequest) -> None:
    machine: type[LedgerMachine] = LedgerMachine
    if store_kind == "postgresql":
        server = request.getfixturevalue("pg_cluster")
        machine = type("PostgresLedgerMachine", (LedgerMachine,),
                       {"target": staticmethod(lambda folder: fresh_database(server))})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=50, stateful_step_count=30, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
