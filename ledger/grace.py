"""Money running out before a VM's period ends: the expiry warning that says whether the renewal
will go through, and the grace period of a VM the balance cannot renew.

- **Warning** (`warn`, once per period, `expiry_warning_days` before expiry): whether the
  renewal will go through; if the balance is short, by how much, with a top-up button (the
  smallest preset that covers it, else the shortfall itself), and a Renew button when
  auto-renew is off.
- **Grace** (`expire`, at and after expiry): an auto-renewing VM the balance does not cover is
  kept running `grace_days` days, with one reminder a day (the amount due and a top-up button,
  keyed per expiry and day, so restarts and double runs send each once). Every pass tries the
  renewal again; it is charged for the period from the original expiry (the key and the new
  expiry name that expiry), so grace days are never free. When the days are over the VM goes
  to 'cancelling' and the user gets one message, when the grid has removed it.

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core import notice_buttons, notices

from . import deployments as jobs
from . import ops, outbox
from .deployments import DAY_S, DeploymentRecord
from .errors import LedgerError
from .savepoint import savepoint

__all__ = ["TopUpOffer", "expire", "shortfall", "warn"]


@dataclass(frozen=True, slots=True)
class TopUpOffer:
    """What a top-up button may offer (TFC cents): the shop's presets and its limits."""

    presets: Sequence[int] = ()
    minimum: int = 100
    maximum: int = 100_000

    def amount(self, short: int) -> int | None:
        return notice_buttons.topup_amount(short, self.presets, self.minimum, self.maximum)


def shortfall(conn: sqlite3.Connection, now: int, user_id: int, price: int) -> int:
    """How much the user's balance lacks to pay `price` now (its debt included); 0 if it covers."""
    balance = ops.account_balance(conn, ops.ensure_user(conn, now, user_id))
    return max(0, price - (balance.posted - balance.held))


def _buttons(dep: DeploymentRecord, short: int, offer: TopUpOffer,
             renew: bool) -> Callable[[], dict[str, Any] | None]:
    amount = offer.amount(short) if short else None
    expires_at = dep.expires_at or 0
    return lambda: notice_buttons.keyboard(
        notice_buttons.renew_button(dep.id, expires_at) if renew else None,
        notice_buttons.topup_button(amount) if amount is not None else None)


def warn(conn: sqlite3.Connection, now: int, deployment_id: int, price: int, offer: TopUpOffer,
         grace_days: int) -> bool:
    """Warn the user once per period that the deployment expires soon, saying whether the
    renewal will go through; False if not due."""
    dep = jobs.get(conn, deployment_id)
    if dep.state != "ready" or dep.warned_at is not None or dep.expires_at is None:
        return False
    conn.execute("UPDATE deployments SET warned_at = ? WHERE id = ?", (now, deployment_id))
    short = shortfall(conn, now, dep.user_id, price)
    expires_at, name = dep.expires_at, dep.title
    outbox.enqueue(conn, now, dep.chat_id,
                   lambda: notices.expiry_warning(name, expires_at, dep.auto_renew, price, short, grace_days),
                   reply_markup=_buttons(dep, short, offer, renew=not dep.auto_renew),
                   key=f"deploy:{dep.id}:warn:{dep.expires_at}")
    return True


def expire(
    conn: sqlite3.Connection, now: int, deployment_id: int, *, commission_ppm: int, price: int,
    period_days: int | None, grace_days: int, offer: TopUpOffer,
) -> str:
    """At or after the end of a period: renew from the balance when auto-renew is on and it
    covers the price; else, within the grace period of an auto-renewing VM, remind the user
    (once a day); else move it to 'cancelling'. Returns 'renewed', 'grace', 'cancelling' or
    'skipped' (not due)."""
    dep = jobs.get(conn, deployment_id)
    if dep.state != "ready" or dep.expires_at is None or dep.expires_at > now:
        return "skipped"
    if not dep.auto_renew:
        jobs.request_cancel(conn, now, deployment_id, notices.REASON_PERIOD_ENDED)
        return "cancelling"
    try:
        # A nested savepoint, so a refused charge leaves this write free to remind or cancel.
        with savepoint(conn, "renew"):
            jobs.renew(conn, now, deployment_id, commission_ppm=commission_ppm, price=price,
                       period_days=period_days)
    except LedgerError:
        pass
    else:
        return "renewed"
    ends_at = dep.expires_at + grace_days * DAY_S
    if now >= ends_at:
        reason = notices.REASON_GRACE_ENDED if grace_days else notices.REASON_RENEWAL_NOT_COVERED
        jobs.request_cancel(conn, now, deployment_id, reason)
        return "cancelling"
    short = shortfall(conn, now, dep.user_id, price)
    day = (now - dep.expires_at) // DAY_S
    expired_at, name = dep.expires_at, dep.title
    outbox.enqueue(conn, now, dep.chat_id,
                   lambda: notices.grace_reminder(name, expired_at, ends_at, price, short),
                   reply_markup=_buttons(dep, short, offer, renew=False),
                   key=f"deploy:{dep.id}:grace:{dep.expires_at}:{day}")
    return "grace"
