"""Admins see the admin commands in Telegram's command menu of their own chat; users do not."""

from __future__ import annotations

from pathlib import Path

from sandbox.telegram_api import TelegramEmulator

from .admin_fixtures import make_front


async def test_admin_menu_is_set_for_admins_only(emu: TelegramEmulator, tmp_path: Path) -> None:
    front = make_front(emu, tmp_path)
    await front.start()
    try:
        users_menu = [c["command"] for c in emu.commands()]
        assert "stats" not in users_menu and "broadcast" not in users_menu
        assert {"start", "buy", "balance", "sshkey"} <= set(users_menu)
        admin_menu = [c["command"] for c in emu.commands({"type": "chat", "chat_id": front.admin})]
        assert {"start", "buy", "admin", "stats", "credit", "refund", "broadcast", "audit"} <= set(admin_menu)
        assert len(admin_menu) == len(set(admin_menu))  # "service" and "cancel" appear once
    finally:
        await front.stop()
