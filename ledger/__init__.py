"""The money and the state: a double-entry ledger on SQLite.

Accounts, immutable transfers, two-phase holds, orders and payments, written through a single
group-committing writer. Imports nothing else of gridshop's.
"""

from .audit import AuditReport
from .commission import rate_to_ppm, split_commission
from .errors import (
    AccountInDebt,
    DatabaseRefused,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    LedgerError,
    OrderNotFound,
    OrderStateError,
    PaymentConflict,
    PaymentNotFound,
    StoreError,
    UnknownAccount,
)
from .ledger import MAX_AMOUNT, Ledger
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
from .schema import (
    ADJUSTMENTS,
    PAYABLE_GRID,
    REVENUE_COMMISSION,
    SOURCE_STARS,
    SOURCE_STRIPE,
    SOURCE_TELEGRAM_CARD,
)
from .store import Store

__all__ = [
    "ADJUSTMENTS", "AccountInDebt", "AuditReport", "DatabaseRefused", "Balance", "HistoryEntry", "Hold",
    "HoldAlreadyResolved", "HoldExpired", "HoldNotFound", "IdempotencyConflict",
    "InsufficientFunds", "InvalidRequest", "Ledger", "LedgerError", "MAX_AMOUNT", "Order",
    "OrderNotFound", "OrderStateError", "PAYABLE_GRID", "Payment", "PaymentConflict",
    "PaymentNotFound", "PaymentResult", "PostResult", "Purchase", "REVENUE_COMMISSION",
    "SOURCE_STARS", "SOURCE_STRIPE", "SOURCE_TELEGRAM_CARD", "Store", "StoreError", "Transfer",
    "UnknownAccount", "rate_to_ppm", "split_commission",
]
