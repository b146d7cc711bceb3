"""The consumer of the Stripe inbox: applies the events the webhook accepted durably.

`StripeInbox.accept` stores a verified event (one INSERT in the group commit) so the webhook can
answer 200 after that COMMIT; `run` (started and stopped with the web application) claims due
rows and applies each as the webhook would inline (`handle_event`: read back from Stripe with
the shop's key, one ledger write that marks the event applied), then deletes it. When Stripe or
the database fails, the row is tried again after a backoff (`ledger.stripe_inbox.BACKOFF_S`),
however long the outage lasts: Stripe was told 200 and will not deliver it again.

While the webhook has requests in flight the consumer keeps to `quiet` events at a time, so a
burst is acknowledged first and credited right after; idle, it runs `full` at a time, from a
backlog it claims ahead (one claim write per batch, not per event).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from functools import partial

import stripe

from ledger import Ledger, StoreError, stripe_inbox
from ledger.stripe_events import Outcome, Policy

from .stripe_dispatch import RetryLater, handle_event

log = logging.getLogger(__name__)

LEASE_S = 600  # a claim outlives any read-back (the SDK's timeout) and write; a dead claimer's
# rows are claimed again at start (SQLite) or when its instance lock is gone (PostgreSQL).
STOP_WAIT_S = 10.0  # how long stop() lets the events being applied finish
IDLE_POLL_S = 5.0  # looks for due retries and other instances' lapsed claims this often


class StripeInbox:
    """Durable acceptance of verified events and their application in the background."""

    def __init__(
        self, ledger: Ledger, policy: Policy, client: stripe.StripeClient | None, *,
        owner: int | None = None, on_applied: Callable[[str], None] = lambda event_id: None,
        quiet: int = 2, full: int = 64,
    ) -> None:
        self.ledger, self.policy, self.client = ledger, policy, client
        self.owner = owner  # this instance's id on PostgreSQL; None: the only instance
        self.on_applied = on_applied
        self.quiet, self.full = quiet, full
        # Set while the webhook has no request in flight (the webhook sets and clears it).
        self.idle = asyncio.Event()
        self.idle.set()
        self._wake = asyncio.Event()  # an event was accepted
        self._low = asyncio.Event()  # a worker took a claimed event
        self._claimed: asyncio.Queue[stripe_inbox.Queued] = asyncio.Queue()
        self._held: dict[str, stripe_inbox.Queued] = {}  # taken by a worker, not started
        self._tasks: set[asyncio.Task[None]] = set()  # events being applied
        self._loops: list[asyncio.Task[None]] = []

    @property
    def busy(self) -> bool:
        """Events are claimed or being applied: a new one should queue behind them."""
        return bool(self._tasks or self._held or not self._claimed.empty())

    async def accept(self, event_id: str, kind: str, body: str) -> bool:
        """Store the verified event durably; False if it was applied or queued already.
        Raises `RetryLater` when the database cannot take it."""
        try:
            new = await self.ledger.write(partial(stripe_inbox.accept, event_id=event_id,
                                                  kind=kind, payload=body))
        except StoreError as exc:
            raise RetryLater(f"ledger unavailable: {exc}") from exc
        if new:
            self._wake.set()
        return new

    def start(self) -> None:
        self._loops = [asyncio.create_task(self._claim_loop(), name="stripe-inbox")]
        self._loops += [asyncio.create_task(self._work(n), name=f"stripe-inbox-{n}")
                        for n in range(self.full)]

    async def stop(self) -> None:
        """Stop claiming, let the events being applied finish, and release the claims of the
        ones not started (another instance, or the next start, applies them)."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        if self._tasks:  # a read-back stuck on Stripe does not hold the shutdown for long:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
            for task in stuck:  # its row stays claimed: the next start (or another instance)
                task.cancel()  # applies it, and applying twice changes nothing
            await asyncio.gather(*stuck, return_exceptions=True)
        left = list(self._held)
        self._held.clear()
        while not self._claimed.empty():
            left.append(self._claimed.get_nowait().event_id)
        if left:
            try:
                await self.ledger.write(lambda conn, now: stripe_inbox.release(conn, left))
            except StoreError as exc:  # their leases lapse; on SQLite the next start frees them
                log.warning("stripe inbox: %d claim(s) not released: %s", len(left), exc)

    async def _claim_loop(self) -> None:
        """Keep `full` to `2 * full` due events claimed ahead of the workers."""
        if self.owner is None:
            await self._release_claims()
        while True:
            backlog = self._claimed.qsize() + len(self._held)
            # While the webhook answers a burst, claim only what the quiet workers apply.
            target = 2 * self.full if self.idle.is_set() else self.quiet + 1
            if backlog >= target:
                self._low.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._low.wait(), 0.1)
                continue
            self._wake.clear()  # an event accepted from now on wakes _sleep
            try:
                rows = await self.ledger.write(partial(
                    stripe_inbox.claim, limit=target - backlog, lease_s=LEASE_S,
                    owner=self.owner))
            except StoreError as exc:
                log.warning("stripe inbox: cannot claim events now: %s", exc)
                rows = []
            for row in rows:
                self._claimed.put_nowait(row)
            if not rows:
                await self._sleep()

    async def _work(self, n: int) -> None:
        while True:
            row = await self._claimed.get()
            self._low.set()
            if n >= self.quiet:  # all but `quiet` workers wait while the webhook is answering
                self._held[row.event_id] = row
                await self.idle.wait()
                del self._held[row.event_id]
            task = asyncio.ensure_future(self._apply(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            await asyncio.shield(task)  # stop() waits for it; a cancelled worker leaves it be

    async def _release_claims(self) -> None:
        try:
            released = await self.ledger.write(lambda conn, now: stripe_inbox.release_all(conn))
        except StoreError as exc:
            log.warning("stripe inbox: cannot release old claims now: %s", exc)
            return
        if released:
            log.warning("stripe inbox: %d event(s) claimed before a crash are claimed again",
                        released)

    async def _sleep(self) -> None:
        """Until an event is accepted, the next retry falls due, or the idle poll."""
        timeout = IDLE_POLL_S
        try:
            due = await self.ledger.read(stripe_inbox.next_due)
        except StoreError:
            due = None
        if due is not None:
            timeout = min(timeout, max(0.05, due - self.ledger.now()))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    async def _apply(self, row: stripe_inbox.Queued) -> None:
        try:
            raw = json.loads(row.payload)
            outcome: Outcome = await handle_event(self.ledger, raw, self.policy, self.client)
        except RetryLater as exc:
            await self._retry(row, str(exc))
            return
        except Exception as exc:  # a bug: keep the event queued, loudly, rather than lose it
            log.exception("stripe event %s (%s) from the inbox failed", row.event_id, row.kind)
            await self._retry(row, f"{type(exc).__name__}: {exc}")
            return
        try:
            await self.ledger.write(lambda conn, now: stripe_inbox.done(conn, row.event_id))
        except StoreError as exc:  # applied; the row is met again and answered as a duplicate
            log.warning("stripe event %s applied but still in the inbox: %s", row.event_id, exc)
        if outcome.marked_applied:
            self.on_applied(row.event_id)
        log.info("stripe event %s (%s): %s %s", row.event_id, row.kind, outcome.status,
                 outcome.detail)

    async def _retry(self, row: stripe_inbox.Queued, error: str) -> None:
        try:
            delay = await self.ledger.write(partial(stripe_inbox.retry_later,
                                                    event_id=row.event_id, error=error))
        except StoreError as exc:
            log.warning("stripe event %s not applied now (%s); cannot reschedule: %s",
                        row.event_id, error, exc)
            return
        log.warning("stripe event %s (%s) not applied now, attempt %d; again in %d s: %s",
                    row.event_id, row.kind, row.attempts + 1, delay, error)
