"""The chat: python-telegram-bot handlers, message texts and keyboards."""
