"""The sandbox's web chat: a Telegram-like page over the emulators (see server.py)."""
