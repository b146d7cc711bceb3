"""Errors and what people are told about them.

`REFUSAL_ANSWERS` is the one table from a ledger refusal to the answer the presser of a button
sees (`refusal_answer`; `handlers.common.refuse` shows it as an alert). A handler where a
refusal means something more particular passes its own answers for those classes (a stale
renew button, an order id no order has).

`on_error`, the error handler: Telegram errors never crash the bot. Forbidden (the user blocked
the bot) marks the user blocked in the ledger; flood control (429) and server errors (5xx,
network) are retried by the bot's rate limiter (bot.flood_control) or the next update and only logged here; anything else
is logged with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from core.i18n import _
from ledger import (
    AccountInDebt,
    InsufficientFunds,
    InvalidRequest,
    LedgerError,
    OrderNotFound,
    OrderStateError,
    users,
)
from ledger.admin_state import RequestNotFound
from ledger.deployments import DeploymentNotFound, DeploymentStateError

from . import texts
from .deps import CustomContext

log = logging.getLogger(__name__)

Answers = Mapping[type[LedgerError], str]

# The most specific class of the refusal that is listed wins: AccountInDebt before
# InsufficientFunds (its base), every other LedgerError (the database failing) last.
REFUSAL_ANSWERS: Answers = {
    AccountInDebt: texts.ANSWER_IN_DEBT,
    InsufficientFunds: texts.ANSWER_NOT_ENOUGH,
    OrderNotFound: texts.ANSWER_UNKNOWN_ORDER,
    OrderStateError: texts.ANSWER_ALREADY_PAID,
    DeploymentNotFound: texts.ANSWER_UNKNOWN_DEPLOYMENT,
    DeploymentStateError: texts.ANSWER_DEPLOYMENT_CLOSED,
    RequestNotFound: texts.ANSWER_INVALID,
    InvalidRequest: texts.ANSWER_INVALID,
    LedgerError: texts.ANSWER_TRY_LATER,
}

# Answers for particular places, passed to `refusal_answer` / `refuse`:
# a button naming an order id: id 0 is refused as malformed, yet it is simply no order.
ORDER_ID_ANSWERS: Answers = {InvalidRequest: texts.ANSWER_UNKNOWN_ORDER}
# opening an order: whatever the refusal, the person can only try again.
TRY_AGAIN_ANSWERS: Answers = {LedgerError: texts.ANSWER_TRY_LATER}
# renewing a VM: a debt is a shortfall too (the top-up offered covers it), and a state error
# means the button is out of date.
RENEW_ANSWERS: Answers = {
    InsufficientFunds: texts.ANSWER_NOT_ENOUGH,
    DeploymentStateError: texts.ANSWER_STALE_RENEW,
}


def refusal_answer(exc: LedgerError, answers: Answers | None = None) -> str:
    """What the presser is told for `exc`: the most specific class listed in `answers` (this
    place's own), else in REFUSAL_ANSWERS."""
    classes = type(exc).__mro__
    for table in (answers or {}, REFUSAL_ANSWERS):
        for cls in classes:
            if cls in table:
                return _(table[cls])
    return texts.ANSWER_TRY_LATER


async def on_error(update: object, context: CustomContext) -> None:
    error = context.error
    user = update.effective_user if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        if user is not None:
            log.info("user %s blocked the bot: %s", user.id, error.message)
            shop = context.shop
            await shop.ledger.write(lambda conn, now: users.set_blocked(conn, now, user.id, True))
            shop.seen_users.pop(user.id, None)
        return
    if isinstance(error, BadRequest):  # a bug of ours, not Telegram's weather
        log.error("Telegram refused a request: %s", error.message, exc_info=error)
        return
    if isinstance(error, (RetryAfter, TimedOut, NetworkError)):
        log.warning("Telegram error while handling an update: %s", error)
        return
    log.error("unhandled error while handling %r", update, exc_info=error)
