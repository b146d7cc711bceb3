"""The admin's command menu and the /admin menu: admins see their commands in Telegram's
command menu of their own chat, under names of their own (the user commands stay theirs too),
and every screen of the /admin menu is the menu message itself, edited, with a way back."""

from __future__ import annotations

from pathlib import Path

from handlers import admin_texts, texts
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .admin_fixtures import AdminFront, admin_shop, make_front  # noqa: F401  (fixture)

BACK = "v1:admenu:menu"


async def test_admin_menu_is_set_for_admins_only(emu: TelegramEmulator, tmp_path: Path) -> None:
    front = make_front(emu, tmp_path)
    await front.start()
    try:
        users_menu = {c["command"]: c["description"] for c in emu.commands()}
        assert "stats" not in users_menu and "broadcast" not in users_menu and "fleet" not in users_menu
        assert {"start", "buy", "balance", "sshkey", "deployments", "services", "cancel"} <= set(users_menu)
        admin_menu = [c["command"] for c in emu.commands({"type": "chat", "chat_id": front.admin})]
        assert {"start", "buy", "admin", "stats", "credit", "refund", "broadcast", "audit", "fleet", "cancelvm",
                "service"} <= set(admin_menu)
        assert len(admin_menu) == len(set(admin_menu))  # "service" appears once
        # The admin keeps the user commands, described as users see them.
        admin_described = {c["command"]: c["description"]
                           for c in emu.commands({"type": "chat", "chat_id": front.admin})}
        for name in ("deployments", "services", "cancel"):
            assert admin_described[name] == users_menu[name]
    finally:
        await front.stop()


def test_no_admin_command_takes_the_name_of_a_user_command() -> None:
    admin_names = {syntax.split()[0].lstrip("/") for syntax, _ in admin_texts.ADMIN_COMMANDS}
    user_names = {name for name, _ in texts.COMMANDS}
    assert not admin_names & user_names


async def test_the_admins_deployments_services_and_cancel_are_the_users(admin_shop: AdminFront) -> None:
    """An admin is a user of the shop too: /deployments are their VMs, /services the catalogue."""
    mine = await admin_shop.send(admin_shop.admin, "/deployments")
    assert "no VMs" in mine.text
    catalog = await admin_shop.send(admin_shop.admin, "/services")
    assert catalog.buttons[0]["callback_data"] == "v1:svc:vm-small"
    plain = await admin_shop.send(admin_shop.admin, "/cancel 1")
    assert "VM" not in plain.text and "Usage" not in plain.text


def _chat(front: AdminFront) -> list[ChatMessage]:
    """What the admin's chat shows from the bot now (deleted messages gone)."""
    return front.emu.bot_messages(front.admin)


async def _tap(front: AdminFront, message_id: int, item: str) -> None:
    await front.press(front.admin, message_id, data=f"v1:admenu:{item}")


async def test_every_menu_screen_edits_the_menu_message_and_leads_back(admin_shop: AdminFront) -> None:
    admin = admin_shop.admin
    menu = await admin_shop.admin_says("/admin")
    assert "Admin menu" in menu.text and BACK not in [b["callback_data"] for b in menu.buttons]
    for item, shows in (("deps", "🖥 Fleet:"), ("svcs", "🛒 Services"), ("audit", "audit ok"),
                        ("log", "📜 Admin log"), ("help", "/cancelvm <VM id>")):
        await _tap(admin_shop, menu.message_id, item)
        screen = await admin_shop.wait_text(admin, menu.message_id, shows)
        assert [m.message_id for m in _chat(admin_shop)] == [menu.message_id], item
        assert screen.buttons[-1]["callback_data"] == BACK, item
        await _tap(admin_shop, menu.message_id, "menu")
        back = await admin_shop.wait_text(admin, menu.message_id, "Admin menu")
        assert [b["callback_data"] for b in back.buttons] == [b["callback_data"] for b in menu.buttons]
    assert [m.message_id for m in _chat(admin_shop)] == [menu.message_id]
    assert not [c for c in admin_shop.emu.calls if c.method in ("sendMessage", "sendPhoto")
                and c.params.get("chat_id") == str(admin) and "Admin menu" not in c.params.get("text", "")]


async def test_the_stats_chart_takes_the_menus_place_and_gives_it_back(admin_shop: AdminFront) -> None:
    admin = admin_shop.admin
    menu = await admin_shop.admin_says("/admin")
    await _tap(admin_shop, menu.message_id, "stats")
    chart = await admin_shop.emu.wait_for(lambda: next(
        (m for m in _chat(admin_shop) if m.message_id == menu.message_id and m.data.get("photo")), None))
    assert "Last 30 days" in chart.caption and "text" not in chart.data
    assert chart.buttons[-1]["callback_data"] == BACK
    assert [m.message_id for m in _chat(admin_shop)] == [menu.message_id]
    # Telegram edits no photo back into text: the menu comes back as the one message, the chart gone.
    await _tap(admin_shop, menu.message_id, "menu")
    again = await admin_shop.emu.wait_for(lambda: next(
        (m for m in _chat(admin_shop) if "Admin menu" in (m.text or "")), None))
    await admin_shop.emu.wait_for(lambda: [m.message_id for m in _chat(admin_shop)] == [again.message_id])
    # From the new menu the chart is an edit again.
    await _tap(admin_shop, again.message_id, "stats")
    await admin_shop.emu.wait_for(lambda: admin_shop.current(admin, again.message_id).data.get("photo"))
    assert [m.message_id for m in _chat(admin_shop)] == [again.message_id]


async def test_a_double_tap_on_a_menu_button_shows_the_screen_once(admin_shop: AdminFront) -> None:
    import asyncio

    menu = await admin_shop.admin_says("/admin")
    answers = await asyncio.gather(*(_tap(admin_shop, menu.message_id, "log") for _ in range(2)))
    assert len(answers) == 2
    await admin_shop.wait_text(admin_shop.admin, menu.message_id, "admin log is empty")
    await admin_shop.settled(admin_shop.admin)
    assert [m.message_id for m in _chat(admin_shop)][:1] == [menu.message_id]
