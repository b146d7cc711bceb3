"""The ledger's write operations. Each runs on the writer's thread inside its own SAVEPOINT.

Functions here take the sqlite3 connection first and the clock reading (`now`, unix seconds)
second. They check everything inside the write (no read-then-write races: a balance is changed
only by an UPDATE whose WHERE clause re-checks it) and raise a `LedgerError` to refuse, which
rolls back everything the operation did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from . import errors
from .models import (
    Balance,
    Hold,
    Order,
    Payment,
    PaymentResult,
    Placed,
    PostResult,
    Purchase,
    Transfer,
)
from .rows import insert_row, inserted_id
from .schema import ADJUSTMENTS, SOURCE_ACCOUNT_BY_PROVIDER

_TRANSFER_COLUMNS = (
    "id, key, debit_account_id, credit_account_id, amount, kind, memo, order_id, hold_id, "
    "payment_id, created_at"
)
_HOLD_COLUMNS = (
    "id, key, account_id, amount, state, order_id, memo, expires_at, created_at, resolved_at, "
    "posted_amount"
)
_ORDER_COLUMNS = "id, user_id, kind, service_id, amount, state, created_at, updated_at"
_PAYMENT_COLUMNS = (
    "id, provider, external_id, user_id, order_id, amount, provider_amount, provider_currency, "
    "transfer_id, refunded, created_at"
)

# Order states once its purchase is placed: paying such an order again buys nothing more.
PLACED_STATES = ("placed", "completed")

_INSERT_TRANSFER = (
    "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, memo, "
    "order_id, hold_id, payment_id, debit_balance_after, credit_balance_after, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
# A transfer of no order, hold or payment leaves those columns to their default (NULL): sqlite3
# binds a None parameter slowly (it looks for an adapter for it), a missing column costs nothing.
_INSERT_PLAIN_TRANSFER = (
    "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, kind, memo, "
    "debit_balance_after, credit_balance_after, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


# --- accounts ---------------------------------------------------------------------------------


def ensure_user(conn: sqlite3.Connection, now: int, user_id: int) -> int:
    """Return the account id of Telegram user `user_id`, opening the account if needed."""
    row = conn.execute("SELECT id FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
    if row is not None:
        return int(row[0])
    # User accounts start at 1000 so system accounts added later keep small fixed ids.
    cur = conn.execute(
        "INSERT INTO accounts (id, code, kind, user_id, created_at) "
        "VALUES ((SELECT CASE WHEN max(id) >= 1000 THEN max(id) + 1 ELSE 1000 END FROM accounts), "
        "?, 'user', ?, ?) RETURNING id",
        (f"user:{user_id}", user_id, now),
    )
    return inserted_id(cur)


def account_balance(conn: sqlite3.Connection, account_id: int) -> Balance:
    row = conn.execute("SELECT balance, held FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        raise errors.UnknownAccount(f"account {account_id} does not exist")
    return Balance(account_id, row[0], row[1])


def _refuse_debit(conn: sqlite3.Connection, account_id: int, amount: int) -> errors.LedgerError:
    row = conn.execute("SELECT balance, held FROM accounts WHERE id = ?", (account_id,)).fetchone()
    if row is None:
        return errors.UnknownAccount(f"account {account_id} does not exist")
    balance, held = row
    if balance < 0:
        return errors.AccountInDebt(
            f"account {account_id} is in debt by {-balance}; it cannot spend until that is repaid"
        )
    return errors.InsufficientFunds(
        f"account {account_id} has {max(0, balance - held)} available, {amount} needed"
    )


def _debit(conn: sqlite3.Connection, account_id: int, amount: int, overdraft: bool) -> int:
    """Take `amount` off the account's balance, re-checking cover inside the UPDATE."""
    if overdraft:
        rows = conn.execute(
            "UPDATE accounts SET balance = balance - ? WHERE id = ? RETURNING balance",
            (amount, account_id),
        ).fetchall()
    else:
        rows = conn.execute(
            "UPDATE accounts SET balance = balance - ? "
            "WHERE id = ? AND (allow_negative = 1 OR balance - held >= ?) RETURNING balance",
            (amount, account_id, amount),
        ).fetchall()
    if not rows:
        raise _refuse_debit(conn, account_id, amount)
    return int(rows[0][0])


def _credit(conn: sqlite3.Connection, account_id: int, amount: int) -> int:
    rows = conn.execute(
        "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance",
        (amount, account_id),
    ).fetchall()
    if not rows:
        raise errors.UnknownAccount(f"account {account_id} does not exist")
    return int(rows[0][0])


# --- transfers --------------------------------------------------------------------------------


def transfer_by_key(conn: sqlite3.Connection, key: str) -> Transfer | None:
    """The transfer made under idempotency key `key`, if any."""
    row = conn.execute(f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE key = ?", (key,)).fetchone()
    return Transfer(*row) if row is not None else None


def _same_or_conflict(what: str, key: str, first: dict[str, object], now: dict[str, object]) -> None:
    for field, value in now.items():
        if first[field] != value:
            raise errors.IdempotencyConflict(
                f"{what} key {key!r} was already used with a different {field} "
                f"(first {first[field]!r}, now {value!r})"
            )


def transfer(
    conn: sqlite3.Connection,
    now: int,
    key: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    kind: str,
    memo: str = "",
    order_id: int | None = None,
    hold_id: int | None = None,
    payment_id: int | None = None,
    overdraft: bool = False,
) -> Transfer:
    """Move `amount` from debit to credit, once per `key` (TigerBeetle's `exists` semantics)."""
    # A new key (the usual case) is told by its id alone; the whole row only for a replay.
    seen = conn.execute("SELECT id FROM transfers WHERE key = ?", (key,)).fetchone()
    existing = transfer_by_key(conn, key) if seen is not None else None
    if existing is not None:
        _same_or_conflict(
            "transfer",
            key,
            {
                "debit account": existing.debit_account_id,
                "credit account": existing.credit_account_id,
                "amount": existing.amount,
                "kind": existing.kind,
                "memo": existing.memo,
                "order": existing.order_id,
            },
            {
                "debit account": debit_account_id,
                "credit account": credit_account_id,
                "amount": amount,
                "kind": kind,
                "memo": memo,
                "order": order_id,
            },
        )
        return existing
    if debit_account_id == credit_account_id:
        raise errors.InvalidRequest("a transfer needs two different accounts")
    debit_after = _debit(conn, debit_account_id, amount, overdraft)
    credit_after = _credit(conn, credit_account_id, amount)
    if order_id is None and hold_id is None and payment_id is None:
        transfer_id = insert_row(
            conn, _INSERT_PLAIN_TRANSFER,
            (key, debit_account_id, credit_account_id, amount, kind, memo, debit_after,
             credit_after, now),
        )
    else:
        transfer_id = insert_row(
            conn, _INSERT_TRANSFER,
            (key, debit_account_id, credit_account_id, amount, kind, memo, order_id, hold_id,
             payment_id, debit_after, credit_after, now),
        )
    return Transfer(transfer_id, key, debit_account_id, credit_account_id, amount, kind, memo,
                    order_id, hold_id, payment_id, now)


def adjust(
    conn: sqlite3.Connection, now: int, key: str, user_id: int, amount: int, admin_id: int,
    reason: str,
) -> Transfer:
    """An admin adjustment, once per `key`: a positive amount credits the user from the
    adjustments account, a negative one debits (never below what the user has available)."""
    if type(amount) is not int or amount == 0:
        raise errors.InvalidRequest(f"adjustment must be a non-zero whole number, not {amount!r}")
    if not reason.strip():
        raise errors.InvalidRequest("an adjustment needs a reason")
    account = ensure_user(conn, now, user_id)
    debit, credit = (ADJUSTMENTS, account) if amount > 0 else (account, ADJUSTMENTS)
    return transfer(conn, now, key, debit, credit, abs(amount), "adjustment",
                    f"admin {admin_id}: {reason}")


# --- holds (two-phase transfers) --------------------------------------------------------------


def get_hold(conn: sqlite3.Connection, hold_id: int) -> Hold:
    row = conn.execute(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE id = ?", (hold_id,)).fetchone()
    if row is None:
        raise errors.HoldNotFound(f"hold {hold_id} does not exist")
    return Hold(*row)


def place_hold(
    conn: sqlite3.Connection,
    now: int,
    key: str,
    account_id: int,
    amount: int,
    expires_at: int,
    order_id: int | None = None,
    memo: str = "",
) -> Hold:
    """Reserve `amount` of the account's available balance until posted, voided or expired."""
    row = conn.execute(f"SELECT {_HOLD_COLUMNS} FROM holds WHERE key = ?", (key,)).fetchone()
    if row is not None:
        hold = Hold(*row)
        _same_or_conflict(
            "hold", key,
            {"account": hold.account_id, "amount": hold.amount, "order": hold.order_id},
            {"account": account_id, "amount": amount, "order": order_id},
        )
        return hold
    if expires_at <= now:
        raise errors.InvalidRequest("a hold must expire in the future")
    rows = conn.execute(
        "UPDATE accounts SET held = held + ? "
        "WHERE id = ? AND (allow_negative = 1 OR balance - held >= ?) RETURNING id",
        (amount, account_id, amount),
    ).fetchall()
    if not rows:
        raise _refuse_debit(conn, account_id, amount)
    cur = conn.execute(
        "INSERT INTO holds (key, account_id, amount, state, order_id, memo, expires_at, created_at)"
        " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?) RETURNING id",
        (key, account_id, amount, order_id, memo, expires_at, now),
    )
    return Hold(inserted_id(cur), key, account_id, amount, "pending", order_id, memo, expires_at,
                now, None, 0)


def _check_pending(conn: sqlite3.Connection, hold: Hold, key: str, state: str) -> bool:
    """True when this is a replay of the request that resolved the hold; raise if it conflicts."""
    if hold.state == "pending":
        return False
    resolve_key = conn.execute("SELECT resolve_key FROM holds WHERE id = ?", (hold.id,)).fetchone()[0]
    if resolve_key == key and hold.state == state:
        return True
    if hold.state == "expired":
        raise errors.HoldExpired(f"hold {hold.id} is already expired")
    raise errors.HoldAlreadyResolved(f"hold {hold.id} is already {hold.state}")


def post_hold(
    conn: sqlite3.Connection,
    now: int,
    hold_id: int,
    key: str,
    splits: Sequence[tuple[int, int]],
    kind: str = "settlement",
    memo: str = "",
) -> PostResult:
    """Post a pending hold: debit its account once and credit each `(account, amount)` split.

    The splits may add up to less than the hold (the rest is released), never to more.
    """
    hold = get_hold(conn, hold_id)
    if _check_pending(conn, hold, key, "posted"):
        rows = conn.execute(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE hold_id = ? ORDER BY id", (hold_id,)
        ).fetchall()
        posted = tuple(Transfer(*r) for r in rows)
        _same_or_conflict(
            "post", key,
            {"splits": [(t.credit_account_id, t.amount) for t in posted]},
            {"splits": [tuple(s) for s in splits]},
        )
        return PostResult(hold, posted)
    if hold.expires_at <= now:
        raise errors.HoldExpired(f"hold {hold_id} expired and can no longer be posted")
    total = sum(amount for _, amount in splits)
    if total > hold.amount:
        raise errors.InvalidRequest(f"cannot post {total}: hold {hold_id} is for {hold.amount}")
    conn.execute(
        "UPDATE holds SET state = 'posted', resolved_at = ?, resolve_key = ?, posted_amount = ? "
        "WHERE id = ? AND state = 'pending'",
        (now, key, total, hold_id),
    )
    # The hold already reserved the funds, so the debit needs no cover check; held drops by all.
    row = conn.execute(
        "UPDATE accounts SET balance = balance - ?, held = held - ? WHERE id = ? RETURNING balance",
        (total, hold.amount, hold.account_id),
    ).fetchone()
    debit_after = row[0] + total
    transfers: list[Transfer] = []
    for index, (account_id, amount) in enumerate(splits):
        debit_after -= amount
        credit_after = _credit(conn, account_id, amount)
        split_key = f"{key}#{index}"
        cur = conn.execute(
            _INSERT_TRANSFER,
            (split_key, hold.account_id, account_id, amount, kind, memo or hold.memo,
             hold.order_id, hold_id, None, debit_after, credit_after, now),
        )
        transfers.append(Transfer(inserted_id(cur), split_key, hold.account_id, account_id, amount,
                                  kind, memo or hold.memo, hold.order_id, hold_id, None, now))
    return PostResult(get_hold(conn, hold_id), tuple(transfers))


def void_hold(
    conn: sqlite3.Connection, now: int, hold_id: int, key: str, state: str = "voided"
) -> Hold:
    """Release a pending hold (state `voided`, or `expired` for the expiry job), exactly once."""
    hold = get_hold(conn, hold_id)
    if _check_pending(conn, hold, key, state):
        return hold
    conn.execute(
        "UPDATE holds SET state = ?, resolved_at = ?, resolve_key = ? WHERE id = ? AND state = 'pending'",
        (state, now, key, hold_id),
    )
    conn.execute("UPDATE accounts SET held = held - ? WHERE id = ?", (hold.amount, hold.account_id))
    return get_hold(conn, hold_id)


def expire_holds(conn: sqlite3.Connection, now: int, limit: int = 500) -> list[Hold]:
    """Expire up to `limit` pending holds whose time has passed."""
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM holds WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
        (now, limit),
    )]
    return [void_hold(conn, now, hold_id, f"expire:{hold_id}", "expired") for hold_id in ids]


# --- orders -----------------------------------------------------------------------------------


def get_order(conn: sqlite3.Connection, order_id: int) -> Order:
    row = conn.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        raise errors.OrderNotFound(f"order {order_id} does not exist")
    return Order(*row)


def create_order(
    conn: sqlite3.Connection,
    now: int,
    key: str,
    user_id: int,
    kind: str,
    amount: int,
    service_id: str | None,
) -> Order:
    """Open an order, once per `key`."""
    row = conn.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE key = ?", (key,)).fetchone()
    if row is not None:
        order = Order(*row)
        _same_or_conflict(
            "order", key,
            {"user": order.user_id, "kind": order.kind, "amount": order.amount,
             "service": order.service_id},
            {"user": user_id, "kind": kind, "amount": amount, "service": service_id},
        )
        return order
    ensure_user(conn, now, user_id)
    cur = conn.execute(
        "INSERT INTO orders (key, user_id, kind, service_id, amount, state, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id",
        (key, user_id, kind, service_id, amount, now, now),
    )
    return Order(inserted_id(cur), user_id, kind, service_id, amount, "open", now, now)


def set_order_state(
    conn: sqlite3.Connection, now: int, order_id: int, state: str, allowed_from: Sequence[str]
) -> Order:
    """Move an order to `state` if it is in one of `allowed_from` (or already in `state`)."""
    order = get_order(conn, order_id)
    if order.state == state:
        return order
    if order.state not in allowed_from:
        raise errors.OrderStateError(f"order {order_id} is {order.state}; it cannot become {state}")
    conn.execute("UPDATE orders SET state = ?, updated_at = ? WHERE id = ?", (state, now, order_id))
    return get_order(conn, order_id)


# --- payments ---------------------------------------------------------------------------------


def get_payment(conn: sqlite3.Connection, provider: str, external_id: str) -> Payment | None:
    row = conn.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE provider = ? AND external_id = ?",
        (provider, external_id),
    ).fetchone()
    return Payment(*row) if row is not None else None


def record_payment(
    conn: sqlite3.Connection,
    now: int,
    provider: str,
    external_id: str,
    user_id: int,
    amount: int,
    provider_amount: int,
    provider_currency: str,
    order_id: int | None = None,
) -> PaymentResult:
    """Credit a provider's payment to the user exactly once per (provider, external_id)."""
    existing = get_payment(conn, provider, external_id)
    if existing is not None:
        try:
            _same_or_conflict(
                "payment", f"{provider}:{external_id}",
                {"user": existing.user_id, "amount": existing.amount,
                 "provider amount": existing.provider_amount,
                 "provider currency": existing.provider_currency, "order": existing.order_id},
                {"user": user_id, "amount": amount, "provider amount": provider_amount,
                 "provider currency": provider_currency, "order": order_id},
            )
        except errors.IdempotencyConflict as exc:
            raise errors.PaymentConflict(str(exc)) from None
        account_id = ensure_user(conn, now, user_id)
        return PaymentResult(existing, False, account_balance(conn, account_id))
    if order_id is not None:
        order = get_order(conn, order_id)
        if order.user_id != user_id:
            raise errors.OrderStateError(
                f"order {order_id} belongs to another user; payment {provider}:{external_id} "
                "was not credited"
            )
    account_id = ensure_user(conn, now, user_id)
    cur = conn.execute(
        "INSERT INTO payments (provider, external_id, user_id, order_id, amount, provider_amount, "
        "provider_currency, transfer_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) RETURNING id",
        (provider, external_id, user_id, order_id, amount, provider_amount, provider_currency, now),
    )
    payment_id = inserted_id(cur)
    credit = transfer(
        conn, now, f"payment:{provider}:{external_id}", SOURCE_ACCOUNT_BY_PROVIDER[provider],
        account_id, amount, "payment", f"{provider} payment", order_id, None, payment_id,
    )
    conn.execute("UPDATE payments SET transfer_id = ? WHERE id = ?", (credit.id, payment_id))
    if order_id is not None:
        # A real payment always counts: a top-up is paid even if it expired meanwhile. A
        # purchase order is paid only while open; one that can no longer be placed (failed,
        # cancelled, expired, already placed) keeps its state and the payment is balance.
        conn.execute(
            "UPDATE orders SET state = 'paid', updated_at = ? WHERE id = ? AND "
            "(state = 'open' OR (kind = 'topup' AND state IN ('expired', 'failed', 'cancelled')))",
            (now, order_id),
        )
    payment = Payment(payment_id, provider, external_id, user_id, order_id, amount,
                      provider_amount, provider_currency, credit.id, 0, now)
    return PaymentResult(payment, True, account_balance(conn, account_id))


def clawback(
    conn: sqlite3.Connection,
    now: int,
    provider: str,
    external_id: str,
    key: str,
    amount: int,
    reason: str,
    flag: str | None = None,
) -> Transfer:
    """Take back `amount` of a payment (refund or dispute), once per `key`.

    The user's balance may go below zero: that is debt, which blocks spending until repaid.
    """
    payment = get_payment(conn, provider, external_id)
    if payment is None:
        raise errors.PaymentNotFound(f"no {provider} payment {external_id!r} is recorded")
    existing = transfer_by_key(conn, key)
    if existing is None and payment.refunded + amount > payment.amount:
        raise errors.InvalidRequest(
            f"cannot take back {amount}: payment {provider}:{external_id} was {payment.amount} "
            f"and {payment.refunded} is already taken back"
        )
    account_id = ensure_user(conn, now, payment.user_id)
    result = transfer(
        conn, now, key, account_id, SOURCE_ACCOUNT_BY_PROVIDER[provider], amount, "clawback",
        reason, payment.order_id, None, payment.id, overdraft=True,
    )
    if existing is None:
        conn.execute("UPDATE payments SET refunded = refunded + ? WHERE id = ?", (amount, payment.id))
        if flag:
            conn.execute("UPDATE accounts SET flagged = ? WHERE id = ?", (flag, account_id))
    return result


# --- purchases --------------------------------------------------------------------------------


def purchase(
    conn: sqlite3.Connection, now: int, order_id: int, user_id: int, expires_at: int
) -> Purchase:
    """Place a purchase order from the balance: hold the price and queue the deployment.

    One purchase per order: a repeated call (a double-tapped confirm) returns the first.
    """
    order = get_order(conn, order_id)
    if order.user_id != user_id:
        raise errors.OrderStateError(f"order {order_id} belongs to another user")
    if order.kind != "purchase" or order.service_id is None:
        raise errors.OrderStateError(f"order {order_id} is a {order.kind}, not a purchase")
    account_id = ensure_user(conn, now, user_id)
    key = f"purchase:{order_id}"
    row = conn.execute(
        "SELECT d.id, d.hold_id, d.state FROM deployments d WHERE d.order_id = ?", (order_id,),
    ).fetchone()
    if order.state in PLACED_STATES and row is not None:
        return Purchase(order, get_hold(conn, row[1]), row[0], account_balance(conn, account_id))
    if order.state not in ("open", "paid"):
        raise errors.OrderStateError(f"order {order_id} is {order.state}; it can no longer be placed")
    if row is not None:
        # Placed once already (its deployment failed or was cancelled): one deployment per order.
        raise errors.OrderStateError(
            f"order {order_id} was placed before (deployment {row[0]} is {row[2]}); "
            "it can no longer be placed")
    hold = place_hold(conn, now, key, account_id, order.amount, expires_at, order_id,
                      f"purchase {order.service_id}")
    deployment_id = inserted_id(conn.execute(
        "INSERT INTO deployments (order_id, user_id, service_id, hold_id, state, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?) RETURNING id",
        (order_id, user_id, order.service_id, hold.id, now, now),
    ))
    # The VM's name for its owner: what the order buys, by the name the chat showed ("Small VM
    # #3"); an order opened elsewhere has none, and its VM reads as "VM #3" (`DeploymentRecord.title`).
    item = conn.execute("SELECT item_name FROM orders WHERE id = ?", (order_id,)).fetchone()[0]
    if item:
        conn.execute("UPDATE deployments SET label = ? WHERE id = ?", (f"{item} #{deployment_id}", deployment_id))
    order = set_order_state(conn, now, order_id, "placed", ("open", "paid"))
    return Purchase(order, hold, deployment_id, account_balance(conn, account_id))


def place_purchase(
    conn: sqlite3.Connection, now: int, order_id: int, user_id: int, hold_ttl_s: int
) -> Placed:
    """The buyer's confirm button: place the purchase order from the balance (see `purchase`),
    saying whether this call placed it or found it placed already."""
    new = get_order(conn, order_id).state in ("open", "paid")
    return Placed(purchase(conn, now, order_id, user_id, now + hold_ttl_s), new)
