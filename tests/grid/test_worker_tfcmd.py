"""A purchase on the tfcmd backend, against the fake tfcmd made from tfcmd's source: it deploys
and reports its connection details, renews, cancels; a grid error that prints the wallet
mnemonic never reaches the chat, the database or the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.logs import FORMAT, ScrubbingFormatter
from grid.periods import PeriodKeeper, cancel_deployment
from grid.worker import DeploymentWorker
from ledger import Ledger
from ledger import deployments as jobs
from tests.grid.fake_tfcmd import MNEMONIC
from tests.grid.tfcmd_support import Fake
from tests.grid.worker_support import buy, deployment, fund, messages, options


def worker(ledger: Ledger, fake: Fake, **overrides: object) -> DeploymentWorker:
    return DeploymentWorker(ledger, fake.deployer(), options(**overrides))


def leaks(text: str) -> bool:
    """Whether `text` holds the mnemonic, or any run of four of its words."""
    words = MNEMONIC.split()
    return any(" ".join(words[i:i + 4]) in text for i in range(len(words) - 3))


async def test_purchase_deploys_renews_and_cancels(ledger: Ledger, fake: Fake) -> None:
    await fund(ledger, 7, 10_000)
    purchase = await buy(ledger, 7, "vm-small")
    await worker(ledger, fake).run_once()

    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "ready" and dep.details["mycelium_ip"]
    assert len(fake.contracts(dep.name or "")) == 2  # network + vm
    texts = [text for text, _ in await messages(ledger, 7)]
    assert any(f"ssh root@{dep.details['mycelium_ip']}" in t for t in texts)

    renewed = await ledger.write(lambda conn, now: jobs.renew(
        conn, now, dep.id, commission_ppm=ledger.commission_ppm, user_id=7))
    assert renewed.expires_at and dep.expires_at and renewed.expires_at > dep.expires_at

    done = await cancel_deployment(ledger, fake.deployer(), dep.id, user_id=7)
    assert done.state == "cancelled" and fake.contracts(dep.name or "") == []


async def test_a_mnemonic_in_tfcmd_output_reaches_no_one(
    ledger: Ledger, fake: Fake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.set(fail="twin_lookup")  # grid-client: "failed to get twin for the given mnemonic/seed %s"
    await fund(ledger, 8, 10_000)
    purchase = await buy(ledger, 8, "vm-small")
    caplog.set_level(logging.DEBUG)
    slow = {"max_attempts": 3, "backoff_base_s": 3600, "backoff_max_s": 3600}
    for _ in range(3):  # each attempt fails; the last one's clean-up cancel fails the same way
        await worker(ledger, fake, **slow).run_once()
        await ledger.write(lambda conn, now: conn.execute(
            "UPDATE deployments SET next_attempt_at = 0"))
    assert (await deployment(ledger, purchase.deployment_id)).state == "queued"
    fake.set(fail="")  # the chain answers again: the clean-up cancel goes through
    await worker(ledger, fake, **slow).run_once()

    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "failed"
    assert dep.error == "the grid is busy"  # what the buyer reads
    assert dep.error_detail and "mnemonic/seed [redacted]" in dep.error_detail  # for admins
    for text, _ in await messages(ledger, 8):
        assert not leaks(text) and "mnemonic" not in text
    assert any("the grid is busy" in text for text, _ in await messages(ledger, 8))
    dump = "\n".join(await ledger.read(lambda conn: list(conn.iterdump())))
    assert not leaks(dump)
    formatter = ScrubbingFormatter(FORMAT)
    assert caplog.records and not any(leaks(formatter.format(r)) for r in caplog.records)
    assert (await ledger.balance(8)).available == 10_000  # refunded


def test_the_log_formatter_scrubs_tracebacks() -> None:
    try:
        raise RuntimeError(f"tfcmd said: mnemonic/seed '{MNEMONIC}' is invalid")
    except RuntimeError:
        record = logging.LogRecord("grid", logging.ERROR, __file__, 1, "deploy failed", None,
                                   exc_info=__import__("sys").exc_info())
    text = ScrubbingFormatter(FORMAT).format(record)
    assert "Traceback" in text and "[redacted]" in text and not leaks(text)


async def test_cancelling_a_queued_retry_cancels_its_contract(ledger: Ledger, fake: Fake) -> None:
    # attempt 1 leaves a contract (grid-client: "you must cancel it manually") and its clean-up
    # cancel fails: the job goes back to queued with a contract on the grid
    fake.set(fail="leave_contract", hang="cancel")
    await fund(ledger, 9, 10_000)
    purchase = await buy(ledger, 9, "vm-small")
    tf = fake.deployer(query_timeout_s=1)
    await DeploymentWorker(ledger, tf, options(max_attempts=3, backoff_base_s=3600,
                                               backoff_max_s=3600)).run_once()
    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "queued" and dep.attempts == 1 and fake.contracts(dep.name or "")

    fake.set(hang="")
    cancelled = await cancel_deployment(ledger, fake.deployer(), dep.id, user_id=9)
    assert cancelled.state == "cancelled"
    assert fake.contracts(dep.name or "") == []  # the leaked contract went through 'cancelling'
    assert (await ledger.balance(9)).available == 10_000
    report = await PeriodKeeper(ledger, fake.deployer(), options()).run_once()
    assert report.errors == []
