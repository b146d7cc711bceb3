"""The buttons under outbox messages carry callback_data the chat's codec reads, and the top-up
button offers the smallest preset that covers a shortfall."""

from __future__ import annotations

import handlers.deployments  # noqa: F401  (registers the deployment actions with the codec)
from core.notice_buttons import renew_button, topup_amount, topup_button
from handlers.callbacks import decode


def test_the_buttons_decode_as_the_chat_reads_them() -> None:
    top = decode(topup_button(500)["callback_data"])
    assert (top.action, top.args) == ("top", ("500",))
    renew = decode(renew_button(7, 1_790_000_000)["callback_data"])
    assert (renew.action, renew.args) == ("dren", ("7", "1790000000"))


def test_the_top_up_amount_is_the_next_preset_or_the_shortfall() -> None:
    presets = (500, 1000, 2500)
    assert topup_amount(250, presets, 100, 100_000) == 500
    assert topup_amount(500, presets, 100, 100_000) == 500
    assert topup_amount(501, presets, 100, 100_000) == 1000
    assert topup_amount(3000, presets, 100, 100_000) == 3000  # above every preset: the shortfall
    assert topup_amount(40, (), 100, 100_000) == 100  # at least the minimum top-up
    assert topup_amount(200_000, presets, 100, 100_000) is None
