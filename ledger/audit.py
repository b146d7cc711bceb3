"""The ledger audit: recompute every balance from the transfers and check every invariant.

Runs in one read snapshot, so it sees a consistent ledger even while the writer is busy.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from . import rollups


@dataclass
class AuditReport:
    """What the audit checked and every violation it found (empty when the ledger is sound)."""

    accounts: int = 0
    transfers: int = 0
    holds: int = 0
    payments: int = 0
    total_debt: int = 0
    parked: int = 0  # payments parked for an admin and not resolved yet
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        state = "ok" if self.ok else f"FAILED ({len(self.violations)} violations)"
        return (
            f"audit {state}: {self.accounts} accounts, {self.transfers} transfers, "
            f"{self.holds} holds, {self.payments} payments, debt {self.total_debt}, "
            f"{self.parked} parked payments unresolved"
        )


def run_audit(conn: sqlite3.Connection) -> AuditReport:
    report = AuditReport()
    bad = report.violations.append
    q = conn.execute

    report.accounts = q("SELECT count(*) FROM accounts").fetchone()[0]
    report.transfers = q("SELECT count(*) FROM transfers").fetchone()[0]
    report.holds = q("SELECT count(*) FROM holds").fetchone()[0]
    report.payments = q("SELECT count(*) FROM payments").fetchone()[0]

    # 1. Every stored balance equals credits minus debits recomputed from the transfers.
    for account_id, code, stored, computed in q(
        "SELECT a.id, a.code, a.balance, "
        " coalesce((SELECT sum(amount) FROM transfers WHERE credit_account_id = a.id), 0) -"
        " coalesce((SELECT sum(amount) FROM transfers WHERE debit_account_id = a.id), 0) "
        "FROM accounts a"
    ):
        if stored != computed:
            bad(f"account {account_id} ({code}): stored balance {stored}, transfers say {computed}")

    # 2. Double entry: the balances of all accounts, external ones included, sum to zero.
    total = q("SELECT coalesce(sum(balance), 0) FROM accounts").fetchone()[0]
    if total != 0:
        bad(f"balances sum to {total}, not 0")

    # 3. Held amounts equal the pending holds.
    for account_id, code, held, pending in q(
        "SELECT a.id, a.code, a.held, coalesce((SELECT sum(amount) FROM holds h"
        " WHERE h.account_id = a.id AND h.state = 'pending'), 0) FROM accounts a"
    ):
        if held != pending:
            bad(f"account {account_id} ({code}): held {held}, pending holds {pending}")

    # 4. No negative balance outside debt: only a clawback may take a user account below zero,
    #    or deepen it: a hold placed while covered is still posted after a clawback took its cover.
    for transfer_id, account_id, after in q(
        "SELECT t.id, t.debit_account_id, t.debit_balance_after FROM transfers t "
        "JOIN accounts a ON a.id = t.debit_account_id "
        "WHERE a.allow_negative = 0 AND t.debit_balance_after < 0 AND t.kind <> 'clawback' "
        "AND NOT (t.hold_id IS NOT NULL AND EXISTS (SELECT 1 FROM transfers c "
        " WHERE c.debit_account_id = t.debit_account_id AND c.kind = 'clawback' AND c.id < t.id))"
    ):
        bad(f"transfer {transfer_id} took account {account_id} to {after} without a clawback")
    for account_id, balance in q(
        "SELECT id, balance FROM accounts WHERE allow_negative = 0 AND balance < 0"
    ):
        report.total_debt += -balance
        clawbacks = q(
            "SELECT count(*) FROM transfers WHERE debit_account_id = ? AND kind = 'clawback'",
            (account_id,),
        ).fetchone()[0]
        if not clawbacks:
            bad(f"account {account_id} is at {balance} with no clawback to explain the debt")
    for (account_id,) in q("SELECT id FROM accounts WHERE kind = 'user' AND allow_negative <> 0"):
        bad(f"user account {account_id} is allowed to go negative")

    # 5. Holds resolve at most once: a posted hold has transfers adding up to what was posted;
    #    a pending, voided or expired one has none.
    for hold_id, state, amount, posted, moved in q(
        "SELECT h.id, h.state, h.amount, h.posted_amount, "
        " coalesce((SELECT sum(amount) FROM transfers t WHERE t.hold_id = h.id), 0) FROM holds h"
    ):
        if state == "posted" and (moved != posted or posted > amount):
            bad(f"hold {hold_id} posted {posted} of {amount} but its transfers move {moved}")
        if state != "posted" and moved != 0:
            bad(f"hold {hold_id} is {state} but transfers moved {moved} from it")

    # 6. Payments and credits one to one.
    for payment_id, provider, external_id, amount, transfer_amount, kind, credited in q(
        "SELECT p.id, p.provider, p.external_id, p.amount, t.amount, t.kind, "
        " (SELECT count(*) FROM transfers x WHERE x.payment_id = p.id AND x.kind = 'payment') "
        "FROM payments p LEFT JOIN transfers t ON t.id = p.transfer_id"
    ):
        if transfer_amount is None or kind != "payment":
            bad(f"payment {payment_id} ({provider}:{external_id}) has no credit transfer")
        elif transfer_amount != amount or credited != 1:
            bad(f"payment {payment_id} ({provider}:{external_id}) was credited {credited} times")
    for (transfer_id,) in q(
        "SELECT t.id FROM transfers t LEFT JOIN payments p ON p.id = t.payment_id "
        "WHERE t.kind = 'payment' AND (p.id IS NULL OR p.transfer_id <> t.id)"
    ):
        bad(f"transfer {transfer_id} credits a payment that is not recorded")

    # 7. Nothing taken back beyond what was paid; what was given back (a dispute won, a refund
    #    that failed) counts against what was taken.
    for payment_id, amount, refunded, clawed in q(
        "SELECT p.id, p.amount, p.refunded, coalesce((SELECT sum(CASE t.kind WHEN 'clawback'"
        " THEN t.amount ELSE -t.amount END) FROM transfers t WHERE t.payment_id = p.id"
        " AND t.kind IN ('clawback', 'clawback_reversal')), 0) FROM payments p"
    ):
        if refunded != clawed or not 0 <= clawed <= amount:
            bad(f"payment {payment_id} of {amount}: refunded {refunded}, clawbacks {clawed}")

    # 8. Deployments and their holds agree: a running (or once running) VM was paid for (its
    #    hold posted, or the price charged when the hold had lapsed); a failed one gave its hold
    #    back; a cancelled one holds nothing any more.
    for dep_id, dep_state, hold_id, hold_state, settled in q(
        "SELECT d.id, d.state, d.hold_id, h.state, (SELECT count(*) FROM transfers t WHERE "
        " t.order_id = d.order_id AND t.kind = 'settlement' AND t.hold_id IS NULL) "
        "FROM deployments d LEFT JOIN holds h ON h.id = d.hold_id"
    ):
        if hold_state is None:
            bad(f"deployment {dep_id} ({dep_state}) names hold {hold_id}, which does not exist")
        elif dep_state in ("ready", "cancelling") and hold_state != "posted" and not settled:
            bad(f"deployment {dep_id} is {dep_state} but its hold {hold_id} is {hold_state}, not posted")
        elif dep_state == "failed" and hold_state not in ("voided", "expired"):
            bad(f"deployment {dep_id} failed but its hold {hold_id} is {hold_state}, not voided")
        elif dep_state == "cancelled" and hold_state == "pending":
            bad(f"deployment {dep_id} is cancelled but its hold {hold_id} is still pending")

    # 9. The /stats roll-ups agree with the payments, transfers and deployments they summarise.
    report.violations += rollups.drift(conn)

    # 10. Parked payments an admin has still to resolve: counted and shown, not a violation.
    report.parked = q("SELECT count(*) FROM provider_events WHERE state = 'open'").fetchone()[0]
    return report
