"""A broadcast: one message to every user who has not blocked the bot, through the outbox.

It is queued in chunks of at most CHUNK users, each chunk one write, so a broadcast to many
thousands never holds the single writer in one giant transaction while payments wait behind
it. `start` closes the admin's request and logs it together with the first chunk; `queue_next`
queues the next users in user-id order after those already queued, until every reachable user
has a message (key `broadcast:<request>:<user>`, so a repeated chunk queues nothing twice, and a
restart resumes where the last committed chunk ended: the cursor `broadcast:<request>` holds the
count and the last user queued, written with each chunk, so a chunk costs the same at the first
user as at the millionth). The n-th message is due `n // rate`
seconds after its chunk is written: the outbox worker (payments.notifier) then sends at most
`rate` a second, which keeps the bot under Telegram's ~30 messages/s overall.

The request's result says where queuing stands: QUEUING until the last chunk, then QUEUED
(the progress follower replaces it with its final count).

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import admin_state as state
from . import adminlog, cursors, outbox

__all__ = [
    "CHUNK", "QUEUED", "QUEUING", "Progress", "Queued", "key_prefix", "progress", "queue_next",
    "start",
]

CHUNK = 500
QUEUING = "queuing"
QUEUED = "queued"


@dataclass(frozen=True, slots=True)
class Queued:
    """How far queuing got: messages queued so far, and whether every user has one."""

    count: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast's messages stand in the outbox."""

    total: int
    sent: int
    blocked: int
    failed: int
    queuing: bool = False  # more users are still to be queued

    @property
    def pending(self) -> int:
        return self.total - self.sent - self.blocked - self.failed

    @property
    def finished(self) -> bool:
        return not self.queuing and self.pending == 0


def key_prefix(request_id: int) -> str:
    return f"broadcast:{request_id}:"


def _key_range(request_id: int) -> tuple[str, str]:
    # A range on the unique key index: every key with this prefix (';' follows ':').
    prefix = key_prefix(request_id)
    return prefix, prefix[:-1] + ";"


def start(
    conn: sqlite3.Connection, now: int, request: state.AdminRequest, *, text: str, rate: float,
    chunk: int = CHUNK,
) -> Queued | None:
    """Close the confirmed /broadcast request, log it and queue the first chunk; None if the
    request was closed before (a second tap)."""
    if not state.finish_request(conn, now, request.id, "done", QUEUING):
        return None
    count = conn.execute("SELECT count(*) FROM users WHERE blocked_at IS NULL").fetchone()[0]
    adminlog.record(conn, now, request.admin_id, "broadcast", f"{count} users", text[:200],
                    key=request.key)
    return queue_next(conn, now, request.id, text=text, rate=rate, chunk=chunk)


def queue_next(
    conn: sqlite3.Connection, now: int, request_id: int, *, text: str, rate: float,
    chunk: int = CHUNK,
) -> Queued:
    """Queue the broadcast to the next `chunk` reachable users after those already queued."""
    count, last = _where_queuing_stands(conn, request_id)
    recipients = [r[0] for r in conn.execute(
        "SELECT user_id FROM users WHERE blocked_at IS NULL AND user_id > ? ORDER BY user_id "
        "LIMIT ?", (last if last is not None else -(2**63), chunk),
    )]
    per_second = max(1, int(rate))
    prefix = key_prefix(request_id)
    for index, user_id in enumerate(recipients, start=count):
        outbox.enqueue(conn, now, user_id, text, key=f"{prefix}{user_id}",
                       delay_s=index // per_second)
    complete = len(recipients) < chunk
    if recipients:
        cursors.put(conn, now, _cursor_name(request_id), f"{count + len(recipients)} {recipients[-1]}")
    if complete:  # only once: the follower's final count must not be overwritten
        conn.execute("UPDATE admin_requests SET result = ?, updated_at = ? WHERE id = ? AND result = ?",
                     (QUEUED, now, request_id, QUEUING))
    return Queued(count + len(recipients), complete)


def _cursor_name(request_id: int) -> str:
    return f"broadcast:{request_id}"


def _where_queuing_stands(conn: sqlite3.Connection, request_id: int) -> tuple[int, int | None]:
    """(messages queued so far, the last user queued), from the stored cursor in O(1); counted
    from the outbox for a broadcast queued before cursors were kept."""
    stored = cursors.get(conn, _cursor_name(request_id))
    if stored is not None:
        count, last = stored.split()
        return int(count), int(last)
    low, high = _key_range(request_id)
    count, last = conn.execute(
        "SELECT count(*), max(chat_id) FROM notifications WHERE key >= ? AND key < ?", (low, high),
    ).fetchone()
    return int(count), last


def progress(conn: sqlite3.Connection, request_id: int) -> Progress:
    counts = dict(conn.execute(
        "SELECT state, count(*) FROM notifications WHERE key >= ? AND key < ? GROUP BY state",
        _key_range(request_id),
    ).fetchall())
    queuing = state.get_request(conn, request_id).result == QUEUING
    return Progress(sum(counts.values()), counts.get("sent", 0), counts.get("blocked", 0),
                    counts.get("failed", 0), queuing)
