"""Signed webhook delivery for the Stripe emulator.

Stripe POSTs each event as JSON with a `Stripe-Signature: t=<unix>,v1=<hex>` header, where
v1 is HMAC-SHA256 of `"<t>.<body>"` keyed by the endpoint's signing secret. A delivery that
gets a non-2xx answer (redirects included) or a network error is retried with backoff; the
event's `pending_webhooks` counts endpoints still owed a delivery. Stripe promises neither
order nor exactly-once delivery, and `WebhookDeliverer` can be told to reorder, delay and
duplicate deliveries on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

# Stripe retries live-mode deliveries with exponential backoff for up to three days.
STRIPE_RETRY_SCHEDULE: tuple[float, ...] = (
    60, 300, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600, 16 * 3600, 24 * 3600,
)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def webhook_body(event: dict[str, Any]) -> bytes:
    """An event as Stripe POSTs it: JSON indented by two spaces (a completed Checkout
    Session's event is ~3.4 KB so; compact it would be ~2.4 KB), UTF-8. What the signature
    covers, so a benchmark or a test that signs an event itself signs these bytes."""
    return json.dumps(event, indent=2).encode()


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header value for `payload`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of an event to the webhook URL."""

    event_id: str
    event_type: str
    attempt: int  # 1 for the first try of a delivery, 2 for its first retry...
    status: int | None  # HTTP status, None on a network error or timeout
    error: str | None
    ok: bool
    at: float  # wall-clock time.time()


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    event_id: str
    attempt: int
    counts: bool  # False for extra copies (duplicates, manual redelivery)
    manual: bool = False  # a requested redelivery: success marks the event delivered


class WebhookDeliverer:
    """Delivers events to one endpoint from a due-time queue, with retries.

    `get_event(event_id)` returns the event dict to send (its current `pending_webhooks`
    included); `on_settled(event_id, ok)` is called once per counted delivery when it either
    succeeds or runs out of retries.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        get_event: Callable[[str], dict[str, Any]],
        on_settled: Callable[[str, bool], None],
        *,
        retry_schedule: Sequence[float] = STRIPE_RETRY_SCHEDULE,
        timeout: float = 10.0,
        max_concurrency: int = 1,
        duplicate_deliveries: bool = False,
        reorder: bool = False,
        delay_seconds: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.retry_schedule = tuple(retry_schedule)
        self.timeout = timeout
        self.duplicate_deliveries = duplicate_deliveries
        self.reorder = reorder
        self.delay_seconds = delay_seconds
        self.attempts: list[DeliveryAttempt] = []
        self._get_event = get_event
        self._on_settled = on_settled
        self._rng = random.Random(seed)
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._outstanding = 0  # queued, popped or in flight
        self._sem = asyncio.Semaphore(max_concurrency)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout)
        )
        self._runner = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._runner:
            self._runner.cancel()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*(t for t in [self._runner, *self._tasks] if t),
                             return_exceptions=True)
        if self._session:
            await self._session.close()

    # -------------------------------------------------------------- queueing

    def enqueue(self, event_id: str, *, counts: bool = True, manual: bool = False,
                delay: float | None = None) -> None:
        """Schedule a delivery of `event_id` (plus a duplicate copy if so configured)."""
        wait = self.delay_seconds if delay is None else delay
        self._push(event_id, 1, counts, time.monotonic() + wait, manual)
        if counts and self.duplicate_deliveries:
            self._push(event_id, 1, False, time.monotonic() + wait)

    def _push(self, event_id: str, attempt: int, counts: bool, due: float,
              manual: bool = False) -> None:
        heapq.heappush(self._heap, _Job(due, next(self._seq), event_id, attempt, counts,
                                        manual))
        self._outstanding += 1
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        """Deliveries not finished yet (queued, waiting for a retry, or in flight)."""
        return self._outstanding

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no delivery is queued, retrying or in flight."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    # -------------------------------------------------------------- worker

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            due: list[_Job] = []
            while self._heap and self._heap[0].due <= now:
                due.append(heapq.heappop(self._heap))
            if self.reorder:
                self._rng.shuffle(due)
            for job in due:
                await self._sem.acquire()
                task = asyncio.get_running_loop().create_task(self._attempt(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if due:
                continue
            self._wake.clear()
            timeout = (self._heap[0].due - now) if self._heap else None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _attempt(self, job: _Job) -> None:
        try:
            ok = await self._post(job)
            if ok:
                if job.counts or job.manual:
                    self._on_settled(job.event_id, True)
            elif job.attempt <= len(self.retry_schedule) and not job.manual:
                delay = self.retry_schedule[job.attempt - 1]
                self._push(job.event_id, job.attempt + 1, job.counts, time.monotonic() + delay)
            elif job.counts:
                self._on_settled(job.event_id, False)
        finally:
            self._outstanding -= 1
            self._sem.release()
            if self.pending == 0:
                self._idle.set()

    async def _post(self, job: _Job) -> bool:
        event = self._get_event(job.event_id)
        body = webhook_body(event)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": sign_payload(body, self.secret),
        }
        status: int | None = None
        error: str | None = None
        assert self._session is not None
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        self.attempts.append(DeliveryAttempt(
            job.event_id, event["type"], job.attempt, status, error, ok, time.time()
        ))
        return ok
