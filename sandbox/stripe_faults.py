"""Failures of Stripe's API a test can plan: a 500 on the next call, an answer lost after the
request was applied, and Stripe's clock running ahead (see `StripeCore.clock_offset`).

Both planned failures follow Stripe's documented behaviour
(https://docs.stripe.com/api/idempotent_requests, "Idempotent requests"): "Idempotency works
by saving the resulting status code and body of the first request made for any given
idempotency key, regardless of whether it succeeds or fails. Subsequent requests with the
same key return the same result, including 500 errors." So a planned 500 is stored under the
request's key and replayed to every retry with that key, and a lost answer leaves the applied
result stored, so a retry with the same key gets it back. Without a key nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR_500 = "error_500"  # answer 500 api_error without applying the request
LOST_ANSWER = "lost_answer"  # apply the request, then drop the connection unanswered
KINDS = (ERROR_500, LOST_ANSWER)


@dataclass
class PlannedFault:
    kind: str
    method: str
    path: str  # the request path must start with this
    remaining: int = 1


class Faults:
    """The planned failures, consumed by the requests they match, oldest plan first."""

    def __init__(self) -> None:
        self.planned: list[PlannedFault] = []

    def plan(self, kind: str, path: str, method: str = "POST", times: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"fault must be one of {', '.join(KINDS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        self.planned.append(PlannedFault(kind, method.upper(), path, times))

    def take(self, method: str, path: str) -> str | None:
        """The fault for this request, if one is planned (and count it as used)."""
        for fault in self.planned:
            if fault.method == method and path.startswith(fault.path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.planned.remove(fault)
                return fault.kind
        return None
