"""The one table from a ledger refusal to what the presser of a button is told."""

from __future__ import annotations

import pytest

from handlers import texts
from handlers.errors import (
    ORDER_ID_ANSWERS,
    RENEW_ANSWERS,
    TRY_AGAIN_ANSWERS,
    refusal_answer,
)
from ledger import (
    AccountInDebt,
    HoldExpired,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
    OrderNotFound,
    OrderStateError,
    StoreError,
)
from ledger.deployments import DeploymentNotFound, DeploymentStateError


@pytest.mark.parametrize(("refusal", "answers", "told"), [
    (AccountInDebt("in debt"), None, texts.ANSWER_IN_DEBT),  # before its base class
    (InsufficientFunds("short"), None, texts.ANSWER_NOT_ENOUGH),
    (OrderStateError("placed"), None, texts.ANSWER_ALREADY_PAID),
    (DeploymentNotFound("gone"), None, texts.ANSWER_UNKNOWN_DEPLOYMENT),
    (DeploymentStateError("failed"), None, texts.ANSWER_DEPLOYMENT_CLOSED),
    (StoreError("disk full"), None, texts.ANSWER_TRY_LATER),  # never "not enough" for a failure
    (HoldExpired("late"), None, texts.ANSWER_TRY_LATER),
    (InvalidRequest("id 0"), ORDER_ID_ANSWERS, texts.ANSWER_UNKNOWN_ORDER),
    (OrderNotFound("no"), ORDER_ID_ANSWERS, texts.ANSWER_UNKNOWN_ORDER),
    (InvalidRequest("bad amount"), TRY_AGAIN_ANSWERS, texts.ANSWER_TRY_LATER),
    (IdempotencyConflict("other"), TRY_AGAIN_ANSWERS, texts.ANSWER_TRY_LATER),
    (AccountInDebt("in debt"), RENEW_ANSWERS, texts.ANSWER_NOT_ENOUGH),  # offered the top-up
    (DeploymentStateError("renewed"), RENEW_ANSWERS, texts.ANSWER_STALE_RENEW),
    (DeploymentNotFound("gone"), RENEW_ANSWERS, texts.ANSWER_UNKNOWN_DEPLOYMENT),
])
def test_each_refusal_gets_its_answer(refusal: Exception, answers: dict | None, told: str) -> None:
    assert refusal_answer(refusal, answers) == told  # type: ignore[arg-type]
