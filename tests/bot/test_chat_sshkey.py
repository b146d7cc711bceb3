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
    "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA",
])
async def test_a_bad_key_is_refused_and_nothing_is_stored(keyless: Shopfront, bad: str) -> None:
    bo = keyless.user("Bo")
    reply = await keyless.send(bo, f"/sshkey {bad}")
    assert "not an SSH public key" in reply.text
    assert "PRIVATE" not in reply.text  # a pasted private key is never echoed back
    assert await _stored_key(keyless, bo) is None


async def test_buying_without_a_key_asks_for_one_and_charges_nothing(keyless: Shopfront) -> None:
    cy = keyless.user("Cy")
    await _fund(keyless.db, cy, 1000)
    choices = await _choices(keyless, cy)
    for prefix in ("v1:pay:",):  # pay from balance
        query = await keyless.emu.press_button(cy, choices.message_id,
                                               data=keyless.button(choices, prefix)["callback_data"])
        reply = await keyless.emu.wait_for(lambda q=query: keyless.emu.callback_answer(q["id"]))
        assert "needs your SSH public key" in reply["text"] and reply["show_alert"]
    stars = next(b for b in choices.buttons if "Stars" in b["text"])
    query = await keyless.emu.press_button(cy, choices.message_id, data=stars["callback_data"])
    reply = await keyless.emu.wait_for(lambda: keyless.emu.callback_answer(query["id"]))
    assert "/sshkey" in reply["text"]
    assert not any(m.invoice for m in keyless.emu.bot_messages(cy))  # no invoice was sent
    assert await _holds(keyless.db, cy) == []
    assert (await keyless.db.balance(cy)).available == 1000

    # With a key the same buttons work, and the VM gets that key.
    await keyless.send(cy, f"/sshkey {KEY}")
    await keyless.press(cy, choices.message_id, data=keyless.button(choices, "v1:pay:")["callback_data"])
    confirm = await keyless.wait_text(cy, choices.message_id, "from your balance?")
    await keyless.press(cy, choices.message_id, data=keyless.button(confirm, "v1:ok:")["callback_data"])
    await keyless.wait_text(cy, choices.message_id, "Bought Small VM")
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
