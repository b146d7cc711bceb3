"""The order message: the one chat message a purchase or top-up lives in, from its payment
choices to paid, deploying and ready.

The chat remembers which message shows an order (`remember`, with what the order buys by
name); everything said about the order afterwards, by the chat, a payment webhook or the
deployment worker, edits that message (`tell`) instead of sending a new one, or sends one
when no message is known. When Telegram can no longer edit it (deleted, too old), the outbox
sends the text anew and `moved` points the order, its deployment and the edits still queued at
the new message.

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from . import outbox

__all__ = ["OrderMessage", "moved", "remember", "tell", "where"]


@dataclass(frozen=True, slots=True)
class OrderMessage:
    chat_id: int
    message_id: int


def remember(conn: sqlite3.Connection, now: int, order_id: int, chat_id: int, message_id: int,
             item_name: str | None = None) -> None:
    """Message `message_id` in `chat_id` shows order `order_id` (and it buys `item_name`)."""
    conn.execute(
        "UPDATE orders SET chat_id = ?, message_id = ?, item_name = coalesce(?, item_name), updated_at = ? "
        "WHERE id = ?",
        (chat_id, message_id, item_name, now, order_id),
    )


def where(conn: sqlite3.Connection, order_id: int) -> OrderMessage | None:
    """The message showing the order, if the chat told us of one."""
    row = conn.execute("SELECT chat_id, message_id FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    return OrderMessage(int(row[0]), int(row[1]))


def tell(conn: sqlite3.Connection, now: int, order_id: int, user_id: int, text: outbox.Text, *,
         key: str, reply_markup: dict[str, Any] | None = None) -> int:
    """Say `text` about the order in its message (an edit: its old buttons go), or in a new
    message to the user when no order message is known; once per `key`."""
    shown = where(conn, order_id)
    if shown is None:
        return outbox.enqueue(conn, now, user_id, text, key=key, reply_markup=reply_markup)
    return outbox.enqueue(conn, now, shown.chat_id, text, key=key, reply_markup=reply_markup,
                          edit_message_id=shown.message_id)


def moved(conn: sqlite3.Connection, chat_id: int, old_message_id: int, new_message_id: int) -> None:
    """A message that could not be edited was sent anew: what pointed at it points at the new one."""
    conn.execute("UPDATE orders SET message_id = ? WHERE chat_id = ? AND message_id = ?",
                 (new_message_id, chat_id, old_message_id))
    conn.execute("UPDATE deployments SET status_message_id = ? WHERE status_chat_id = ? AND status_message_id = ?",
                 (new_message_id, chat_id, old_message_id))
    conn.execute("UPDATE notifications SET edit_message_id = ? WHERE chat_id = ? AND edit_message_id = ? "
                 "AND state = 'pending'", (new_message_id, chat_id, old_message_id))
    conn.execute("UPDATE notifications SET message_id = ? WHERE chat_id = ? AND message_id = ? AND state = 'sent'",
                 (new_message_id, chat_id, old_message_id))
