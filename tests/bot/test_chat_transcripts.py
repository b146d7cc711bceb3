"""docs/chat.md is what the chat really says: the journeys run again against the emulators and
the page must come out the same, so a change of a text or a flow shows up in the docs."""

from __future__ import annotations

import difflib

from bot.chat_transcripts import PAGE, write_transcripts


async def test_docs_chat_page_matches_a_fresh_run() -> None:
    page = await write_transcripts()
    old = PAGE.read_text(encoding="utf-8")
    diff = "".join(difflib.unified_diff(old.splitlines(True), page.splitlines(True),
                                        "docs/chat.md", "a fresh run", n=1))
    assert page == old, f"docs/chat.md no longer matches the chat; run python -m bot.chat_transcripts\n{diff}"
