"""Contract reconciliation against the fake tfcmd (the chain and its lagging indexer) and the
sandbox gridproxy serving the same contracts, both made from tfgrid-sdk-go v0.15.14."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from grid.deployer import VmSpec
from grid.errors import TransientGridError
from grid.gridproxy import GridProxyClient
from grid.reconcile import VANISHED_GRACE_S, ContractReconciler
from grid.worker import DeploymentWorker
from handlers import admin_texts
from ledger import Ledger, shop_meta
from ledger import deployments as jobs
from ledger import stats as shop_stats
from sandbox.gridproxy import make_app
from tests.grid.tfcmd_support import Fake
from tests.grid.worker_support import KEY, buy, deployment, fund, messages, options

ADMIN = 900


@pytest.fixture
async def proxy(fake: Fake) -> AsyncIterator[GridProxyClient]:
    server = TestServer(make_app(contracts_file=str(fake.state_path)))
    await server.start_server()
    async with GridProxyClient(str(server.make_url("")), twin_id=192) as client:
        yield client
    await server.close()


def reconciler(ledger: Ledger, fake: Fake, proxy: GridProxyClient, **kwargs: object) -> ContractReconciler:
    return ContractReconciler(ledger, fake.deployer(), proxy, admin_ids=[ADMIN], **kwargs)  # type: ignore[arg-type]


async def ready_vm(ledger: Ledger, fake: Fake, user_id: int) -> jobs.DeploymentRecord:
    await fund(ledger, user_id, 10_000)
    purchase = await buy(ledger, user_id, "vm-small")
    await DeploymentWorker(ledger, fake.deployer(), options()).run_once()
    dep = await deployment(ledger, purchase.deployment_id)
    assert dep.state == "ready"
    return dep


async def test_lagging_contracts_left_by_a_timed_out_deploy_are_cancelled(
    ledger: Ledger, fake: Fake, proxy: GridProxyClient
) -> None:
    shop = await ledger.write(lambda conn, now: shop_meta.shop_id(conn))
    name = jobs.deployment_name(77, "gs", shop)  # no deployment has it: left by a crash
    fake.set(hang="deploy", index_lag="3")
    with pytest.raises(TransientGridError, match="timed out"):
        await fake.deployer(timeout_s=1.0).deploy(VmSpec(1, 1, 2, 0, KEY), name)
    fake.set(hang="")
    assert len(fake.contracts(name)) == 2  # the clean-up cancel found nothing in the indexer
    assert (await reconciler(ledger, fake, proxy).run_once()).orphans == {}  # not indexed yet
    fake.advance(3)

    first = await reconciler(ledger, fake, proxy).run_once()
    assert set(first.orphans) == {name} and first.cancelled == [name]
    assert fake.contracts(name) == []  # gone on the chain...
    assert first.gone == []  # ...but gridproxy still lists them: not done yet
    admin = [text for text, _ in await messages(ledger, ADMIN)]
    assert any("bill the shop's wallet" in t and name in t for t in admin)

    second = await reconciler(ledger, fake, proxy).run_once()  # the indexer still lags
    assert second.cancelled == [name]  # retried
    fake.advance(3)
    third = await reconciler(ledger, fake, proxy).run_once()
    assert third.orphans == {} and sorted(third.gone) == sorted(first.orphans[name])
    assert any("are cancelled" in t for t, _ in await messages(ledger, ADMIN))


async def test_failed_or_cancelled_deployments_contracts_are_orphans(
    ledger: Ledger, fake: Fake, proxy: GridProxyClient
) -> None:
    dep = await ready_vm(ledger, fake, 11)
    # the shop believes it cancelled, but the indexer had not listed the contracts
    await ledger.write(lambda conn, now: conn.execute(
        "UPDATE deployments SET state = 'cancelled' WHERE id = ?", (dep.id,)))
    dry = await reconciler(ledger, fake, proxy).run_once(dry_run=True)
    assert set(dry.orphans) == {dep.name} and dry.cancelled == []
    assert len(fake.contracts(dep.name or "")) == 2  # a dry run cancels nothing
    report = await reconciler(ledger, fake, proxy).run_once()
    assert report.cancelled == [dep.name] and fake.contracts(dep.name or "") == []


async def test_two_shops_on_one_login_never_touch_each_other(
    ledger: Ledger, fake: Fake, proxy: GridProxyClient, tmp_path: Path
) -> None:
    mine = await ready_vm(ledger, fake, 12)
    async with await Ledger.open(tmp_path / "other-shop.db") as other:
        theirs = await ready_vm(other, fake, 12)  # deployment #1 in both shops
        assert mine.id == theirs.id and mine.name != theirs.name
        assert fake.contracts(mine.name or "") and fake.contracts(theirs.name or "")
        report = await reconciler(ledger, fake, proxy).run_once()
        assert report.orphans == {} and report.cancelled == []
        await ledger.write(lambda conn, now: conn.execute(
            "UPDATE deployments SET state = 'failed' WHERE id = ?", (mine.id,)))
        report = await reconciler(ledger, fake, proxy).run_once()
        assert report.cancelled == [mine.name]
        assert len(fake.contracts(theirs.name or "")) == 2  # the other shop's VM is untouched
        assert (await reconciler(other, fake, proxy).run_once()).cancelled == []


async def test_a_ready_vm_whose_contracts_vanished_is_flagged(
    ledger: Ledger, fake: Fake, proxy: GridProxyClient
) -> None:
    dep = await ready_vm(ledger, fake, 13)
    assert (await reconciler(ledger, fake, proxy).run_once()).vanished == []
    await fake.deployer().cancel(dep.name or "")  # cancelled behind the shop's back
    fake.advance()  # the indexer sees it
    assert (await reconciler(ledger, fake, proxy).run_once()).vanished == []  # within the grace
    later = reconciler(ledger, fake, proxy, clock=lambda: ledger.now() + VANISHED_GRACE_S + 60)
    assert (await later.run_once()).vanished == [dep.id]
    assert (await later.run_once()).vanished == [dep.id]  # still gone, but told only once
    user = [t for t, _ in await messages(ledger, 13) if "no longer shows" in t]
    admin = [t for t, _ in await messages(ledger, ADMIN) if f"#{dep.id}" in t]
    assert len(user) == 1 and len(admin) == 1


async def test_contract_ids_and_grid_cost_are_recorded(
    ledger: Ledger, fake: Fake, proxy: GridProxyClient
) -> None:
    dep = await ready_vm(ledger, fake, 14)
    network, vm = sorted(fake.contracts(dep.name or ""))
    fake.bill(network, 1_000)
    fake.bill(vm, 52_000)
    fake.bill(vm, 52_500)
    report = await reconciler(ledger, fake, proxy).run_once()
    assert report.costs == {dep.id: 105_500}
    again = await deployment(ledger, dep.id)
    assert again.contract_ids == [network, vm] and again.grid_cost == 105_500

    # /stats and /user: the grid's cost against what the buyer paid
    fake.bill(vm, 2_000_000_000)  # 200 TFT more; at 0.01 USD per TFT, 2.00 TFC
    await reconciler(ledger, fake, proxy).run_once()
    figures = await ledger.read(lambda conn: shop_stats.collect(conn, 0, ledger.now() + 1))
    assert (figures.grid_cost, figures.grid_sold) == (2_000_105_500, 400)
    text = admin_texts.stats(figures, 30, Decimal("0.01"))
    assert "Grid cost: 200.0106 TFT ≈ 2.01 TFC · sold 4.00 TFC · margin +1.99 TFC" in text
    assert "set grid.tft_price" in admin_texts.stats(figures, 30)


def test_gridshop_grid_reconcile_by_hand(fake: Fake, tmp_path: Path) -> None:
    import asyncio
    import io
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from bot.cli import main

    db = tmp_path / "shop.db"

    async def seed() -> str:
        async with await Ledger.open(db) as ledger:
            return await ledger.write(lambda conn, now: shop_meta.shop_id(conn))

    name = jobs.deployment_name(55, "gs", asyncio.run(seed()))
    key = tmp_path / "k.pub"
    key.write_text(KEY)
    subprocess.run([str(fake.path), "deploy", "vm", "--name", name, "--ssh", str(key), "--node", "5"],
                   check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = subprocess.Popen([sys.executable, "-m", "sandbox.gridproxy", "--port", str(port),
                              "--contracts-file", str(fake.state_path)],
                             cwd=Path(__file__).resolve().parents[2],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        config = tmp_path / "gridshop.toml"
        config.write_text(f'[database]\npath = "{db}"\n[grid]\nbackend = "tfcmd"\n'
                          f'tfcmd_path = "{fake.path}"\ngridproxy_url = "http://127.0.0.1:{port}"\n')
        out = io.StringIO()
        assert main(["--config", str(config), "grid", "reconcile", "--dry-run"], out=out) == 0
        assert f"orphan {name}" in out.getvalue() and "would cancel" in out.getvalue()
        assert len(fake.contracts(name)) == 2
        out = io.StringIO()
        assert main(["--config", str(config), "grid", "reconcile"], out=out) == 0
        assert "cancelled" in out.getvalue() and fake.contracts(name) == []
    finally:
        proxy.terminate()
        proxy.wait(timeout=5)

    simulated = tmp_path / "sim.toml"
    simulated.write_text(f'[database]\npath = "{db}"\n')
    assert main(["--config", str(simulated), "grid", "reconcile"], out=io.StringIO()) == 2
