"""Chaos: three `gridshop run` processes on one PostgreSQL database, behind one proxy, while a
killer SIGKILLs one at random moments and starts it again.

The buyers set up their orders in the chat (Telegram webhook mode against the Bot API emulator,
on loopback): Stripe top-ups and buy-now VMs, and Stars payments. Then, with the killer running,
they pay: Stripe's signed events reach the shop through the proxy, held back a random moment
(so a refund may come before its completion), sometimes sent to two instances at once, and
replayed later in a random order; Stars payments come through Telegram's webhook. The VMs are
deployed on one simulated grid state file that all three instances share, as they would share
the real grid.

Once the killer stops and the instances settled (webhooks delivered, deployments done, the
outbox sent; a bounded wait): every paid order is credited exactly once with what was paid,
refunds taken back once, every bought VM deployed once (one contract on the grid per order, one
worker completing it), each user's balance is what a plain model of the payments says, the
outbox is drained with one receipt per payment, and `Ledger.audit` passes.

The run is seeded (printed; replay with GRIDSHOP_CHAOS_SEED=<seed>): the plan of orders,
payments, refunds, replays and kills comes from it, though the processes' timing does not.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import format_tfc
from ledger import Ledger
from sandbox.stripe_api import StripeEmulator
from sandbox.telegram_api import TelegramEmulator

from ..ledger.helpers import rows
from .test_runtime_stripe import (
    API_KEY,
    KEY,
    PAYLOAD_SECRET,
    ROOT,
    WEBHOOK_SECRET,
    choices_order,
    free_port,
    press,
    session_of,
    small_vm_choices,
    start_user,
    stripe_link,
    topup_choices,
)

SEED_ENV = "GRIDSHOP_CHAOS_SEED"
TELEGRAM_SECRET = "chaos-webhook-secret"
USERS = 10
INSTANCES = 3
SMALL_VM = 400  # cents
# How long the instances get to settle after the last kill: webhooks retried, dead instances'
# deployment jobs claimed, and the outbox messages a killed sender had claimed sent after
# their 60 s lease (payments.notifier.NotifierSettings.lease_s).
SETTLE_S = 100.0


# --- the plan ----------------------------------------------------------------------------------


@dataclass
class Order:
    """One order of the plan and what happened to it."""

    user: int
    kind: str  # "topup" or "purchase"
    provider: str  # "stripe" or "stars"
    amount: int  # credits (cents)
    refund: int = 0  # Stripe top-ups: how much the customer gets back at Stripe
    order_id: int = 0
    message_id: int = 0  # the order message
    session_id: str = ""  # Stripe
    invoice_id: int = 0  # Stars: the invoice message
    paid: bool = False  # what the outside world says: Stripe session paid, Stars invoice paid
    payment_intent: str = ""


@dataclass
class Chaos:
    seed: int
    log: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.log.append(line)


# --- the processes -----------------------------------------------------------------------------


def instance_config(folder: Path, *, port: int, pg_url: str, tg: TelegramEmulator, stripe_base: str,
                    proxy: str, grid_state: Path) -> Path:
    """The shipped config.toml for one instance: the shared database and grid state, webhook
    mode through the proxy, Stripe on; each instance its own folder (payment spool) and port."""
    text = (ROOT / "config.toml").read_text()
    changes = [
        (r'^path = "data/gridshop.db"$', 'path = "shop.db"'),
        (r'^url = ""$', f'url = "{pg_url}"'),
        (r"^port = 8080$", f"port = {port}"),
        (r'^api_base = "https://api.telegram.org"$', f'api_base = "{tg.url}"'),
        (r'^mode = "polling"$', 'mode = "webhook"'),
        (r'^webhook_url = ""$', f'webhook_url = "{proxy}/webhooks/telegram"'),
        (r"^rate_limit = true$", "rate_limit = false"),
        (r"^enabled = false$", "enabled = true"),  # the first one is [stripe]'s
        (r'^api_base = "https://api.stripe.com"$', f'api_base = "{stripe_base}"'),
        (r'^ssh_key = ""$', f'ssh_key = "{KEY}"'),
        (r"^sim_latency_s = 3.0$", "sim_latency_s = 0.5"),
        (r'^# sim_state_path = .*$', f'sim_state_path = "{grid_state}"'),
    ]
    for pattern, replacement in changes:
        text, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        assert n == 1, f"config.toml has no line matching {pattern}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gridshop.toml"
    path.write_text(text)
    return path


class Instance:
    """One `gridshop run` process, started again after each kill with the same config."""

    def __init__(self, name: str, config: Path, port: int, env: dict[str, str]) -> None:
        self.name, self.config, self.port, self.env = name, config, port, env
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = config.parent / "stderr.log"
        self.kills = 0

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- start (after {self.kills} kills)\n".encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(self.config), "run",
                env=self.env, stdout=subprocess.DEVNULL, stderr=log)

    async def kill(self) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def healthy(self, http: aiohttp.ClientSession) -> bool:
        try:
            async with http.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def stop(self) -> int:
        """SIGTERM and the exit status."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 60)

    def log_tail(self, lines: int = 40) -> str:
        """The end of its log, without the Stripe SDK's request lines and ignored events."""
        text = [line for line in self.log_path.read_text(errors="replace").splitlines()
                if " INFO stripe: " not in line and "ignored event type" not in line]
        return "\n".join(text[-lines:])


class Proxy:
    """The reverse proxy in front of the instances: each request goes to a live instance picked
    at random (one refusing the connection is skipped, as a proxy's health check would). Stripe
    events are held back a random moment (some for 1.5-3 s, so a refund may overtake its
    payment's completion) and one in four is also sent to a second instance at the same time
    (a redelivery racing the first); so is one Telegram payment in four."""

    def __init__(self, ports: list[int], rng: random.Random) -> None:
        self.ports = ports
        self.rng = rng
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stripe_order: list[tuple[str, str]] = []  # (event type, payment intent) as forwarded
        self._late: dict[str, bool] = {}  # event id -> held back long
        self._copies: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        app = web.Application()
        app.router.add_post("/{path:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        for task in self._copies:
            task.cancel()
        await asyncio.gather(*self._copies, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "stripe-signature", "x-telegram-bot-api-secret-token")}
        stripe = request.path == "/webhooks/stripe"
        if stripe:
            event = json.loads(body)
            await asyncio.sleep(self._hold_s(event))
            self.stripe_order.append((event["type"], str(event["data"]["object"].get("payment_intent"))))
        order = self.rng.sample(self.ports, len(self.ports))
        if (stripe or b'"successful_payment"' in body) and self.rng.random() < 0.25:
            copy = asyncio.create_task(self._forward(order[1:] + order[:1], request.path, body, headers))
            self._copies.add(copy)
            copy.add_done_callback(self._copies.discard)
        status, answer = await self._forward(order, request.path, body, headers)
        return web.Response(status=status, body=answer)

    def _hold_s(self, event: dict[str, Any]) -> float:
        """How long to hold a Stripe event back: a moment, or for some events (and every copy
        of them) 1.5-3 s; completions more often, so that refunds overtake them."""
        if event["id"] not in self._late:
            odds = 0.4 if event["type"] == "checkout.session.completed" else 0.1
            self._late[event["id"]] = self.rng.random() < odds
        return self.rng.uniform(1.5, 3.0) if self._late[event["id"]] else self.rng.uniform(0.0, 1.0)

    def refunds_first(self) -> int:
        """How many payments had a refund event reach the shop before their completion did."""
        seen: set[str] = set()
        overtaken = set()
        for kind, intent in self.stripe_order:
            if kind == "checkout.session.completed":
                seen.add(intent)
            elif kind == "charge.refunded" and intent not in seen:
                overtaken.add(intent)
        return len(overtaken)

    async def _forward(self, ports: list[int], path: str, body: bytes,
                       headers: dict[str, str]) -> tuple[int, bytes]:
        assert self._http is not None
        for port in ports:
            try:
                async with self._http.post(f"http://127.0.0.1:{port}{path}", data=body,
                                           headers=headers) as resp:
                    return resp.status, await resp.read()
            except aiohttp.ClientConnectorError:
                continue  # not listening (killed, or starting): the next one
            except (aiohttp.ClientError, OSError, TimeoutError):
                return 502, b""  # died while answering: the sender retries
        return 502, b""


# --- the chat before the chaos -----------------------------------------------------------------


async def set_up_orders(tg: TelegramEmulator, stripe: StripeEmulator, user_orders: list[Order],
                        name: str) -> None:
    """Through the chat: each of the user's orders made and shown with its way to pay (a
    Checkout Session, or a Stars invoice)."""
    user, last = await start_user(tg, name)
    for order in user_orders:
        order.user = user
        if order.kind == "topup":
            choices = await topup_choices(tg, user, last, order.amount)
        else:
            choices = await small_vm_choices(tg, user, last)
        order.message_id = choices
        if order.provider == "stripe":
            order.order_id, _ = await stripe_link(tg, user, choices)
            order.session_id = session_of(stripe, order.order_id)["id"]
        else:
            order.order_id = choices_order(tg, user, choices)
            await press(tg, user, choices, "Stars")
            invoice = await tg.wait_for(lambda: (m := tg.last_bot_message(user)) is not None
                                        and m.invoice is not None and m, timeout=20)
            order.invoice_id = invoice.message_id
        last = tg.bot_messages(user)[-1].message_id


def plan_orders(rng: random.Random) -> list[list[Order]]:
    """Per user: a Stripe top-up (some refunded, fully or in part), a Stripe buy-now VM, and
    one Stars payment (a top-up or a VM)."""
    presets = [500, 1000, 2500, 5000]
    plan = []
    for _ in range(USERS):
        amount = rng.choice(presets)
        refund = rng.choice([0, amount, amount // 2])
        stars_kind = rng.choice(["topup", "purchase"])
        plan.append([
            Order(0, "topup", "stripe", amount, refund=refund),
            Order(0, "purchase", "stripe", SMALL_VM),
            Order(0, stars_kind, "stars", rng.choice(presets) if stars_kind == "topup" else SMALL_VM),
        ])
    return plan


# --- the chaos ---------------------------------------------------------------------------------


async def killer(instances: list[Instance], rng: random.Random, stop: asyncio.Event, chaos: Chaos) -> None:
    """SIGKILL a random instance every 0.5-2 s and start it again a moment later."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(0.5, 2.0))
            return
        except TimeoutError:
            pass
        victim = rng.choice(instances)
        await victim.kill()
        chaos.note(f"{loop.time() - started:6.2f}s killed {victim.name}")
        await asyncio.sleep(rng.uniform(0.1, 0.8))
        await victim.start()


async def pay(order: Order, tg: TelegramEmulator, stripe: StripeEmulator, rng: random.Random,
              chaos: Chaos) -> None:
    if order.provider == "stars":
        result = await tg.pay_invoice(order.user, order.invoice_id)
        order.paid = result.paid
        chaos.note(f"order {order.order_id}: Stars {result.status}")
        return
    session = stripe.pay_session(order.session_id)
    order.paid, order.payment_intent = True, session["payment_intent"]
    if order.refund:
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        stripe.refund_payment(order.payment_intent, order.refund)
        chaos.note(f"order {order.order_id}: Stripe paid, {order.refund} refunded")


async def gather_paced(jobs: list[Callable[[], Awaitable[None]]], rng: random.Random, gap_s: float) -> None:
    """Start each job a random moment after the previous one; wait for them all."""
    tasks = []
    for job in jobs:
        tasks.append(asyncio.create_task(job()))
        await asyncio.sleep(rng.uniform(0.0, gap_s))
    await asyncio.gather(*tasks)


# --- what must hold at the end -----------------------------------------------------------------


def grid_contracts(grid_state: Path) -> dict[str, tuple[int, int]]:
    """Per grid name: (contracts ever created, contracts live now)."""
    conn = sqlite3.connect(grid_state)
    try:
        return {name: (created, live) for name, created, live in conn.execute(
            "SELECT name, count(*), sum(state != 'cancelled') FROM contracts GROUP BY name")}
    finally:
        conn.close()


READY_LINE = re.compile(r"grid\.worker: deployment (\d+) ready as ")


def completions(instances: list[Instance]) -> dict[int, int]:
    """How many times each deployment was completed, by the workers' "ready" log lines of
    every instance and every run of it (a worker killed before it logged never completed)."""
    counted: dict[int, int] = {}
    for instance in instances:
        for found in READY_LINE.finditer(instance.log_path.read_text(errors="replace")):
            counted[int(found.group(1))] = counted.get(int(found.group(1)), 0) + 1
    return counted


def problems(orders: list[Order], pg_url: str, grid_state: Path, tg: TelegramEmulator,
             stripe: StripeEmulator, instances: list[Instance]) -> list[str]:
    """Everything that differs from what the plan says the shop must show; empty when settled."""
    found: list[str] = []
    assert stripe.deliverer is not None
    if stripe.deliverer.pending:
        found.append(f"{stripe.deliverer.pending} Stripe deliveries pending")
    if tg.pending_updates():
        found.append(f"{len(tg.pending_updates())} Telegram updates pending")
    payments: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows(pg_url, "SELECT order_id, provider, external_id, amount, refunded FROM payments"):
        payments.setdefault(row[0], []).append(row)
    deployments: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows(pg_url, "SELECT order_id, name, state, id FROM deployments"):
        deployments.setdefault(row[0], []).append(row)
    contracts = grid_contracts(grid_state)
    completed = completions(instances)
    by_id = {o.order_id: o for o in orders}
    for order in orders:
        got = payments.get(order.order_id, [])
        if not order.paid:
            if got:
                found.append(f"order {order.order_id} was not paid but credited: {got}")
            continue
        if len(got) != 1:
            found.append(f"order {order.order_id} ({order.provider} {order.kind}) paid once, "
                         f"credited {len(got)} times: {got}")
            continue
        _, provider, _, amount, refunded = got[0]
        if (provider, amount, refunded) != (order.provider, order.amount, order.refund):
            found.append(f"order {order.order_id}: credited {(provider, amount, refunded)}, "
                         f"expected {(order.provider, order.amount, order.refund)}")
        if order.kind == "purchase":
            deps = deployments.get(order.order_id, [])
            if [d[2] for d in deps] != ["ready"]:
                found.append(f"order {order.order_id}: deployments {deps}, expected one ready")
            elif contracts.get(deps[0][1]) != (1, 1):
                found.append(f"order {order.order_id}: grid contracts (created, live) of "
                             f"{deps[0][1]} are {contracts.get(deps[0][1])}, expected (1, 1)")
            elif completed.get(deps[0][3], 0) > 1:
                found.append(f"order {order.order_id}: deployment {deps[0][3]} completed "
                             f"{completed[deps[0][3]]} times (by more than one worker)")
    strays = set(payments) - {o.order_id for o in orders if o.paid}
    if strays:
        found.append(f"payments for orders nobody paid: {[payments[s] for s in strays]}")
    names = {d[1] for deps in deployments.values() for d in deps}
    if set(contracts) - names:
        found.append(f"grid contracts of no deployment: {set(contracts) - names}")
    if set(deployments) - {o.order_id for o in orders if o.kind == "purchase"}:
        found.append(f"deployments of orders that are not purchases: {set(deployments) - set(by_id)}")
    outbox = dict(rows(pg_url, "SELECT state, count(*) FROM notifications GROUP BY state"))
    if set(outbox) - {"sent"}:
        found.append(f"outbox not drained: {outbox}")
    receipts = dict(rows(pg_url, "SELECT key, count(*) FROM notifications WHERE key LIKE 'receipt:%' GROUP BY key"))
    found += chat_problems(orders, tg, receipts, payments)
    return found


def chat_problems(orders: list[Order], tg: TelegramEmulator, receipts: dict[str, int],
                  payments: dict[int, list[tuple[Any, ...]]]) -> list[str]:
    """What the buyers see: one receipt per paid top-up (its order message), each VM's
    connection details in its order message and no second message with them, one refund
    message per refund."""
    found = []
    for order in orders:
        if not order.paid or len(payments.get(order.order_id, [])) != 1:
            continue
        texts_now = [m.text or "" for m in tg.bot_messages(order.user)]
        shown = next(m.text or "" for m in tg.bot_messages(order.user) if m.message_id == order.message_id)
        if order.kind == "topup":
            _, provider, external_id, _, _ = payments[order.order_id][0]
            if receipts.get(f"receipt:{provider}:{external_id}") != 1:
                found.append(f"order {order.order_id}: receipts queued "
                             f"{receipts.get(f'receipt:{provider}:{external_id}')}, expected 1")
            receipt = f"Top-up #{order.order_id}: {format_tfc(order.amount)} of credits, paid with"
            if receipt not in shown or sum(receipt in t for t in texts_now) != 1:
                found.append(f"order {order.order_id}: the receipt shows in "
                             f"{sum(receipt in t for t in texts_now)} messages; the order message says {shown!r}")
        elif "ssh root@" not in shown:
            found.append(f"order {order.order_id}: the order message says {shown!r}, not the VM's details")
        if order.refund:
            refunds = sum("Refund" in t and f"#{order.order_id}" in t for t in texts_now)
            if refunds != 1:
                found.append(f"order {order.order_id}: {refunds} refund messages, expected 1")
    for user in {o.user for o in orders}:
        vms = sum(o.paid and o.kind == "purchase" for o in orders if o.user == user)
        details = sum("ssh root@" in (m.text or "") for m in tg.bot_messages(user))
        if details != vms:
            found.append(f"user {user}: {details} messages with a VM's details for {vms} VMs bought")
    return found


def expected_balance(orders: list[Order], user: int) -> int:
    """The plain model: what was paid for top-ups, less what Stripe refunded; a VM bought
    outright costs what was paid for it, so it leaves nothing."""
    return sum(o.amount - o.refund for o in orders if o.user == user and o.paid and o.kind == "topup")


# --- the test ----------------------------------------------------------------------------------


async def test_three_instances_killed_at_random_lose_and_double_nothing(tmp_path: Path, pg_url: str) -> None:
    seed = int(os.environ.get(SEED_ENV) or random.randrange(2**32))
    print(f"chaos seed {seed} (replay: {SEED_ENV}={seed})")
    chaos = Chaos(seed)
    plan_rng, kill_rng, pay_rng = (random.Random(f"{seed}:{part}") for part in ("plan", "kill", "pay"))

    tg = TelegramEmulator(rate_limit=False, webhook_retry_initial=0.05, webhook_retry_max=0.5)
    await tg.start()
    ports = [free_port() for _ in range(INSTANCES)]
    proxy = Proxy(ports, random.Random(f"{seed}:proxy"))
    await proxy.start()
    stripe = StripeEmulator(webhook_url=f"{proxy.url}/webhooks/stripe", webhook_secret=WEBHOOK_SECRET,
                            api_key=API_KEY, retry_schedule=(0.2, 0.5, 1.0, 2.0, 3.0, 5.0),
                            max_concurrency=6, duplicate_deliveries=True, reorder=True,
                            seed=plan_rng.randrange(2**32))
    stripe_base = (await stripe.start()).rstrip("/")
    grid_state = tmp_path / "grid.sqlite3"
    env = dict(os.environ, BOT_TOKEN=tg.token, PAYLOAD_SECRET=PAYLOAD_SECRET,
               TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET, STRIPE_SECRET_KEY=API_KEY,
               STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    instances = [
        Instance(f"i{n}", instance_config(tmp_path / f"i{n}", port=port, pg_url=pg_url, tg=tg,
                                          stripe_base=stripe_base, proxy=proxy.url, grid_state=grid_state),
                 port, env)
        for n, port in enumerate(ports)]
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    killed = asyncio.Event()
    try:
        for instance in instances:
            await instance.start()
        await wait_until(lambda: all_healthy(instances, http), 60, "the instances never all answered /healthz")
        await tg.wait_for(lambda: tg.webhook_url == f"{proxy.url}/webhooks/telegram", timeout=30)

        plan = plan_orders(plan_rng)
        await asyncio.gather(*(set_up_orders(tg, stripe, user_orders, f"Buyer{n}")
                               for n, user_orders in enumerate(plan)))
        orders = [o for user_orders in plan for o in user_orders]
        pay_rng.shuffle(orders)

        kills = asyncio.create_task(killer(instances, kill_rng, killed, chaos))
        await gather_paced([lambda o=o: pay(o, tg, stripe, pay_rng, chaos) for o in orders], pay_rng, 0.6)
        # Stripe's events again, in a random order, some more than once.
        events = stripe.events()
        for event in pay_rng.sample(events, len(events) // 2) + pay_rng.sample(events, len(events) // 4):
            stripe.redeliver(event["id"], delay=pay_rng.uniform(0.0, 3.0))
        await asyncio.sleep(4.0)
        killed.set()
        await kills
        for instance in instances:
            if not instance.running:
                await instance.start()
        chaos.note(f"kills: {sum(i.kills for i in instances)}; paid: {sum(o.paid for o in orders)} "
                   f"of {len(orders)} orders; refunds before their completion: {proxy.refunds_first()}")

        # Settled: everything the plan says, within a bounded time.
        left: list[str] = []

        async def settled() -> bool:
            nonlocal left
            left = await asyncio.to_thread(problems, orders, pg_url, grid_state, tg, stripe, instances)
            return not left

        try:
            await wait_until(settled, SETTLE_S, "")
        except AssertionError:
            raise AssertionError(f"seed {seed}: not settled after {SETTLE_S:.0f} s:\n"
                                 + "\n".join(left)) from None

        print(chaos.log[-1])
        statuses = [await instance.stop() for instance in instances]
        assert statuses == [0] * INSTANCES, (statuses, [i.log_tail() for i in instances])
        ledger = await Ledger.open(pg_url)
        try:
            audit = await ledger.audit()
            assert audit.ok, (seed, audit.violations)
            for user in {o.user for o in orders}:
                balance = await ledger.balance(user)
                assert (balance.posted, balance.held) == (expected_balance(orders, user), 0), (seed, user)
        finally:
            await ledger.close()
    except BaseException:
        print(f"seed {seed}", *chaos.log, sep="\n")
        for instance in instances:
            print(f"--- {instance.name} (exit status {instance.proc and instance.proc.returncode})\n"
                  f"{instance.log_tail()}")
        raise
    finally:
        killed.set()
        for instance in instances:
            if instance.running:
                await instance.kill()
        await http.close()
        await stripe.stop()
        await proxy.stop()
        await tg.stop()


async def all_healthy(instances: list[Instance], http: aiohttp.ClientSession) -> bool:
    assert all(i.running for i in instances), "an instance stopped at its start"
    return all([await instance.healthy(http) for instance in instances])


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float, message: str) -> None:
    """Wait for `condition` (a state to reach, not a time to meet: the machine may be loaded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, message
        await asyncio.sleep(0.5)

