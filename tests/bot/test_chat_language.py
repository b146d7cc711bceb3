"""The shop in the user's language, through the real PTB Application and the Telegram emulator:
a user whose Telegram speaks Russian buys a VM with Stars and reads every step in Russian
(the outbox's messages included); /language switches and is kept across a restart; the command
menu exists per language; a language the shop does not speak falls back to English."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401 (the fixture)
from .conftest import SERVICES, Shopfront, make_config, make_secrets
from .test_chat_deployments import GridShop, gshop  # noqa: F401 (the fixture)

CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def _not_russian(shop: Shopfront, user_id: int) -> list[str]:
    """Every text and button label the user got that has no Russian in it (a service's own name
    and price on its catalogue button are the operator's words, not ours)."""
    names = tuple(s.name for s in shop.config.services)
    found = []
    for message in shop.emu.bot_messages(user_id):
        invoice = message.data.get("invoice")
        text = invoice["description"] if invoice else (message.text or message.caption or "")
        if not CYRILLIC.search(text):
            found.append(text)
        found += [b["text"] for b in message.buttons
                  if not CYRILLIC.search(b["text"]) and not b["text"].startswith(names)]
    return found


async def test_a_russian_speaking_user_buys_a_vm_with_stars_all_in_russian(gshop: GridShop) -> None:
    ivan = int(gshop.emu.add_user("Иван", username="ivan", language_code="ru")["id"])
    welcome = await gshop.send(ivan, "/start")
    assert welcome.text.startswith("Здравствуйте, Иван!")
    assert "Ваш баланс: доступно 0,00 TFC." in welcome.text
    catalog = await gshop.send(ivan, "/services")
    assert catalog.text == "Наши ВМ. Выберите, чтобы узнать подробности:"
    await gshop.press(ivan, catalog.message_id, data=gshop.button(catalog, "v1:svc:vm-small")["callback_data"])
    card = await gshop.wait_text(ivan, catalog.message_id, "Цена: 4,00 TFC за 30 дней")
    await gshop.press(ivan, card.message_id, data=gshop.button(card, "v1:buy:")["callback_data"])
    choices = await gshop.wait_text(ivan, catalog.message_id, "Как вы хотите оплатить?")
    assert "Заказ №1: Small VM, 30 дней, 4,00 TFC." in choices.text
    stars = next(b for b in choices.buttons if b["callback_data"].endswith(":stars"))
    assert stars["text"] == "⭐ Оплатить: 308 звёзд"
    await gshop.press(ivan, choices.message_id, data=stars["callback_data"])
    invoice = await gshop.emu.wait_for(lambda: next(
        (m for m in gshop.emu.bot_messages(ivan) if m.data.get("invoice")), None))
    assert invoice.data["invoice"]["description"] == "Заказ №1: Small VM на 30 дней (4,00 TFC)."
    paid = await gshop.emu.pay_invoice(ivan, invoice.message_id)
    assert paid.paid
    # The order message is the receipt and the VM's status, in Russian, from paid to ready.
    receipt = await gshop.wait_text(ivan, choices.message_id, "Оплачено: 308 звёзд.")
    assert receipt.text == "✅ Оплачено: 308 звёзд.\n⏳ Small VM #1: в очереди на развёртывание в сети ThreeFold."
    await gshop.deliver()
    ready = gshop.current(ivan, choices.message_id)
    assert ready.text.startswith("✅ Small VM #1: готова к работе.\nIP в Mycelium:")
    assert "автопродление выключено" in ready.text
    assert [b["text"] for b in ready.buttons] == ["🖥 Моя ВМ"]

    balance = await gshop.send(ivan, "/balance")
    assert balance.text == "Ваш баланс\nДоступно: 0,00 TFC"
    history = await gshop.send(ivan, "/history")
    assert history.text.startswith("История (сначала новые):")
    deployments = await gshop.send(ivan, "/deployments")
    assert deployments.text.startswith("Ваши ВМ (время в UTC):")
    assert _not_russian(gshop, ivan) == []


async def _language(shop: Shopfront, user_id: int, code: str) -> ChatMessage:
    prompt = await shop.send(user_id, "/language")
    assert [b["text"] for b in prompt.buttons] in (["✓ English", "Русский"], ["English", "✓ Русский"])
    answer = await shop.press(user_id, prompt.message_id, data=f"v1:lang:{code}")
    assert not answer.get("show_alert")
    return await shop.wait_text(user_id, prompt.message_id, "/language")


async def test_language_switches_and_is_kept_across_a_restart(shop: Shopfront) -> None:
    ann = shop.user("Ann")
    assert (await shop.send(ann, "/balance")).text.startswith("Your balance")
    chosen = await _language(shop, ann, "ru")
    assert chosen.text == "Теперь я говорю с вами по-русски. Сменить язык: /language."
    assert (await shop.send(ann, "/balance")).text.startswith("Ваш баланс")
    await shop.restart()
    assert (await shop.send(ann, "/balance")).text.startswith("Ваш баланс")
    assert (await _language(shop, ann, "en")).text == "From now on I speak English to you. /language changes it."
    assert (await shop.send(ann, "/balance")).text.startswith("Your balance")


async def test_an_explicit_choice_wins_over_telegrams_language(shop: Shopfront) -> None:
    olga = int(shop.emu.add_user("Olga", username="olga", language_code="ru")["id"])
    assert (await shop.send(olga, "/help")).text.startswith("Как это работает:")
    await _language(shop, olga, "en")
    assert (await shop.send(olga, "/help")).text.startswith("How it works:")


async def test_a_language_the_shop_does_not_speak_reads_english(shop: Shopfront) -> None:
    hans = int(shop.emu.add_user("Hans", username="hans", language_code="de")["id"])
    assert (await shop.send(hans, "/start")).text.startswith("Hi Hans!")
    forged = await shop.forge_press(hans, (await shop.send(hans, "/language")).message_id, "v1:lang:xx")
    assert forged["text"] == "This button is no longer valid. Please start again from the menu."
    assert (await shop.send(hans, "/balance")).text.startswith("Your balance")


async def test_the_command_menu_is_set_per_language(shop: Shopfront) -> None:
    english = {c["command"]: c["description"] for c in shop.emu.commands()}
    russian = {c["command"]: c["description"] for c in shop.emu.commands(language_code="ru")}
    assert english["language"] == "Change the language" and russian["language"] == "Сменить язык"
    assert english.keys() == russian.keys()
    assert russian["balance"] == "Ваш баланс"


async def test_a_message_queued_by_someone_elses_action_speaks_the_recipients_language(shop: Shopfront) -> None:
    alice = shop.user("Alice")
    boris = int(shop.emu.add_user("Борис", username="boris", language_code="ru")["id"])
    await shop.send(boris, "/start")
    await shop.db.record_payment("stars", "c-alice", user_id=alice, amount=1000, provider_amount=770,
                                 provider_currency="XTR")
    prompt = await shop.send(alice, "/send @boris 2.50")
    await shop.press(alice, prompt.message_id, data=shop.button(prompt, "v1:send:")["callback_data"])
    assert (await shop.wait_text(alice, prompt.message_id, "Sent 2.50 TFC to @boris")).text.endswith(
        "You have 7.50 TFC available.")
    [(told,)] = await shop.db.read(lambda conn: conn.execute(
        "SELECT text FROM notifications WHERE chat_id = ?", (boris,)).fetchall())
    assert told == "💸 Перевод от @alice_user: 2,50 TFC. Сейчас доступно: 2,50 TFC."


def _answers_not_russian(shop: Shopfront) -> list[str]:
    """The alerts and toasts (answerCallbackQuery) the bot gave that have no Russian in them."""
    return [c.params.get("text", "") for c in shop.emu.calls
            if c.method == "answerCallbackQuery" and c.params.get("text") and not CYRILLIC.search(c.params["text"])]


async def test_a_russian_speaking_user_reads_the_rest_of_the_chat_in_russian(gshop: GridShop) -> None:
    from .test_chat_buy import _fund

    vera = int(gshop.emu.add_user("Вера", username="vera", language_code="ru")["id"])
    await _fund(gshop.db, vera, 1000)
    catalog = await gshop.send(vera, "/buy")
    await gshop.press(vera, catalog.message_id, data="v1:svc:vm-small")
    await gshop.wait_text(vera, catalog.message_id, "Цена:")
    await gshop.press(vera, catalog.message_id, data="v1:buy:vm-small")
    choices = await gshop.wait_text(vera, catalog.message_id, "Как вы хотите оплатить?")
    await gshop.press(vera, catalog.message_id, data=gshop.button(choices, "v1:pay:")["callback_data"])
    confirm = await gshop.wait_text(vera, catalog.message_id, "с баланса?")
    await gshop.press(vera, catalog.message_id, data=gshop.button(confirm, "v1:ok:")["callback_data"])
    await gshop.wait_text(vera, catalog.message_id, "в очереди на развёртывание")  # the order message
    await gshop.deliver()
    await gshop.wait_text(vera, catalog.message_id, "IP в Mycelium:")
    listing = await gshop.send(vera, "/deployments")
    dep = gshop.button(listing, "v1:dep:")["callback_data"]
    await gshop.press(vera, listing.message_id, data=dep)
    screen = await gshop.wait_text(vera, listing.message_id, "IP в Mycelium:")
    await gshop.press(vera, listing.message_id, data=gshop.button(screen, "v1:dren:")["callback_data"])
    ask = await gshop.wait_text(vera, listing.message_id, "на 30 дней?")
    await gshop.press(vera, listing.message_id, data=gshop.button(ask, "v1:drenok:")["callback_data"])
    screen = await gshop.wait_text(vera, listing.message_id, "продлена за 4,00 TFC")
    await gshop.press(vera, listing.message_id, data=gshop.button(screen, "v1:dauto:")["callback_data"])
    screen = await gshop.wait_text(vera, listing.message_id, "автопродление включено")
    await gshop.press(vera, listing.message_id, data=gshop.button(screen, "v1:dcan:")["callback_data"])
    ask = await gshop.wait_text(vera, listing.message_id, "Удалить Small VM #")
    assert re.search(r"сгорит: 59 дней 23 ч|сгорит: 60 дней 0 ч", ask.text), ask.text
    await gshop.press(vera, listing.message_id, data=gshop.button(ask, "v1:dcanok:")["callback_data"])
    await gshop.wait_text(vera, listing.message_id, "удалена из сети")

    menu = await gshop.send(vera, "/topup")
    assert menu.text == "На сколько пополнить баланс? 1 TFC = 1 USD."
    await gshop.press(vera, menu.message_id, data="v1:topc")
    await gshop.wait_text(vera, menu.message_id, "Введите сумму в TFC")
    assert (await gshop.send(vera, "много")).text.startswith("Такую сумму принять нельзя.")
    await gshop.send(vera, "/cancel")
    for command, start in (("/orders", "Ваши последние заказы:"), ("/paysupport", "Помощь с оплатой"),
                           ("/sshkey", "У вас пока нет SSH-ключа"),
                           ("/sshkey нет", "Это не открытый SSH-ключ"), ("/terms", "Условия"),
                           ("/support", "Вопросы об оплате"), ("/foo", "Команда /foo мне неизвестна."),
                           ("/send", "Как пользоваться: /send"), ("привет", "Не понял вас."),
                           ("/cancel", "Отменять нечего.")):
        assert (await gshop.send(vera, command)).text.startswith(start), command
    assert _not_russian(gshop, vera) == []
    assert _answers_not_russian(gshop) == []


async def test_a_service_named_in_russian_in_the_config_is_shown_so_to_russian_readers(
        emu: TelegramEmulator, tmp_path: Path) -> None:
    services = [dict(SERVICES[0], translations={"ru": {"name": "Малая ВМ", "description": "1 vCPU, 2 ГБ ОЗУ."}}),
                SERVICES[1]]
    front = Shopfront(emu, tmp_path / "gridshop.db", make_config(tmp_path, services=services), make_secrets(emu))
    await front.start()
    try:
        ivan = int(emu.add_user("Иван", username="ivan", language_code="ru")["id"])
        catalog = await front.send(ivan, "/services")
        assert [b["text"] for b in catalog.buttons] == ["Малая ВМ · 4,00 TFC", "Medium VM · 8,50 TFC"]
        await front.press(ivan, catalog.message_id, data="v1:svc:vm-small")
        card = await front.wait_text(ivan, catalog.message_id, "Цена:")
        assert card.text.startswith("Малая ВМ\n1 vCPU, 2 ГБ ОЗУ.\n")
        ann = front.user("Ann")
        assert (await front.send(ann, "/services")).buttons[0]["text"] == "Small VM · 4.00 TFC"
    finally:
        await front.stop()


async def test_an_admin_reading_russian_gets_the_admin_screens_in_russian(admin_shop: AdminFront) -> None:
    ann = admin_shop.user("Ann")
    await admin_shop.pay_stars(ann)
    await _language(admin_shop, admin_shop.admin, "ru")
    menu = await admin_shop.admin_says("/admin")
    assert menu.text.startswith("🛠 Меню администратора")
    assert [b["text"] for b in menu.buttons][:2] == ["📊 Статистика", "🖥 Все ВМ"]
    for command, start in (("/user @ann_user", f"👤 Пользователь {ann} Ann @ann_user"),
                           ("/fleet", "🖥 Все ВМ:"), ("/service", "🛒 Услуги (✅ в продаже, ⛔ скрыта):"),
                           ("/parked", "✅ Отложенных платежей нет"), ("/adminlog", "📜 Журнал администраторов"),
                           ("/credit @ann_user 2 жест доброй воли", "Зачислить 2,00 TFC пользователю"),
                           ("/refund 1", "Вернуть пользователю"), ("/broadcast Привет", "Разослать 2 пользователям")):
        assert (await admin_shop.admin_says(command)).text.startswith(start), command
    stats = await admin_shop.admin_says("/stats 7")
    assert (stats.caption or stats.text or "").startswith("📊 За 7 дней")
    commands = {c["command"]: c["description"] for c in admin_shop.emu.commands(
        {"type": "chat", "chat_id": admin_shop.admin}, language_code="ru")}
    assert commands["fleet"] == "все ВМ магазина по состояниям" and commands["balance"] == "Ваш баланс"
    assert _not_russian(admin_shop, admin_shop.admin) == []
