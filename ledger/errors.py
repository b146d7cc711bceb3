"""The ledger's own exception hierarchy.

Every refusal the ledger makes is a `LedgerError` with a message a person can read. A refused
request writes nothing: it runs inside its own SAVEPOINT and is rolled back.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class InvalidRequest(LedgerError, ValueError):
    """An argument is malformed: wrong type, zero, negative or overflowing amount, bad key."""


class UnknownAccount(LedgerError, LookupError):
    """The account does not exist."""


class InsufficientFunds(LedgerError):
    """The debit account's available balance (balance minus held) does not cover the amount."""


class AccountInDebt(InsufficientFunds):
    """The account's balance is below zero after a clawback: it may not spend until repaid."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was used before with different content (TigerBeetle's
    `exists_with_different_*`). The first request's result stands."""


class PaymentConflict(IdempotencyConflict):
    """The (provider, external id) pair was recorded before with different content."""


class HoldNotFound(LedgerError, LookupError):
    """No hold has that id."""


class HoldAlreadyResolved(LedgerError):
    """The hold was already posted, voided or expired; it resolves exactly once."""


class HoldExpired(HoldAlreadyResolved):
    """The hold's expiry has passed; it can no longer be posted."""


class OrderNotFound(LedgerError, LookupError):
    """No order has that id."""


class OrderStateError(LedgerError):
    """The order is not in a state that allows the operation."""


class PaymentNotFound(LedgerError, LookupError):
    """No payment has that provider and external id."""


class StoreError(LedgerError):
    """The database failed for now (locked beyond the busy timeout, disk full, I/O error, closed
    store): nothing was written, and the same request may succeed later. Callers must not
    acknowledge a payment they could not record because of it."""


class DatabaseRefused(LedgerError):
    """The database refused the write as it was asked (a UNIQUE or CHECK constraint, a value it
    cannot store). This is a bug in the operation, not a passing failure: retrying meets it
    again, so callers park the request for an admin instead of asking for a retry."""
