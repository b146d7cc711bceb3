"""The lifecycle of a dispute and of a failed refund, as Stripe runs them after a payment.

Followed from Stripe's OpenAPI spec (stripe/openapi spec3, version of 2025-10-15, pinned in
docs/sandbox.md) and its dispute and refund guides:

- `components/schemas/dispute.status`: an inquiry (retrieval request) opens as
  `warning_needs_response` and withdraws nothing; it closes as `warning_closed` (or escalates
  into a chargeback). A chargeback opens as `needs_response`, Stripe withdraws the disputed
  amount plus a fee at once (`charge.dispute.funds_withdrawn`, a balance transaction of
  `-amount` in `dispute.balance_transactions`, "zero, one, or two balance transactions that
  show funds withdrawn and reinstated"), and it closes as `won` (the funds come back:
  `charge.dispute.funds_reinstated`, a second balance transaction of `+amount`) or `lost`.
  Every close is `charge.dispute.closed`.
- `components/schemas/refund.status` and `failure_reason`: a refund can end `failed` (card
  refunds) or `canceled` (other methods) after it was created; Stripe puts the money back on
  the merchant's balance (`failure_balance_transaction`, type `refund_failure`), the charge's
  `amount_refunded` drops by the refund, and it announces `refund.updated` and
  `charge.refund.updated` (both carry the refund; the webhook endpoint enum of
  `POST /v1/webhook_endpoints` has no `refund.failed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import stripe_objects as obj

if TYPE_CHECKING:
    from .stripe_core import StripeCore

DISPUTE_FEE = 1500  # Stripe's US dispute fee, in cents; it is not part of the disputed amount
REFUND_FAILURES = ("lost_or_stolen_card", "expired_or_canceled_card",
                   "charge_for_pending_refund_disputed", "insufficient_funds", "declined",
                   "merchant_request", "unknown")
INQUIRY_OPEN = ("warning_needs_response", "warning_under_review")
CHARGEBACK_OPEN = ("needs_response", "under_review")


class DisputeError(ValueError):
    """A dispute or refund change the real Stripe would not make (closing a closed dispute)."""


def open_dispute(core: StripeCore, ch: dict[str, Any], amount: int, reason: str,
                 inquiry: bool) -> dict[str, Any]:
    """A cardholder's inquiry or chargeback on a charge; withdraws the funds of a chargeback."""
    d = obj.dispute(did=obj.new_id("dp_"), ch=ch, amount=amount, created=core.now(),
                    reason=reason, status="warning_needs_response" if inquiry else "needs_response")
    if not inquiry:
        d["payment_method_details"]["card"]["case_type"] = "chargeback"
    else:
        d["payment_method_details"]["card"]["case_type"] = "inquiry"
    core.disputes[d["id"]] = d
    ch["disputed"] = True
    core.emit("charge.dispute.created", d)
    if not inquiry:
        d["balance_transactions"].append(obj.balance_transaction(
            source=d["id"], amount=-amount, currency=d["currency"], created=core.now(),
            type="adjustment", reporting_category="dispute", fee=DISPUTE_FEE,
            description=f"Chargeback withdrawal for {ch['id']}"))
        core.emit("charge.dispute.funds_withdrawn", d)
    return d


def close_dispute(core: StripeCore, dispute_id: str, won: bool) -> dict[str, Any]:
    """The card network decides: an inquiry closes as `warning_closed`; a chargeback as `won`
    (funds reinstated first) or `lost`."""
    d = core.disputes.get(dispute_id)
    if d is None:
        raise DisputeError(f"no such dispute {dispute_id!r}")
    previous = {"status": d["status"]}
    if d["status"] in INQUIRY_OPEN:
        d["status"] = "warning_closed"
    elif d["status"] in CHARGEBACK_OPEN:
        if won:
            d["balance_transactions"].append(obj.balance_transaction(
                source=d["id"], amount=d["amount"], currency=d["currency"], created=core.now(),
                type="adjustment", reporting_category="dispute_reversal",
                description=f"Chargeback reversal for {d['charge']}"))
            core.emit("charge.dispute.funds_reinstated", d)
        d["status"] = "won" if won else "lost"
    else:
        raise DisputeError(f"dispute {dispute_id} is already {d['status']}")
    d["is_charge_refundable"] = False
    core.emit("charge.dispute.closed", d, previous=previous)
    return d


def fail_refund(core: StripeCore, refund_id: str, status: str,
                failure_reason: str) -> dict[str, Any]:
    """A refund the customer's bank could not take (`failed`) or that was `canceled`."""
    if status not in ("failed", "canceled"):
        raise DisputeError("status must be failed or canceled")
    if failure_reason not in REFUND_FAILURES:
        raise DisputeError(f"failure_reason must be one of {', '.join(REFUND_FAILURES)}")
    r = core.refunds.get(refund_id)
    if r is None:
        raise DisputeError(f"no such refund {refund_id!r}")
    if r["status"] in ("failed", "canceled"):
        raise DisputeError(f"refund {refund_id} is already {r['status']}")
    ch = core.charges[r["charge"]]
    previous = {"status": r["status"], "failure_reason": None,
                "failure_balance_transaction": None}
    r["status"] = status
    r["failure_reason"] = failure_reason
    r["failure_balance_transaction"] = obj.balance_transaction(
        source=r["id"], amount=r["amount"], currency=r["currency"], created=core.now(),
        type="refund_failure", reporting_category="refund_failure",
        description=f"REFUND FAILURE FOR CHARGE ({ch['id']})")["id"]
    ch["amount_refunded"] -= r["amount"]
    ch["refunded"] = False
    for listed in ch["refunds"]["data"]:
        if listed["id"] == r["id"]:
            listed.update(status=r["status"], failure_reason=failure_reason,
                          failure_balance_transaction=r["failure_balance_transaction"])
    core.emit("refund.updated", r, previous=previous)
    core.emit("charge.refund.updated", r, previous=previous)
    return r
