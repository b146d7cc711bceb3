"""Buttons under messages the shop queues in the outbox (a VM about to expire or in its grace
period): "Top up" a preset amount and "Renew" a VM, as Bot API inline keyboards.

Their callback_data is what the chat's codec (`handlers.callbacks`) reads, `v1:top:<cents>` and
`v1:dren:<deployment>:<expiry>`; tests/core/test_notice_buttons.py decodes them with it, so the
two stay in step. Labels are written in the current language (call inside the recipient's, as
`ledger.outbox.enqueue` does with a function).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .i18n import _, format_tfc

__all__ = ["keyboard", "renew_button", "topup_amount", "topup_button"]


def topup_amount(shortfall: int, presets: Sequence[int], minimum: int, maximum: int) -> int | None:
    """What a top-up button offers for a balance `shortfall` cents short: the smallest preset
    that covers it, else the shortfall itself (at least the minimum top-up); None when even
    the maximum top-up would not cover it."""
    covering = sorted(p for p in presets if p >= shortfall and minimum <= p <= maximum)
    amount = covering[0] if covering else max(shortfall, minimum)
    return amount if amount <= maximum else None


def topup_button(amount: int) -> dict[str, str]:
    return {"text": _("➕ Top up {amount}").format(amount=format_tfc(amount)), "callback_data": f"v1:top:{amount}"}


def renew_button(deployment_id: int, expires_at: int) -> dict[str, str]:
    return {"text": _("🔁 Renew"), "callback_data": f"v1:dren:{deployment_id}:{expires_at}"}


def keyboard(*buttons: dict[str, str] | None) -> dict[str, Any] | None:
    """An inline keyboard with one row per button given (None: left out); None when empty."""
    rows = [[b] for b in buttons if b is not None]
    return {"inline_keyboard": rows} if rows else None
