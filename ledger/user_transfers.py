"""Transfers between users: credits sent from one user's balance to another's (`/send`).

One write, double entry: the sender's account is debited and the recipient's credited by one
`ops.transfer` (kind `transfer`), the cover checked inside the sender's UPDATE (no overdraft,
and a sender in debt is refused with AccountInDebt). Keyed by the caller (the command message),
so a message Telegram delivers twice moves the credits once. Refused: to oneself, to a user the
shop does not know, an amount that is not a positive whole number of cents.

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import partial

from core import notices

from . import ops, outbox, queries, users
from .errors import InvalidRequest, LedgerError
from .models import Balance, Transfer
from .ops import _TRANSFER_COLUMNS

__all__ = ["Sent", "UnknownRecipient", "recent_transfers", "transfer_between_users"]

MAX_AMOUNT = 10**15
KIND = "transfer"


class UnknownRecipient(LedgerError, LookupError):
    """The recipient has never used the shop: there is no one to send to."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A transfer between users and the sender's balance after it; `new` is False on a replay."""

    transfer: Transfer
    balance: Balance
    new: bool


def label(conn: sqlite3.Connection, user_id: int) -> str:
    """@username when known, else the numeric id."""
    found = users.get(conn, user_id)
    return f"@{found.username}" if found is not None and found.username else str(user_id)


def transfer_between_users(
    conn: sqlite3.Connection, now: int, key: str, sender: int, recipient: int, amount: int,
) -> Sent:
    """Move `amount` cents from `sender` to `recipient` once per `key`, and tell the recipient."""
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise InvalidRequest(f"a transfer is a positive whole number of cents, not {amount!r}")
    if sender == recipient:
        raise InvalidRequest("a transfer needs two different users")
    if users.get(conn, recipient) is None and queries.account_of_user(conn, recipient) is None:
        raise UnknownRecipient(f"user {recipient} is not known to the shop")
    done_before = ops.transfer_by_key(conn, key) is not None
    memo = f"transfer from {label(conn, sender)} to {label(conn, recipient)}"
    transfer = ops.transfer(conn, now, key, ops.ensure_user(conn, now, sender),
                            ops.ensure_user(conn, now, recipient), amount, KIND, memo)
    balance = ops.account_balance(conn, transfer.debit_account_id)
    if not done_before:
        received = ops.account_balance(conn, transfer.credit_account_id)
        outbox.enqueue(conn, now, recipient,
                       partial(notices.transfer_received, amount, label(conn, sender), received.available),
                       key=f"{key}:recipient")
    return Sent(transfer, balance, not done_before)


def recent_transfers(conn: sqlite3.Connection, user_id: int, limit: int = 8) -> list[tuple[Transfer, int]]:
    """The user's latest transfers with other users, newest first, each with its signed amount
    from the user's side."""
    account = queries.account_of_user(conn, user_id)
    if account is None:
        return []
    rows = conn.execute(
        f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE kind = ? AND "
        "(debit_account_id = ? OR credit_account_id = ?) ORDER BY id DESC LIMIT ?",
        (KIND, account, account, limit),
    ).fetchall()
    found = [Transfer(*row) for row in rows]
    return [(t, -t.amount if t.debit_account_id == account else t.amount) for t in found]
