"""/sshkey: a buyer's SSH public key, required before anything is sold when the operator set no
fallback key, and put on the VMs that buyer gets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grid.simulated import SimulatedGrid
from grid.worker import DeploymentWorker, WorkerOptions
from ledger import users
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .conftest import Shopfront, make_config, make_secrets
from .test_chat_buy import _choices, _fund, _holds

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO ada@laptop"


@pytest.fixture
async def keyless(emu: TelegramEmulator, tmp_path: Path) -> AsyncIterator[Shopfront]:
    """A shop whose operator set no `[grid] ssh_key`: each buyer must give their own."""
    front = Shopfront(emu, tmp_path / "gridshop.db", make_config(tmp_path, operator_key=False),
                      make_secrets(emu))
    await front.start()
    try:
        yield front
    finally:
        await front.stop()


async def _stored_key(shop: Shopfront, user_id: int) -> str | None:
    return await shop.db.read(lambda conn: users.ssh_key(conn, user_id))


async def test_sshkey_shows_sets_and_removes_the_key(keyless: Shopfront) -> None:
    ada = keyless.user("Ada")
    assert "no SSH key yet" in (await keyless.send(ada, "/sshkey")).text
    saved = await keyless.send(ada, f"/sshkey {KEY}")
    assert "SSH key saved: ssh-ed25519 …" in saved.text and "ada@laptop" in saved.text
    assert await _stored_key(keyless, ada) == KEY
    assert "Your SSH key: ssh-ed25519" in (await keyless.send(ada, "/sshkey")).text
    assert "removed" in (await keyless.send(ada, "/sshkey remove")).text
    assert await _stored_key(keyless, ada) is None


@pytest.mark.parametrize("bad", [
    "hello",
    "ssh-ed25519 AAAA",  # not a key body
    "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO",  # body of another type
])
async def test_a_bad_key_is_refused_and_nothing_is_stored(keyless: Shopfront, bad: str) -> None:
    bo = keyless.user("Bo")
    reply = await keyless.send(bo, f"/sshkey {bad}")
    assert "not an SSH public key" in reply.text
    assert await _stored_key(keyless, bo) is None


async def test_buying_without_a_key_asks_for_it_in_the_order_message_and_returns_to_that_order(
        keyless: Shopfront) -> None:
    cy = keyless.user("Cy")
    await _fund(keyless.db, cy, 1000)
    choices = await _choices(keyless, cy)
    order_id, pay = _order_id(choices), keyless.button(choices, "v1:pay:")["callback_data"]
    for _tap in range(2):  # pay from balance; a second tap on the old screen asks again
        reply = await keyless.forge_press(cy, choices.message_id, pay)
        assert not reply.get("show_alert")  # no alert saying "then tap again": a step of the flow
    prompt = await keyless.wait_text(cy, choices.message_id, "SSH public key")
    assert f"Order #{order_id}: Small VM" in prompt.text and "~/.ssh/id_ed25519.pub" in prompt.text
    assert [b["text"] for b in prompt.buttons] == ["✖ Cancel"]
    assert not any(m.invoice for m in keyless.emu.bot_messages(cy))  # nothing sold without a key
    assert await _holds(keyless.db, cy) == []

    before = len(keyless.emu.bot_messages(cy))
    await keyless.emu.send_text(cy, "hello")  # not a key: said so, still waiting
    await keyless.wait_reply(cy, choices.message_id, "not an SSH public key")
    await keyless.emu.send_text(cy, KEY)
    back = await keyless.wait_text(cy, choices.message_id, "SSH key saved")
    # The same order message, now with its pay buttons; the key itself got no other message.
    assert "How would you like to pay?" in back.text and f"Order #{order_id}" in back.text
    assert len(keyless.emu.bot_messages(cy)) == before + 1  # only the "not a key" answer was new
    assert await _stored_key(keyless, cy) == KEY
    await keyless.press(cy, choices.message_id, data=keyless.button(back, "v1:pay:")["callback_data"])
    confirm = await keyless.wait_text(cy, choices.message_id, "from your balance?")
    await keyless.press(cy, choices.message_id, data=keyless.button(confirm, "v1:ok:")["callback_data"])
    await keyless.wait_text(cy, choices.message_id, "Small VM")
    assert await _holds(keyless.db, cy) == [(400, "pending")]

    grid = SimulatedGrid(str(keyless.db_path.parent / "grid.sqlite3"), latency_s=0.0)
    keys: list[str] = []
    original = grid.deploy

    async def deploy(spec, name):  # type: ignore[no-untyped-def]
        keys.append(spec.ssh_key)
        return await original(spec, name)

    grid.deploy = deploy  # type: ignore[method-assign]
    worker = DeploymentWorker(
        keyless.db, grid, WorkerOptions.from_config(keyless.config),
        ssh_key_for=lambda uid: keyless.db.read(lambda conn: users.ssh_key(conn, uid)),
    )
    assert await worker.run_once() == 1
    assert keys == [KEY]
    await grid.aclose()


def _order_id(message: ChatMessage) -> int:
    return int(next(b for b in message.buttons if b["callback_data"].startswith("v1:pay:"))["callback_data"].split(":")[2])


async def test_the_key_step_from_stars_and_its_cancel_button(keyless: Shopfront) -> None:
    dot = keyless.user("Dot")
    choices = await _choices(keyless, dot)
    stars = next(b for b in choices.buttons if "Stars" in b["text"])
    await keyless.press(dot, choices.message_id, data=stars["callback_data"])
    prompt = await keyless.wait_text(dot, choices.message_id, "SSH public key")
    assert not any(m.invoice for m in keyless.emu.bot_messages(dot))
    await keyless.press(dot, choices.message_id, data=prompt.buttons[0]["callback_data"])
    await keyless.wait_text(dot, choices.message_id, "is cancelled")
    [order] = await keyless.db.orders(dot)
    assert order.state == "cancelled"
    # The chat no longer waits for a key: a text is just not understood.
    reply = await keyless.send(dot, "hello")
    assert "I did not get that" in reply.text


async def test_slash_cancel_during_the_key_step_cancels_that_order(keyless: Shopfront) -> None:
    eli = keyless.user("Eli")
    await _fund(keyless.db, eli, 1000)
    choices = await _choices(keyless, eli)
    order_id = _order_id(choices)
    await keyless.press(eli, choices.message_id, data=keyless.button(choices, "v1:pay:")["callback_data"])
    await keyless.wait_text(eli, choices.message_id, "SSH public key")
    reply = await keyless.send(eli, "/cancel")
    assert f"Order #{order_id} is cancelled" in reply.text
    await keyless.wait_text(eli, choices.message_id, "is cancelled")
    [order] = await keyless.db.orders(eli)
    assert order.state == "cancelled"


PRIVATE_KEYS = [
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAqsb4rNsfN0fUnTHQDoWWxVAZeZn4BZqm4XFPmjR6B2\n-----END PRIVATE KEY-----",
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQIc2VjcmV0a2V5\n",
    "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key\nPublic-Lines: 2\n"
    "AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO\nPrivate-Lines: 1\nAAAAIPrivPart",
    "/sshkey -----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
]


@pytest.mark.parametrize("private", PRIVATE_KEYS)
async def test_a_pasted_private_key_is_deleted_with_a_warning_and_never_kept(
        keyless: Shopfront, private: str, caplog: pytest.LogCaptureFixture) -> None:
    fay = keyless.user("Fay")
    await _fund(keyless.db, fay, 1000)
    choices = await _choices(keyless, fay)
    await keyless.press(fay, choices.message_id, data=keyless.button(choices, "v1:pay:")["callback_data"])
    await keyless.wait_text(fay, choices.message_id, "SSH public key")
    sent = await keyless.emu.send_text(fay, private)
    warning = await keyless.wait_reply(fay, choices.message_id, "PRIVATE key")
    assert "deleted your message" in warning.text and "compromised" in warning.text
    assert keyless.emu.world.messages[fay][sent["message_id"]].deleted
    assert keyless.emu.world.find_message(fay, sent["message_id"]) is None
    assert await _stored_key(keyless, fay) is None
    body = private.splitlines()[1] if "\n" in private else private.split()[-1]
    assert body not in caplog.text
    assert body.encode() not in (keyless.db_path.read_bytes() + _wal(keyless))
    # The key step still waits: the public key now brings the order back.
    await keyless.emu.send_text(fay, KEY)
    await keyless.wait_text(fay, choices.message_id, "SSH key saved")


def _wal(shop: Shopfront) -> bytes:
    wal = shop.db_path.with_name(shop.db_path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""
