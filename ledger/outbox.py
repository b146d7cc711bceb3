"""The notification outbox: messages to users, queued in the same transaction as the change
they report, and sent later by a worker with retries.

A message is queued with `enqueue` inside a ledger write (so a credited payment and its receipt
commit together), claimed by the sender with `due`, then marked `sent`, retried with a delay,
or marked `blocked` (the user blocked the bot) or `failed` (gave up).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from core import i18n

from . import users
from .rows import inserted_id

# Earlier than any message's `next_attempt_at` (unix seconds).
_MIN_TIME = -(2**62)

_COLUMNS = (
    "id, key, chat_id, text, reply_markup, parse_mode, edit_message_id, state, attempts, "
    "next_attempt_at, last_error, message_id, created_at, sent_at"
)


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    key: str | None
    chat_id: int
    text: str
    reply_markup: str | None  # JSON of an InlineKeyboardMarkup, or None
    parse_mode: str | None
    edit_message_id: int | None  # edit this message instead of sending a new one
    state: str
    attempts: int
    next_attempt_at: int
    last_error: str | None
    message_id: int | None
    created_at: int
    sent_at: int | None

    @property
    def markup(self) -> dict[str, Any] | None:
        return json.loads(self.reply_markup) if self.reply_markup else None


# A message's text, or how to write it: a function of no arguments, called in the recipient's
# language when the message is queued (`users.locale`), so each user reads their own language.
Text: TypeAlias = str | Callable[[], str]


# Buttons under a message, or how to write them (their labels, in the recipient's language).
Markup: TypeAlias = dict[str, Any] | Callable[[], dict[str, Any] | None] | None


def _markup(conn: sqlite3.Connection, chat_id: int, markup: Markup) -> dict[str, Any] | None:
    if markup is None or isinstance(markup, dict):
        return markup
    with i18n.using(users.locale(conn, chat_id)):
        return markup()


def render(conn: sqlite3.Connection, chat_id: int, text: Text) -> str:
    """`text` as the user `chat_id` reads it."""
    if isinstance(text, str):
        return text
    with i18n.using(users.locale(conn, chat_id)):
        return text()


def enqueue(
    conn: sqlite3.Connection,
    now: int,
    chat_id: int,
    text: Text,
    *,
    key: str | None = None,
    reply_markup: Markup = None,
    parse_mode: str | None = None,
    edit_message_id: int | None = None,
    delay_s: int = 0,
) -> int:
    """Queue a message; with `key`, at most one message per key is ever queued. Returns its id."""
    if key is not None:
        row = conn.execute("SELECT id FROM notifications WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return int(row[0])
    cur = conn.execute(
        "INSERT INTO notifications (key, chat_id, text, reply_markup, parse_mode, edit_message_id,"
        " state, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id",
        (key, chat_id, render(conn, chat_id, text), _json(_markup(conn, chat_id, reply_markup)), parse_mode,
         edit_message_id, now + delay_s, now),
    )
    return inserted_id(cur)


def _json(markup: dict[str, Any] | None) -> str | None:
    return json.dumps(markup) if markup else None


def queued(conn: sqlite3.Connection, key: str) -> bool:
    """Whether a message with this key was ever queued."""
    return conn.execute("SELECT 1 FROM notifications WHERE key = ?", (key,)).fetchone() is not None


def due(conn: sqlite3.Connection, now: int, limit: int, lease_s: int = 60,
        chat_id: int | None = None) -> list[Notification]:
    """Claim up to `limit` pending messages whose time has come, oldest first (only those to
    `chat_id`, when given: a chat answering its user sends what it just queued for them).

    Claiming pushes `next_attempt_at` out by `lease_s`, so a sender that crashes mid-send lets
    the message be retried after the lease instead of losing it. The batch is in the order the
    messages were queued, so two edits of one message go out oldest first (`mark_sent`).
    """
    chat = "" if chat_id is None else f" AND chat_id = {int(chat_id)}"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM notifications WHERE state = 'pending' AND next_attempt_at <= ?{chat} "
        "ORDER BY next_attempt_at, id LIMIT ?",
        (now, limit),
    ).fetchall()
    if rows:
        conn.executemany(
            "UPDATE notifications SET next_attempt_at = ? WHERE id = ?",
            [(now + lease_s, row[0]) for row in rows],
        )
    return sorted((Notification(*row) for row in rows), key=lambda n: n.id)


def mark_sent(
    conn: sqlite3.Connection, now: int, notification_id: int, message_id: int | None,
    sent_text: str | None = None,
) -> None:
    """Record the message as sent. With `sent_text` (what was sent): if the message was
    rewritten while it was being sent (`rewrite_pending`), its latest text follows as an edit.

    An edit replaces the message's whole text and buttons, so an older edit of the same message
    still waiting (its sender died holding its lease, or Telegram failed it and it waits for its
    retry) would only put an outdated status back when it went out: it is done with, marked
    sent without being sent (`last_error` says by which)."""
    conn.execute(
        "UPDATE notifications SET state = 'sent', sent_at = ?, message_id = ?, "
        "attempts = attempts + 1 WHERE id = ?",
        (now, message_id, notification_id),
    )
    sent = get(conn, notification_id)
    if sent is not None and sent.edit_message_id is not None and message_id is not None:
        # `next_attempt_at` bounded so the statement reads the pending messages' own index.
        conn.execute(
            "UPDATE notifications SET state = 'sent', sent_at = ?, message_id = ?, last_error = ? "
            "WHERE state = 'pending' AND next_attempt_at >= ? AND chat_id = ? "
            "AND edit_message_id = ? AND id < ?",
            (now, message_id, f"superseded by notification {sent.id}", _MIN_TIME, sent.chat_id,
             message_id, sent.id),
        )
    if sent is None or sent_text is None or message_id is None or sent.text == sent_text:
        return
    enqueue(conn, now, sent.chat_id, sent.text, reply_markup=sent.markup, parse_mode=sent.parse_mode,
            edit_message_id=message_id, key=f"{sent.key}:latest" if sent.key else None)


def rewrite_pending(conn: sqlite3.Connection, key: str, text: Text,
                    reply_markup: dict[str, Any] | None = None) -> bool:
    """Give the message with `key` a newer text (and buttons) while it is not sent yet (a
    status that moved on before its message went out). False when no such message waits."""
    row = conn.execute("SELECT id, chat_id FROM notifications WHERE key = ? AND state = 'pending'", (key,)).fetchone()
    if row is None:
        return False
    conn.execute("UPDATE notifications SET text = ?, reply_markup = ? WHERE id = ?",
                 (render(conn, row[1], text), json.dumps(reply_markup) if reply_markup else None, row[0]))
    return True


def mark_retry(
    conn: sqlite3.Connection, now: int, notification_id: int, delay_s: int, error: str,
    max_attempts: int,
) -> str:
    """Record a failed attempt; retry after `delay_s`, or give up after `max_attempts`."""
    row = conn.execute("SELECT attempts FROM notifications WHERE id = ?", (notification_id,)).fetchone()
    attempts = (row[0] if row else 0) + 1
    state = "failed" if attempts >= max_attempts else "pending"
    conn.execute(
        "UPDATE notifications SET attempts = ?, state = ?, next_attempt_at = ?, last_error = ? "
        "WHERE id = ?",
        (attempts, state, now + delay_s, error[:500], notification_id),
    )
    return state


def mark_blocked(conn: sqlite3.Connection, now: int, notification_id: int, chat_id: int) -> None:
    """The user blocked the bot: stop this message and remember it for later ones."""
    conn.execute(
        "UPDATE notifications SET state = 'blocked', attempts = attempts + 1, "
        "last_error = 'bot was blocked by the user' WHERE id = ?",
        (notification_id,),
    )
    conn.execute(
        "UPDATE users SET blocked_at = ?, updated_at = ? WHERE user_id = ? AND blocked_at IS NULL",
        (now, now, chat_id),
    )


def get(conn: sqlite3.Connection, notification_id: int) -> Notification | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM notifications WHERE id = ?", (notification_id,)).fetchone()
    return Notification(*row) if row is not None else None


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM notifications GROUP BY state").fetchall())
