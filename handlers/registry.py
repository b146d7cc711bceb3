"""Wire every chat handler into an `Application`, in order.

More handlers (`Extension = (application, shop) -> None`) are installed after the
shop's handlers and before the catch-all for unknown buttons and text, so a newly registered
callback action or command is reached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from core import i18n

from . import (
    admin,
    buy,
    catalog,
    commands,
    deployments,
    language,
    payments,
    send,
    sshkey,
    texts,
    topup,
    typed,
    vm_names,
)
from .callbacks import pattern
from .common import answer
from .deps import CustomContext, Shop, ShopApplication
from .errors import on_error

log = logging.getLogger(__name__)

__all__ = ["Extension", "install", "set_commands"]

Extension = Callable[[ShopApplication, Shop], None]


async def unknown_button(update: Update, context: CustomContext) -> None:
    """Any button we do not (or no longer) understand: say so, change nothing."""
    if update.callback_query is not None:
        await answer(update.callback_query, texts.ANSWER_INVALID, alert=True)


def user_menu() -> list[BotCommand]:
    """The users' commands, described in the current language."""
    return [BotCommand(name, i18n.gettext(text)) for name, text in texts.COMMANDS]


def admin_menu() -> list[BotCommand]:
    """The users' commands, then the admin commands they lack (one entry per command name)."""
    menu = {command.command: command for command in user_menu()}
    for syntax, text in admin.ADMIN_COMMANDS:
        name = syntax.split()[0].lstrip("/")
        menu.setdefault(name, BotCommand(name, i18n.gettext(text)))
    return list(menu.values())


async def set_commands(application: Application) -> None:  # type: ignore[type-arg]
    """setMyCommands: the menu Telegram shows users, once per language (English for any
    language_code without its own); admins get theirs in their own chats."""
    bot = application.bot
    admin_ids = application.shop.config.admin.user_ids if isinstance(application, ShopApplication) else ()
    for locale in i18n.LOCALES:
        language_code = None if locale == i18n.DEFAULT else locale
        with i18n.using(locale):
            await bot.set_my_commands(user_menu(), language_code=language_code)
            for admin_id in admin_ids:
                try:
                    await bot.set_my_commands(admin_menu(), scope=BotCommandScopeChat(admin_id),
                                              language_code=language_code)
                except TelegramError as exc:  # e.g. an admin who never opened the bot's chat yet
                    log.warning("could not set the admin command menu for %s: %s", admin_id, exc)


def install(application: ShopApplication, extra: Iterable[Extension] = ()) -> None:
    shop = application.shop
    add = application.add_handler
    private = filters.ChatType.PRIVATE

    add(TypeHandler(Update, commands.record_user), group=-1)
    add(ChatMemberHandler(commands.chat_member, ChatMemberHandler.MY_CHAT_MEMBER))

    # Payments first: no chat for pre-checkout, and a payment message is not text.
    add(PreCheckoutQueryHandler(payments.pre_checkout))
    add(MessageHandler(filters.SUCCESSFUL_PAYMENT, payments.successful_payment))
    add(MessageHandler(filters.StatusUpdate.REFUNDED_PAYMENT, payments.refunded_payment))

    # Before anything reads it: a private key pasted by mistake is deleted, never handled.
    pasted_key = filters.Regex(sshkey.PRIVATE_KEY) | filters.CaptionRegex(sshkey.PRIVATE_KEY)
    add(MessageHandler(private & pasted_key, sshkey.private_key_sent))
    add(CommandHandler("start", commands.start, filters=private))
    add(CommandHandler("help", commands.help_command, filters=private))
    add(CommandHandler(["services", "buy"], catalog.services, filters=private))
    add(CommandHandler("balance", commands.balance, filters=private))
    add(CommandHandler("history", commands.history, filters=private))
    add(CommandHandler("topup", topup.topup, filters=private))
    add(CommandHandler("orders", commands.orders, filters=private))
    add(CommandHandler("deployments", deployments.deployments, filters=private))
    add(CommandHandler("cancel", commands.cancel, filters=private))
    add(CommandHandler("sshkey", sshkey.sshkey, filters=private))
    add(CommandHandler("paysupport", commands.paysupport, filters=private))
    add(CommandHandler("support", commands.support, filters=private))
    add(CommandHandler("terms", commands.terms, filters=private))
    add(CommandHandler("send", send.send_command, filters=private))
    add(CommandHandler("language", language.language, filters=private))

    for action, callback in (
        ("menu", commands.menu_button), ("bal", commands.balance), ("hist", commands.history),
        ("cat", catalog.catalog_page), ("svc", catalog.service_card), ("buy", buy.buy),
        ("pay", payments.pay), ("ok", buy.confirm), ("topd", buy.topup_difference),
        ("cancel", buy.cancel_order), ("topm", topup.topup), ("top", topup.preset),
        ("topc", topup.ask_custom), ("ord", commands.order_button), ("ords", commands.orders),
        ("send", send.send_button), ("lang", language.choose),
        *deployments.ACTIONS, *vm_names.ACTIONS,
    ):
        add(CallbackQueryHandler(callback, pattern=pattern(action)))

    admin.install(application)
    for extension in extra:
        extension(application, shop)

    add(CallbackQueryHandler(unknown_button))
    add(MessageHandler(private & filters.COMMAND, commands.unknown_command))
    add(MessageHandler(private & filters.TEXT & ~filters.COMMAND, typed.typed_text))
    application.add_error_handler(on_error)
