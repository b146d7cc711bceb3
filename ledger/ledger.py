"""The ledger's public async API: validate the request, hand it to the single writer, return the
committed result. Everything a caller gets back is durable (synchronous=FULL, after COMMIT).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TextIO, TypeVar

from core.bounded import BoundedDict

from . import errors, ops, queries
from .audit import AuditReport, run_audit
from .commission import split_commission
from .models import (
    Balance,
    HistoryEntry,
    Hold,
    Order,
    Payment,
    PaymentResult,
    PostResult,
    Purchase,
    Transfer,
)
from .pg_store import PgStore, is_postgres_url
from .roles import LocalRoles, RoleLocks
from .schema import PAYABLE_GRID, REVENUE_COMMISSION, SOURCE_ACCOUNT_BY_PROVIDER
from .statement import StatementPage, statement
from .store import Store

T = TypeVar("T")

# Larger than any real amount, small enough that no sum of them overflows SQLite's int64.
MAX_AMOUNT = 10**15
MAX_KEY_LENGTH = 200
MAX_ID = 2**63  # ids are SQLite's signed 64-bit integers
# User id -> account id, as read once from the store (an account never changes hands). The most
# recently used ACCOUNT_CACHE users are kept; the others are read again when they come back.
ACCOUNT_CACHE = 10_000
ORDER_KINDS = ("topup", "purchase")


def _amount(value: Any, name: str = "amount") -> int:
    if type(value) is not int:
        raise errors.InvalidRequest(
            f"{name} must be a whole number of minor units, not {type(value).__name__} {value!r}"
        )
    if value <= 0:
        raise errors.InvalidRequest(f"{name} must be positive, not {value}")
    if value > MAX_AMOUNT:
        raise errors.InvalidRequest(f"{name} {value} is over the limit of {MAX_AMOUNT}")
    return value


def _key(value: Any, name: str = "idempotency key") -> str:
    if not isinstance(value, str) or not value:
        raise errors.InvalidRequest(f"{name} must be a non-empty string, not {value!r}")
    if len(value) > MAX_KEY_LENGTH:
        raise errors.InvalidRequest(f"{name} is longer than {MAX_KEY_LENGTH} characters")
    return value


def _id(value: Any, name: str) -> int:
    if type(value) is not int or value <= 0 or value >= MAX_ID:
        raise errors.InvalidRequest(f"{name} must be a positive integer, not {value!r}")
    return value


def _provider(value: Any) -> str:
    if not isinstance(value, str) or value not in SOURCE_ACCOUNT_BY_PROVIDER:
        raise errors.InvalidRequest(
            f"unknown payment provider {value!r}; known: {', '.join(SOURCE_ACCOUNT_BY_PROVIDER)}"
        )
    return value


class Ledger:
    """Accounts, transfers, holds, orders and payments over one SQLite file or one PostgreSQL
    database (the store: `ledger.store.Store` or `ledger.pg_store.PgStore`)."""

    def __init__(
        self,
        store: Store | PgStore,
        *,
        commission_ppm: int = 100_000,
        hold_ttl_s: int = 2 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.commission_ppm = commission_ppm
        self.hold_ttl_s = hold_ttl_s
        self.clock = clock
        self._user_accounts: BoundedDict[int, int] = BoundedDict(ACCOUNT_CACHE)

    @classmethod
    async def open(cls, target: str | Path, *, synchronous: str = "FULL",
                   busy_timeout_ms: int = 5000, **options: Any) -> Ledger:
        """Open (creating and migrating if needed) the ledger at `target`: a SQLite file's
        path, or a `postgresql://` URL (`ledger.pg_store`)."""
        store: Store | PgStore
        if is_postgres_url(target):
            store = await PgStore(str(target)).open()
        else:
            store = await Store(target, synchronous=synchronous,
                                busy_timeout_ms=busy_timeout_ms).open()
        return cls(store, **options)

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def role_locks(self) -> RoleLocks:
        """This instance's hold on the shop-wide roles (advisory locks on PostgreSQL; on SQLite,
        the one instance holds them all): `ledger.roles`."""
        return self.store.role_locks() if isinstance(self.store, PgStore) else LocalRoles()

    def _now(self) -> int:
        return int(self.clock())

    def now(self) -> int:
        """The ledger clock, unix seconds (tests may drive it)."""
        return int(self.clock())

    async def write(self, fn: Callable[[sqlite3.Connection, int], T]) -> T:
        """Run a composite operation `fn(conn, now)` as ONE atomic write in the group commit.

        For flows that must change several things together (credit a payment, place the
        purchase and queue the receipt), composed from the functions in `ledger.ops`,
        `ledger.outbox`, `ledger.users`, `ledger.adminlog` and `ledger.inbox`. A LedgerError
        raised inside rolls back everything `fn` did.
        """
        now = self._now()
        return await self.store.write(lambda conn: fn(conn, now))

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one consistent read snapshot."""
        return await self.store.read(fn)

    async def read_admin(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Like `read`, on the admin reader connection: for reads that scan (audit, /stats,
        export), so that users' reads never wait behind them."""
        return await self.store.read_admin(fn)

    # --- accounts ---

    async def user_account(self, user_id: int) -> int:
        """The account id of Telegram user `user_id`, opened on first use."""
        _id(user_id, "user id")  # before the cache: True and 1.0 would find user 1's account
        account_id = self._user_accounts.get(user_id)
        if account_id is None:
            account_id = await self.store.write(partial(ops.ensure_user, now=self._now(), user_id=user_id))
            self._user_accounts[user_id] = account_id
        return account_id

    async def balance(self, user_id: int) -> Balance:
        """Available, held and debt of a user (zero for someone never seen)."""
        return await self.store.read(partial(queries.user_balance, user_id=_id(user_id, "user id")))

    async def account_balance(self, account_id: int) -> Balance:
        return await self.store.read(partial(ops.account_balance, account_id=account_id))

    async def history(
        self, user_id: int, limit: int = 20, before_id: int | None = None
    ) -> list[HistoryEntry]:
        """The user's transfers, newest first; pass the last entry's id as `before_id` to page."""
        _id(user_id, "user id")
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise errors.InvalidRequest(f"limit must be between 1 and 1000, not {limit!r}")
        if before_id is not None:
            _id(before_id, "before id")

        def read(conn: Any) -> list[HistoryEntry]:
            account_id = queries.account_of_user(conn, user_id)
            if account_id is None:
                return []
            return queries.history(conn, account_id, limit, before_id)

        return await self.store.read(read)

    async def statement(
        self, user_id: int, limit: int = 10, before_id: int | None = None
    ) -> StatementPage:
        """The user's statement (`ledger.statement`): one entry per purchase, payment or refund,
        each with the balance after it, newest first; page with the page's `next_before`."""
        _id(user_id, "user id")
        if type(limit) is not int or not 1 <= limit <= 100:
            raise errors.InvalidRequest(f"limit must be between 1 and 100, not {limit!r}")
        if before_id is not None:
            _id(before_id, "before id")

        def read(conn: Any) -> StatementPage:
            account_id = queries.account_of_user(conn, user_id)
            if account_id is None:
                return StatementPage([], None)
            return statement(conn, account_id, limit, before_id)

        return await self.store.read(read)

    # --- transfers ---

    async def transfer(
        self,
        key: str,
        debit_account_id: int,
        credit_account_id: int,
        amount: int,
        *,
        kind: str = "transfer",
        memo: str = "",
        order_id: int | None = None,
    ) -> Transfer:
        """Move `amount` between two accounts once per `key`; refused if the debit can't cover it."""
        # The checks of _key, _id and _amount in one expression (the hot path); when it fails,
        # they say what is wrong.
        if not (isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH
                and type(debit_account_id) is int and 0 < debit_account_id < MAX_ID
                and type(credit_account_id) is int and 0 < credit_account_id < MAX_ID
                and type(amount) is int and 0 < amount <= MAX_AMOUNT):
            _key(key)
            _id(debit_account_id, "debit account")
            _id(credit_account_id, "credit account")
            _amount(amount)
        now = int(self.clock())
        return await self.store.write(ops.transfer, now, key, debit_account_id,
                                      credit_account_id, amount, kind, memo, order_id)

    async def adjust(
        self, key: str, user_id: int, amount: int, *, admin_id: int, reason: str
    ) -> Transfer:
        """An admin adjustment: a positive amount credits the user, a negative one debits."""
        if type(amount) is not int or amount == 0:
            raise errors.InvalidRequest(f"adjustment must be a non-zero whole number, not {amount!r}")
        _amount(abs(amount))
        op = partial(ops.adjust, now=self._now(), key=_key(key), user_id=_id(user_id, "user id"),
                     amount=amount, admin_id=admin_id, reason=reason)
        return await self.store.write(op)

    # --- holds ---

    async def place_hold(
        self, key: str, account_id: int, amount: int, *, ttl_s: int | None = None,
        order_id: int | None = None, memo: str = "",
    ) -> Hold:
        """Reserve credits (pending) until posted, voided or expired; refused without cover."""
        now = self._now()
        op = partial(
            ops.place_hold, now=now, key=_key(key), account_id=_id(account_id, "account"),
            amount=_amount(amount), expires_at=now + (ttl_s if ttl_s is not None else self.hold_ttl_s),
            order_id=order_id, memo=memo,
        )
        return await self.store.write(op)

    async def post_hold(
        self, hold_id: int, key: str, splits: Sequence[tuple[int, int]], *, memo: str = ""
    ) -> PostResult:
        """Post a hold, crediting each `(account_id, amount)` split, in one transaction."""
        if not splits:
            raise errors.InvalidRequest("a post needs at least one credit split")
        if not all(isinstance(s, (tuple, list)) and len(s) == 2 for s in splits):
            raise errors.InvalidRequest(f"splits must be (account id, amount) pairs, not {splits!r}")
        checked = tuple((_id(a, "credit account"), _amount(m, "split amount")) for a, m in splits)
        op = partial(ops.post_hold, now=self._now(), hold_id=_id(hold_id, "hold id"),
                     key=_key(key), splits=checked, memo=memo)
        return await self.store.write(op)

    async def settle_hold(self, hold_id: int, key: str) -> PostResult:
        """Post a hold in full: the commission to revenue, the rest to the grid payable account."""

        def op(conn: Any) -> PostResult:
            hold = ops.get_hold(conn, hold_id)
            payable, commission = split_commission(hold.amount, self.commission_ppm)
            # Either part may round to zero (a 1-cent hold); a transfer of 0 is not one.
            splits = [(a, m) for a, m in ((PAYABLE_GRID, payable), (REVENUE_COMMISSION, commission)) if m]
            return ops.post_hold(conn, self._now(), hold_id, key, splits)

        _id(hold_id, "hold id")
        _key(key)
        return await self.store.write(op)

    async def void_hold(self, hold_id: int, key: str) -> Hold:
        """Release a pending hold: the credits become available again."""
        op = partial(ops.void_hold, now=self._now(), hold_id=_id(hold_id, "hold id"), key=_key(key))
        return await self.store.write(op)

    async def expire_holds(self, limit: int = 500) -> list[Hold]:
        """Expire the pending holds whose time has passed; returns those expired."""
        return await self.store.write(partial(ops.expire_holds, now=self._now(), limit=limit))

    # --- orders and payments ---

    async def create_order(
        self, key: str, user_id: int, kind: str, amount: int, service_id: str | None = None
    ) -> Order:
        """Open a top-up or purchase order, once per `key`."""
        if kind not in ORDER_KINDS:
            raise errors.InvalidRequest(f"order kind must be one of {ORDER_KINDS}, not {kind!r}")
        if (kind == "purchase") != (service_id is not None):
            raise errors.InvalidRequest("a purchase order names a service; a top-up does not")
        op = partial(ops.create_order, now=self._now(), key=_key(key),
                     user_id=_id(user_id, "user id"), kind=kind, amount=_amount(amount),
                     service_id=service_id)
        return await self.store.write(op)

    async def get_order(self, order_id: int) -> Order:
        return await self.store.read(partial(ops.get_order, order_id=_id(order_id, "order id")))

    async def orders(self, user_id: int, limit: int = 20) -> list[Order]:
        return await self.store.read(partial(queries.orders_of_user, user_id=user_id, limit=limit))

    async def set_order_state(self, order_id: int, state: str, allowed_from: Sequence[str]) -> Order:
        op = partial(ops.set_order_state, now=self._now(), order_id=_id(order_id, "order id"),
                     state=state, allowed_from=tuple(allowed_from))
        return await self.store.write(op)

    async def record_payment(
        self,
        provider: str,
        external_id: str,
        *,
        user_id: int,
        amount: int,
        provider_amount: int,
        provider_currency: str,
        order_id: int | None = None,
    ) -> PaymentResult:
        """Credit a payment exactly once per (provider, external_id); `new` says if it was new."""
        op = partial(
            ops.record_payment, now=self._now(), provider=_provider(provider),
            external_id=_key(external_id, "external id"), user_id=_id(user_id, "user id"),
            amount=_amount(amount), provider_amount=_amount(provider_amount, "provider amount"),
            provider_currency=provider_currency,
            order_id=None if order_id is None else _id(order_id, "order id"),
        )
        return await self.store.write(op)

    async def get_payment(self, provider: str, external_id: str) -> Payment | None:
        return await self.store.read(
            partial(ops.get_payment, provider=_provider(provider), external_id=external_id)
        )

    async def find_payment(self, ref: str) -> Payment | None:
        """The payment named by its id (`12`, `#12`) or by the provider's charge or session id."""
        return await self.store.read(partial(queries.find_payment, ref=ref))

    async def payments(self, user_id: int, limit: int = 20) -> list[Payment]:
        return await self.store.read(partial(queries.payments_of_user, user_id=user_id, limit=limit))

    async def clawback(
        self, provider: str, external_id: str, key: str, amount: int, *, reason: str,
        flag: str | None = None,
    ) -> Transfer:
        """Take back part or all of a payment (refund, dispute); may leave the user in debt."""
        op = partial(ops.clawback, now=self._now(), provider=_provider(provider),
                     external_id=_key(external_id, "external id"), key=_key(key),
                     amount=_amount(amount), reason=reason, flag=flag)
        return await self.store.write(op)

    async def purchase(self, order_id: int, user_id: int) -> Purchase:
        """Buy a purchase order from the balance: hold its price and queue the deployment."""
        now = self._now()
        op = partial(ops.purchase, now=now, order_id=_id(order_id, "order id"),
                     user_id=_id(user_id, "user id"), expires_at=now + self.hold_ttl_s)
        return await self.store.write(op)

    # --- audit and export ---

    async def audit(self) -> AuditReport:
        return await self.store.read_admin(run_audit)

    async def export_csv(self, out: TextIO) -> int:
        return await self.store.read_admin(partial(queries.export_transfers_csv, out=out))
