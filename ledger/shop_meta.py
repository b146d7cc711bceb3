"""Facts about this shop kept in its database: the shop id that makes its grid names its own.

Two shops on one tfcmd login (one wallet, one twin) see each other's contracts; a name that
starts with the shop's id keeps `get(name)` from adopting, and a cancel from removing, the
other shop's VM, and survives a fresh start only with the database it belongs to.
"""

from __future__ import annotations

import secrets
import sqlite3

SHOP_ID_KEY = "shop_id"
SHOP_ID_BYTES = 4  # 8 lowercase hex digits: "gs<shop>_<deployment id>" stays well within 43


def shop_id(conn: sqlite3.Connection) -> str:
    """This shop's id, created (once, at random) the first time it is asked for."""
    row = conn.execute("SELECT value FROM shop_meta WHERE key = ?", (SHOP_ID_KEY,)).fetchone()
    if row is not None:
        return str(row[0])
    value = secrets.token_hex(SHOP_ID_BYTES)
    conn.execute("INSERT INTO shop_meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (SHOP_ID_KEY, value))
    return str(conn.execute("SELECT value FROM shop_meta WHERE key = ?", (SHOP_ID_KEY,)).fetchone()[0])


def read_shop_id(conn: sqlite3.Connection) -> str | None:
    """The shop id if one was made yet (reads never create it)."""
    row = conn.execute("SELECT value FROM shop_meta WHERE key = ?", (SHOP_ID_KEY,)).fetchone()
    return str(row[0]) if row is not None else None
