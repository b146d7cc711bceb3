"""Telegram users as the shop knows them: profile, and whether they blocked the bot."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.i18n import negotiate


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    username: str | None
    first_name: str
    language: str | None
    blocked_at: int | None
    created_at: int
    updated_at: int


_COLUMNS = "user_id, username, first_name, language, blocked_at, created_at, updated_at"


def upsert(
    conn: sqlite3.Connection, now: int, user_id: int, username: str | None, first_name: str,
    language: str | None = None,
) -> None:
    """Remember a user seen in a chat; a user who writes to us has not blocked the bot."""
    conn.execute(
        "INSERT INTO users (user_id, username, first_name, language, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET username = excluded.username,"
        " first_name = excluded.first_name, language = excluded.language, blocked_at = NULL,"
        " updated_at = excluded.updated_at",
        (user_id, username, first_name, language, now, now),
    )


def record_membership(
    conn: sqlite3.Connection, now: int, user_id: int, username: str | None, first_name: str,
    language: str | None, blocked: bool,
) -> None:
    """The user blocked (`blocked`) or unblocked the bot in their private chat."""
    upsert(conn, now, user_id, username, first_name, language)
    set_blocked(conn, now, user_id, blocked)


def set_ssh_key(conn: sqlite3.Connection, now: int, user_id: int, key: str | None) -> None:
    """Remember (or, with None, forget) the SSH public key put on the user's next VMs."""
    conn.execute(
        "INSERT INTO users (user_id, ssh_key, created_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET ssh_key = excluded.ssh_key, updated_at = excluded.updated_at",
        (user_id, key, now, now),
    )


def ssh_key(conn: sqlite3.Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT ssh_key FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return row[0] if row is not None else None


def set_locale(conn: sqlite3.Connection, now: int, user_id: int, locale: str) -> None:
    """Remember the language the user chose (/language); it wins over Telegram's language_code."""
    conn.execute(
        "INSERT INTO users (user_id, locale, created_at, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET locale = excluded.locale, updated_at = excluded.updated_at",
        (user_id, locale, now, now),
    )


def locale(conn: sqlite3.Connection, user_id: int) -> str:
    """The language to speak to the user in: their choice, else their Telegram language_code,
    else English (`core.i18n.negotiate`)."""
    row = conn.execute("SELECT locale, language FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return negotiate(*row) if row is not None else negotiate(None, None)


def set_blocked(conn: sqlite3.Connection, now: int, user_id: int, blocked: bool) -> None:
    conn.execute(
        "UPDATE users SET blocked_at = ?, updated_at = ? WHERE user_id = ?",
        (now if blocked else None, now, user_id),
    )


def get(conn: sqlite3.Connection, user_id: int) -> User | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return User(*row) if row is not None else None


def by_username(conn: sqlite3.Connection, username: str) -> User | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE username = ? COLLATE NOCASE", (username.lstrip("@"),)
    ).fetchone()
    return User(*row) if row is not None else None


def reachable_ids(conn: sqlite3.Connection) -> list[int]:
    """Users who have not blocked the bot, for broadcasts."""
    return [r[0] for r in conn.execute("SELECT user_id FROM users WHERE blocked_at IS NULL ORDER BY user_id")]
